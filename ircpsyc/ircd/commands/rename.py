"""RENAME (draft/channel-rename): give a channel a new name, keeping everything.

The handler checks what this server can see (the channel, the form of the new
name, a channel of that name known here) and asks the place
(`_request_rename`); the place, at the channel's home, decides (channel
operators, IRC operators with the override privilege, only the founder for a
registered channel: `ircpsyc.channels.place.Place._rename` and ChanServ) and
casts the rename to every member on every server, where each client renders
RENAME, or PART and JOIN without the capability (`Client._on_rename`).  For
`RENAME_REDIRECT` seconds a JOIN of the old name is told the new one
(`ircpsyc.ircd.commands.channel.renamed_redirect`).
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.moderation import override_vars
from ircpsyc.ircd.names import valid_channel
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Value
from ircpsyc.psyc_backend.uniform import casefold

CMD = "RENAME"


# RENAME <channel> <new channel> [<reason>]
@command(CMD, min_params=2)
def handle_rename(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    old, new = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 else ""
    core = s.core
    view = client.channels.get(casefold(old))
    override = override_vars(s)
    if view is not None:
        old, uniform = view.name, view.uniform
    else:
        known = core.places.get(old) or core.net.directory.get(old)
        if known is None:
            s.numeric(N.ERR_NOSUCHCHANNEL, old, "No such channel")
            return
        if not override:
            s.numeric(N.ERR_NOTONCHANNEL, old, "You're not on that channel")
            return
        # An operator may rename a channel it is not in, seen here or in the directory.
        old, uniform = known.name, core.net.place_uniform(known.name)
    if old[1:8].lower() == "psyc://":
        s.fail(CMD, "CANNOT_RENAME", old, new, "Channels on other PSYC servers cannot be renamed")
        return
    if not valid_channel(new, core.config.limits.channellen):
        s.fail(CMD, "CANNOT_RENAME", old, new, "Illegal channel name")
        return
    if casefold(new) != casefold(old) and (
        core.places.get(new) is not None or core.net.directory.get(new) is not None
    ):
        s.fail(CMD, "CHANNEL_NAME_IN_USE", old, new, "The channel name is already taken")
        return
    vars: dict[str, Value] = {
        V.NICK_PLACE_NEW: new,
        V.REASON: reason,
        V.PREFIX: client.prefix,
        **override,
    }
    if client.account:
        vars[V.ACCOUNT] = client.account
    client.request(V.REQUEST_RENAME, uniform, vars)
