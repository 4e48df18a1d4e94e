"""Accounts at the IRC front-end: NickServ as a nick, logins, and account-registration.

- `install` puts the account service into an `IRCServer`: the NickServ entity
  on the router, the `NickServ` pseudo-user (WHOIS, ISON, a nick nobody can
  take), the `sasl` and `draft/account-registration` capabilities, and the
  observer that tells NickServ who uses which nick (nick protection).
- `set_account` is the one place an account changes: 900/901, account-notify
  (`ACCOUNT`), and `_notice_person_update` to the person's places (so
  account-tag and extended-join carry it).
- `from_service` carries out what NickServ asks of a person (login, logout,
  forced rename, GHOST).
- Commands: `NS`/`NICKSERV` (an alias for PRIVMSG NickServ), and the IRCv3
  `draft/account-registration` REGISTER and VERIFY.

With server linking, `install` also attaches the `$accounts` entity
(ircpsyc.services.account_sync) to the network: registrations and changes are
decided by each account's home server, and every server holds all accounts.
"""

from __future__ import annotations

import random

from irctokens.line import Line

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.commands.query import notify_peers
from ircpsyc.ircd.commands.registration import valid_nick
from ircpsyc.ircd.commands.sasl import MECHANISMS
from ircpsyc.ircd.core import IRCServer, PersonObserver, command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, normalize, person
from ircpsyc.services import nickserv as NS
from ircpsyc.services.accounts import (
    Account,
    AccountError,
    Accounts,
    Credentials,
    password_problem,
    register_refusal,
    valid_email,
    weak_password,
)
from ircpsyc.services.hash_queue import Work


class ServiceUser(Client):
    """A service as IRC users see it: a nick with no connection, found by WHOIS and ISON."""

    __slots__ = ()

    def __init__(
        self, core: IRCServer, nick: str, user: str, host: str, realname: str, uniform: str
    ) -> None:
        self._init_detached(core, uniform, nick, user, host, realname, "0.0.0.0", core.clock())


def install(core: IRCServer, accounts: Accounts) -> NS.NickServ:
    """Run the account service in `core`; returns the NickServ entity."""
    nickserv = NS.NickServ(
        core.router, core.name, accounts, core.clock, lambda: core.config.services
    )
    core.router.register(nickserv)
    core.router.register(nickserv.sync)  # psyc://SERVER/$accounts
    core.tickers.append(nickserv.sync.tick)
    net = core.net
    if net is not None:  # accounts are decided by their home server, held by all
        nickserv.sync.attach(net.network)
        nickserv.elsewhere = lambda folded: [
            p.nick for p in net.persons() if p.account and casefold(p.account) == folded
        ]
    core.accounts = accounts
    core.nickserv = nickserv
    core.service_users[casefold(NS.NICK)] = ServiceUser(
        core, NS.NICK, NS.USER, NS.HOST, NS.REALNAME, nickserv.uniform
    )
    core.person_observers.append(_Presence(core, nickserv.uniform))
    core.tickers.append(lambda now: nickserv.tick())
    core.extra_caps[C.SASL] = lambda: ",".join(MECHANISMS)
    core.extra_caps[C.ACCOUNT_REGISTRATION] = lambda: _registration_cap(core)
    return nickserv


def _registration_cap(core: IRCServer) -> str:
    settings = core.config.services
    flags = ["custom-account-name"]
    if settings.registration_before_connect:
        flags.append("before-connect")
    if settings.registration_email_required:
        flags.append("email-required")
    return ",".join(sorted(flags))


