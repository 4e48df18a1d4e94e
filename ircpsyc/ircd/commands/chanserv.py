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

from ircpsyc.ircd.client import Client
from ircpsyc.ircd.commands.account import ServiceUser, to_service
from ircpsyc.ircd.core import IRCServer, PersonObserver, command
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services import chanserv as CS
from ircpsyc.services.accounts import Accounts
from ircpsyc.services.registrations import ChannelRegistrations


def install(
    core: IRCServer, registrations: ChannelRegistrations, accounts: Accounts
) -> CS.ChanServ:
    """Run ChanServ in `core` and recreate the registered channels; returns the entity."""
    chanserv = CS.ChanServ(
        core.router,
        core.name,
        core.places,
        registrations,
        accounts,
        core.clock,
        lambda: core.config.services,
    )
    chanserv.home = lambda channel: _home(core, channel)
    core.router.register(chanserv)
    core.service_users[casefold(CS.NICK)] = ServiceUser(
        core, CS.NICK, CS.USER, CS.HOST, CS.REALNAME, chanserv.uniform
    )
    core.places.observers.append(chanserv)
    core.person_observers.append(_LoginModes(chanserv))
    accounts.dropped.append(chanserv.account_dropped)
    chanserv.start()
    return chanserv


def _home(core: IRCServer, channel: str) -> str:
    """The server a channel lives on (this one unless servers are linked)."""
    if core.net is None or channel[1:8].lower() == "psyc://":
        return core.name
    from ircpsyc.psyc_backend.network import host_of

    return host_of(core.net.place_uniform(channel)) or core.name


class _LoginModes(PersonObserver):
    """A member who logs in gets the mode of its access level at once."""

    def __init__(self, chanserv: CS.ChanServ) -> None:
        self.chanserv = chanserv

    def account_changed(self, client: Client, old_account: str) -> None:
        if client.account and client.channels:
            self.chanserv.sync_account(client.uniform, list(client.channels))


# CS <command> [<parameters>]   (also CHANSERV): PRIVMSG ChanServ without the typing
@command("CS", min_params=1)
def handle_cs(s: Session, msg: Line) -> None:
    _to_chanserv(s, " ".join(msg.params))


@command("CHANSERV", min_params=1)
def handle_chanserv(s: Session, msg: Line) -> None:
    _to_chanserv(s, " ".join(msg.params))


def _to_chanserv(s: Session, text: str) -> None:
    to_service(s, CS.NICK, text)
