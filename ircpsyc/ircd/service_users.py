"""Services as IRC users see them: the NickServ and ChanServ pseudo-users, logins.

- `ServiceUser` is a service's nick (WHOIS, ISON, a nick nobody can take);
  `Presence` tells NickServ who uses which nick with which account (nick
  protection); `LoginModes` gives a member who logs in its ChanServ mode.
- `set_account` is the one place an account changes: 900/901, account-notify
  (`ACCOUNT`), and `_notice_person_update` to the person's places (so
  account-tag and extended-join carry it).
- `from_service` carries out what NickServ asks of a person (login, logout,
  forced rename, GHOST); the composition root (ircpsyc.assemble) makes it the
  front-end's `service_requests`.
- `to_service` is `NS ...`/`CS ...`: PRIVMSG to the service without the typing.

The commands are in `ircpsyc.ircd.commands.account` and `.chanserv`.
"""

from __future__ import annotations

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client, notify_peers
from ircpsyc.ircd.core import IRCServer, PersonObserver
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.names import guest_nick
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, normalize, person
from ircpsyc.services import chanserv as CS
from ircpsyc.services import nickserv as NS


class ServiceUser(Person):
    """A service as IRC users see it: a nick with no connection, found by WHOIS and ISON."""

    __slots__ = ()

    def __init__(
        self, core: IRCServer, nick: str, user: str, host: str, realname: str, uniform: str
    ) -> None:
        super().__init__(core.persons, uniform, nick, user, host, realname, "0.0.0.0", core.clock())


def registration_cap(core: IRCServer) -> str:
    settings = core.config.services
    flags = ["custom-account-name"]
    if settings.registration_before_connect:
        flags.append("before-connect")
    if settings.registration_email_required:
        flags.append("email-required")
    return ",".join(sorted(flags))


class Presence(PersonObserver):
    """Keeps NickServ told who uses which nick with which account."""

    def __init__(self, core: IRCServer, service: str) -> None:
        self.core = core
        self.service = service

    def _send(self, method: str, source: str, vars: dict[str, Value]) -> None:
        self.core.router.send(Packet(method, {V.SOURCE: source, V.TARGET: self.service}, vars))

    def _present(self, client: Client) -> None:
        self._send(NS.PRESENT, client.uniform, {V.NICK: client.nick, V.ACCOUNT: client.account})

    def person_online(self, client: Client) -> None:
        self._present(client)

    def person_renamed(self, client: Client, old_nick: str) -> None:
        self._send(NS.ABSENT, person(self.core.name, old_nick), {V.NICK: old_nick})
        self._present(client)

    def person_offline(self, client: Client) -> None:
        self._send(NS.ABSENT, client.uniform, {V.NICK: client.nick})

    def account_changed(self, client: Client, old_account: str) -> None:
        self._present(client)


# -- logging in and out


def set_account(client: Client, account: str) -> None:
    """Log a person in to `account` ("" logs out) and tell everybody who should know."""
    old = client.account
    for session in client.sessions:
        if account:
            session.numeric(
                N.RPL_LOGGEDIN, client.prefix, account, f"You are now logged in as {account}"
            )
        elif old:
            session.numeric(N.RPL_LOGGEDOUT, client.prefix, "You are now logged out")
    if account == old:
        return
    client.account = account
    client.core.persons.account_changed(client, old)
    for view in list(client.channels.values()):
        client.request(V.NOTICE_PERSON_UPDATE, view.uniform, {V.ACCOUNT: account})
    data = line(client.prefix, "ACCOUNT", account or "*")
    for session in client.sessions:
        if C.ACCOUNT_NOTIFY in session.caps:
            session.send(data)
    notify_peers(client, "ACCOUNT", account or "*", cap=C.ACCOUNT_NOTIFY)
    for observer in client.core.person_observers:
        observer.account_changed(client, old)


def login_session(s: Session, account: str) -> None:
    """A SASL or REGISTER success on connection `s`, before or after registration."""
    if s.client is not None:
        set_account(s.client, account)
        return
    s.account = account
    mask = f"{s.nick or '*'}!{s.user or '*'}@{s.host}"
    s.numeric(N.RPL_LOGGEDIN, mask, account, f"You are now logged in as {account}")


def from_service(client: Client, packet: Packet) -> None:
    """Do what NickServ asks of this person (and nothing anybody else asks)."""
    core = client.core
    service = core.nickserv
    if service is None or normalize(packet.source) != normalize(service.uniform):
        return
    method = packet.method
    if method == NS.LOGIN:
        set_account(client, packet.get(V.ACCOUNT))
    elif method == NS.LOGOUT:
        wanted = packet.get(V.ACCOUNT)
        if client.account and (not wanted or casefold(wanted) == casefold(client.account)):
            set_account(client, "")
    elif method == NS.RENAME:
        if casefold(packet.get(V.NICK)) != casefold(client.nick):
            return
        owner = packet.get(V.ACCOUNT)
        if not client.sessions:
            if not owner:  # RECOVER of an always-on person with no connection: it quits
                client.directory.let_go(client)
                client.quit("Nick recovered by its owner")
            return
        if owner and casefold(owner) == casefold(client.account):
            return  # logged in to the nick's account in time
        new = packet.get(V.NICK_NEW)
        if new and core.nick_taken(new, client.session):
            return
        new = new or guest_nick(core, client.session)
        if new and new != client.nick:
            client.rename(new)
    elif method == NS.DISCONNECT:
        if casefold(packet.get(V.NICK)) != casefold(client.nick):
            return
        reason = packet.get(V.REASON) or "Disconnected by services"
        client.directory.let_go(client)  # GHOST ends an always-on person too
        if not client.sessions:
            client.quit(reason)
        for session in list(client.sessions):
            session.close(reason)


# -- NS and CS: PRIVMSG to a service without the typing


def to_service(s: Session, nick: str, text: str) -> None:
    """`NS ...`/`CS ...`: the same packet as PRIVMSG to the service would be."""
    client = s.client
    assert client is not None
    service = s.core.service_users.get(casefold(nick))
    if service is None:
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    vars: dict[str, Value] = {
        V.NICK: client.nick,
        V.PREFIX: client.prefix,
        V.NICK_TARGET: nick,
        V.ID: new_id(),
        V.TIME: str(int(s.core.clock() * 1000)),
        V.IP: client.ip,
        V.CERTFP: s.certfp,
    }
    if client.account:
        vars[V.ACCOUNT] = client.account
    routing = {V.SOURCE: client.uniform, V.TARGET: service.uniform}
    s.core.router.send(Packet(V.MESSAGE_PRIVATE, routing, vars, text))


# -- ChanServ


def channel_home(core: IRCServer, channel: str) -> str:
    """The server a channel lives on (this one unless servers are linked)."""
    if channel[1:8].lower() == "psyc://":
        return core.name
    return host_of(core.net.place_uniform(channel)) or core.name


class LoginModes(PersonObserver):
    """A member who logs in gets the mode of its access level at once."""

    def __init__(self, chanserv: CS.ChanServ) -> None:
        self.chanserv = chanserv

    def account_changed(self, client: Client, old_account: str) -> None:
        if client.account and client.channels:
            self.chanserv.sync_account(client.uniform, list(client.channels))