class _Presence(PersonObserver):
    """Keeps NickServ told who uses which nick with which account."""

    def __init__(self, core: IRCServer, service: str) -> None:
        self.core = core
        self.service = service

    def _send(self, method: str, source: str, vars: dict[str, Value]) -> None:
        self.core.router.send(Packet(method, {"_source": source, "_target": self.service}, vars))

    def _present(self, client: Client) -> None:
        self._send(NS.PRESENT, client.uniform, {"_nick": client.nick, "_account": client.account})

    def person_online(self, client: Client) -> None:
        self._present(client)

    def person_renamed(self, client: Client, old_nick: str) -> None:
        self._send(NS.ABSENT, person(self.core.name, old_nick), {"_nick": old_nick})
        self._present(client)

    def person_offline(self, client: Client) -> None:
        self._send(NS.ABSENT, client.uniform, {"_nick": client.nick})

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
    for view in list(client.channels.values()):
        client.request("_notice_person_update", view.uniform, {"_account": account})
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


def guest_nick(core: IRCServer, by: Session) -> str:
    """A free nick like Guest12345."""
    nicklen = core.config.limits.nicklen
    prefix = core.config.services.guest_prefix[: max(1, nicklen - 5)]
    digits = 5
    for attempt in range(200):
        if attempt and attempt % 50 == 0:
            digits += 1
        nick = f"{prefix}{random.randrange(10 ** (digits - 1), 10**digits)}"[:nicklen]
        if valid_nick(nick, nicklen) and not core.nick_taken(nick, by):
            return nick
    return ""


def from_service(client: Client, packet: Packet) -> None:
    """Do what NickServ asks of this person (and nothing anybody else asks)."""
    core = client.core
    service = core.nickserv
    if service is None or normalize(packet.source) != normalize(service.uniform):
        return
    method = packet.method
    if method == NS.LOGIN:
        set_account(client, packet.get("_account"))
    elif method == NS.LOGOUT:
        wanted = packet.get("_account")
        if client.account and (not wanted or casefold(wanted) == casefold(client.account)):
            set_account(client, "")
    elif method == NS.RENAME:
        if casefold(packet.get("_nick")) != casefold(client.nick) or not client.sessions:
            return
        owner = packet.get("_account")
        if owner and casefold(owner) == casefold(client.account):
            return  # logged in to the nick's account in time
        new = packet.get("_nick_new")
        if new and core.nick_taken(new, client.session):
            return
        new = new or guest_nick(core, client.session)
        if new and new != client.nick:
            client.rename(new)
    elif method == NS.DISCONNECT:
        if casefold(packet.get("_nick")) != casefold(client.nick):
            return
        reason = packet.get("_reason") or "Disconnected by services"
        for session in list(client.sessions):
            session.close(reason)


# -- commands


# NS <command> [<parameters>]   (also NICKSERV): PRIVMSG NickServ without the typing
@command("NS", min_params=1)
def handle_ns(s: Session, msg: Line) -> None:
    _to_nickserv(s, " ".join(msg.params))


@command("NICKSERV", min_params=1)
def handle_nickserv(s: Session, msg: Line) -> None:
    _to_nickserv(s, " ".join(msg.params))


def _to_nickserv(s: Session, text: str) -> None:
    to_service(s, NS.NICK, text)


def to_service(s: Session, nick: str, text: str) -> None:
    """`NS ...`/`CS ...`: the same packet as PRIVMSG to the service would be."""
    client = s.client
    assert client is not None
    service = s.core.service_users.get(casefold(nick))
    if service is None:
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    vars: dict[str, Value] = {
        "_nick": client.nick,
        "_prefix": client.prefix,
        "_nick_target": nick,
        "_id": new_id(),
        "_time": str(int(s.core.clock() * 1000)),
        "_ip": client.ip,
        "_certfp": s.certfp,
    }
    if client.account:
        vars["_account"] = client.account
    routing = {"_source": client.uniform, "_target": service.uniform}
    s.core.router.send(Packet("_message_private", routing, vars, text))


def _register_fail(s: Session, code: str, account: str, text: str) -> None:
    s.fail("REGISTER", code, account or "*", text)


