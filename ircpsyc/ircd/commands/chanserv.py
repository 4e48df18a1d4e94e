"""Channel registration at the IRC front-end: ChanServ as a nick, and the CS command.

- `install` puts ChanServ into an `IRCServer`: the entity on the router, the
  `ChanServ` pseudo-user (WHOIS, ISON, a nick nobody can take), its place
  hooks, a person observer that gives members their access modes when they
  log in, and NickServ DROP handing a founder's channels on.  It recreates
  the registered channels, so call it before the listeners open.
- Commands: `CS`/`CHANSERV`, aliases for PRIVMSG ChanServ.
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
