"""IRC command handlers, one per command, registered in `ircpsyc.ircd.core.COMMANDS`."""

import ircpsyc.ircd.commands.account
import ircpsyc.ircd.commands.awaylog
import ircpsyc.ircd.commands.channel
import ircpsyc.ircd.commands.chanserv
import ircpsyc.ircd.commands.chathistory
import ircpsyc.ircd.commands.info
import ircpsyc.ircd.commands.isupport
import ircpsyc.ircd.commands.links
import ircpsyc.ircd.commands.messaging
import ircpsyc.ircd.commands.metadata
import ircpsyc.ircd.commands.moderation
import ircpsyc.ircd.commands.monitor
import ircpsyc.ircd.commands.multiline
import ircpsyc.ircd.commands.oper
import ircpsyc.ircd.commands.query
import ircpsyc.ircd.commands.readmarker
import ircpsyc.ircd.commands.redact
import ircpsyc.ircd.commands.registration
import ircpsyc.ircd.commands.rename
import ircpsyc.ircd.commands.sasl
import ircpsyc.ircd.commands.webirc
import ircpsyc.ircd.commands.xlines  # noqa: F401