# REGISTER <account> {<email> | *} <password>   (IRCv3 draft/account-registration)
@command("REGISTER", min_params=3, pre_registration=True)
def handle_register(s: Session, msg: Line) -> None:
    core = s.core
    wanted, email, password = msg.params[0], msg.params[1], msg.params[2]
    accounts = core.accounts
    settings = core.config.services
    if accounts is None:
        _register_fail(s, "TEMPORARILY_UNAVAILABLE", wanted, "Accounts are not available")
        return
    if not s.registered and not settings.registration_before_connect:
        _register_fail(
            s, "COMPLETE_CONNECTION_REQUIRED", wanted, "Finish connecting before registering"
        )
        return
    current = s.client.account if s.client is not None else s.account
    if current:
        _register_fail(s, "ALREADY_AUTHENTICATED", current, "You are already logged in")
        return
    # `REGISTER *` names the account after the nick, or the one just refused (433): that
    # nick's holder then keeps it (ACCOUNT_EXISTS below), so nobody grabs a nick in use.
    name = (s.nick or s.nick_refused) if wanted == "*" else wanted
    if not name:
        _register_fail(s, "NEED_NICK", "*", "Choose a nick first, or name the account")
        return
    folded = casefold(name)
    if not valid_nick(name, core.config.limits.nicklen) or folded in core.service_users:
        _register_fail(s, "BAD_ACCOUNT_NAME", name, "That account name is not allowed")
        return
    email = "" if email == "*" else email
    if (email and not valid_email(email)) or (not email and settings.registration_email_required):
        _register_fail(s, "INVALID_EMAIL", name, "A valid e-mail address is required")
        return
    problem = password_problem(password)
    if problem:
        _register_fail(s, "UNACCEPTABLE_PASSWORD", name, problem)
        return
    weak = weak_password(password, name, settings.password_min_length)
    if weak:
        _register_fail(s, "WEAK_PASSWORD", name, weak)
        return
    holder = core.clients.get(folded) or (core.net.find(name) if core.net is not None else None)
    pending = core.reserved.get(folded)
    taken = holder is not None and holder is not s.client
    if taken or (pending is not None and pending is not s):
        _register_fail(s, "ACCOUNT_EXISTS", name, "Somebody else is using that nick")
        return
    try:
        accounts.reserve(name)
    except AccountError as error:
        _register_fail(s, error.code, name, error.text)
        return
    wait = accounts.register_limiter.take(s.ip, core.clock())  # before the slow hash
    if wait:
        accounts.release(name)
        _register_fail(s, "TEMPORARILY_UNAVAILABLE", name, register_refusal(wait))
        return

    def created(result: Account | AccountError) -> None:
        if isinstance(result, AccountError):
            _register_fail(s, result.code, name, result.text)
            return
        if s.closed:
            return
        accounts.limiter.remember(result.name, s.ip, core.clock())
        s.reply("REGISTER", "SUCCESS", result.name, "Account created")
        login_session(s, result.name)

    def done(credentials: Credentials | None) -> None:
        if credentials is None:
            accounts.release(name)
            _register_fail(s, "TEMPORARILY_UNAVAILABLE", name, "Please try again later")
            return
        assert core.nickserv is not None
        # The account's home may be another server: the input waits for its answer
        # too, so a CAP END sent meanwhile finds the account made (or refused).
        answer = s.later()
        core.nickserv.sync.register(
            name, credentials, email, lambda result: answer(lambda: created(result))
        )

    def job() -> Credentials | None:
        try:
            return accounts.make_credentials(password)
        except Exception:
            return None

    if not core.offload([s], job, done, Work.HASH):
        accounts.release(name)
        accounts.register_limiter.untake(s.ip)
        _register_fail(s, "TEMPORARILY_UNAVAILABLE", name, NS.BUSY)


# VERIFY <account> <code>
@command("VERIFY", min_params=2, pre_registration=True)
def handle_verify(s: Session, msg: Line) -> None:
    s.fail("VERIFY", "INVALID_CODE", msg.params[0], "No verification is pending: none is needed")
