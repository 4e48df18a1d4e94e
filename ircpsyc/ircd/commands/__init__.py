"""IRC command handlers, one per command, registered in `ircpsyc.ircd.core.COMMANDS`."""

from ircpsyc.ircd.commands import channel, info, messaging, oper, query, registration

__all__ = ["channel", "info", "messaging", "oper", "query", "registration"]
