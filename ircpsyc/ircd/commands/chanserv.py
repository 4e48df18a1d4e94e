"""CS <command> [<parameters>] (also CHANSERV): PRIVMSG ChanServ without the typing.

ChanServ's pseudo-user and its hooks are `ircpsyc.ircd.service_users`; the
composition root (`ircpsyc.assemble.install_chanserv`) builds and wires it.
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd.core import command
from ircpsyc.ircd.service_users import to_service
from ircpsyc.ircd.session import Session
from ircpsyc.services import chanserv as CS


# CS <command> [<parameters>]   (also CHANSERV): PRIVMSG ChanServ without the typing
@command("CS", "CHANSERV", min_params=1)
def handle_chanserv(s: Session, msg: Line) -> None:
    to_service(s, CS.NICK, " ".join(msg.params))
