"""NickServ: the account service as a PSYC entity, `psyc://SERVER/$nickserv`.

People talk to it with `_message_private` packets (an IRC front-end maps
`PRIVMSG NickServ` and the `NS` command to them) and it answers with
`_message_private_notice`.  It never touches a front-end's objects: what it
wants done to a person it asks with a packet to that person's uniform, and the
front-end that owns the person does it:

    _notice_account_login   {_account}         you are now logged in as _account
    _notice_account_logout  {_account}         you are logged out (if still _account)
    _request_person_rename  {_nick, _nick_new, _account}
                                               if your nick is still _nick (and you are
                                               not logged in to _account, when given),
                                               change it to _nick_new (a guest nick if empty)
    _request_person_disconnect {_nick, _reason}
                                               GHOST: end your sessions

Front-ends keep it informed of who uses which nick with which account:

    _notice_person_present  {_nick, _account}  on sign-on, nick change and login/logout
    _notice_person_absent   {}                 on sign-off, and for the old nick on a change

from which it runs nick protection: a registered nick used by somebody not
logged in to its account gets a notice, and after `[services] nick_grace`
seconds a rename request.  Time comes from the injected clock, checked by
`tick()`, so tests need no sleeping.

Checking a password costs tens of milliseconds (argon2), so it goes through
`offload(uniform, job, done, kind, source)`: the composition root queues `job`
fairly per source address (ircpsyc.services.hash_queue), runs it in a thread and
calls `done(result)` back on the event loop (holding the person's input
meanwhile), or returns False when that address has too much queued already; the
default runs it inline, which is what sans-IO tests use.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import casefold, key_of, person, service
from ircpsyc.services.account_sync import AccountSync
from ircpsyc.services.accounts import (
    Account,
    AccountError,
    Accounts,
    Credentials,
    normalize_fingerprint,
    password_problem,
    register_refusal,
    valid_email,
    weak_password,
)
from ircpsyc.services.always_on import AlwaysOnService
from ircpsyc.services.common import SERVICES_HOST, CommandSpec, Request, Service, fmt_time
from ircpsyc.services.hash_queue import Work

if TYPE_CHECKING:
    from ircpsyc.config import ServicesSection

log = logging.getLogger(__name__)

# Packets between NickServ and the front-ends (see the module docstring).
LOGIN = V.NOTICE_ACCOUNT_LOGIN
LOGOUT = V.NOTICE_ACCOUNT_LOGOUT
RENAME = V.REQUEST_PERSON_RENAME
DISCONNECT = V.REQUEST_PERSON_DISCONNECT
PRESENT = V.NOTICE_PERSON_PRESENT
ABSENT = V.NOTICE_PERSON_ABSENT

NICK = "NickServ"
USER = "NickServ"
HOST = SERVICES_HOST
REALNAME = "Nickname and account services"
TOO_MANY = "Too many failed login attempts; try again later."

BUSY = "Too many password checks from your address at once; try again in a moment."


class Offload(Protocol):
    """Runs slow password work for the person `uniform`, queued as `source`'s (an
    address); False, and `done` never called, when that source has too much queued."""

    def __call__(
        self,
        uniform: str,
        job: Callable[[], Any],
        done: Callable[[Any], None],
        kind: Work = Work.HASH,
        source: str = "",
    ) -> bool: ...


def inline_offload(
    uniform: str,
    job: Callable[[], Any],
    done: Callable[[Any], None],
    kind: Work = Work.HASH,
    source: str = "",
) -> bool:
    """Run the job now (sans-IO tests, tools)."""
    done(job())
    return True


def service_uniform(host: str) -> str:
    return service(host, "nickserv")


@dataclass(slots=True)
class Presence:
    uniform: str
    nick: str
    account: str


@dataclass(slots=True)
class Pending:
    """A registered nick in use by someone not logged in to its account."""

    uniform: str
    nick: str
    account: str
    deadline: float


class NickServ(Service):
    """The account service entity."""

    NICK = NICK
    INTRO = f"{NICK} lets you register an account and protect your nick."
    SHORT = "/NS <command>"
    WIDTH = 9

    def __init__(
        self,
        router: Router,
        host: str,
        accounts: Accounts,
        clock: Callable[[], float],
        settings: Callable[[], ServicesSection],
    ) -> None:
        super().__init__(router, host, service_uniform(host), f"{NICK}!{USER}@{HOST}", clock)
        self.accounts = accounts
        self.settings = settings
        self.offload: Offload = inline_offload
        # Normalized person uniform -> presence, of those logged in or pending only.
        self.presence: dict[str, Presence] = {}
        self.pending: dict[str, Pending] = {}  # normalized person uniform -> enforcement
        # Every change goes through the `$accounts` entity: decided here, or by the
        # account's home server in a network (ircpsyc.services.account_sync).
        self.sync = AccountSync(router, host, accounts, clock, settings)
        # Nicks of the persons on other servers logged in to a (casefolded) account.
        self.elsewhere: Callable[[str], list[str]] = lambda folded: []
        # Always-on persons (SET ALWAYS-ON), once installed (ircpsyc.assemble).
        self.always_on: AlwaysOnService | None = None
        accounts.dropped.append(self._account_gone)
        accounts.replaced.append(self._account_replaced)

    # -- packets in

    def receive(self, packet: Packet) -> None:
        method = packet.method
        if method == V.MESSAGE_PRIVATE:
            self.command(packet)
        elif method == PRESENT:
            self._present(packet)
        elif method == ABSENT:
            key = key_of(packet.source)
            self.presence.pop(key, None)
            self.pending.pop(key, None)
        # Notices, TAGMSGs, errors and echoes are never answered.

    # -- packets out

    def _tell(self, uniform: str, method: str, vars: dict[str, Value]) -> None:
        self.router.send(Packet(method, {V.SOURCE: self.uniform, V.TARGET: uniform}, vars))

    def still_there(self, request: Request) -> bool:
        """The person who asked is still the one under that uniform (after offloaded work)."""
        return request.entity is not None and self.router.lookup(request.source) is request.entity

    def login(self, request: Request, account: Account) -> None:
        self._tell(request.source, LOGIN, {V.ACCOUNT: account.name})

    def _run(
        self,
        request: Request,
        job: Callable[[], Any],
        done: Callable[[Any], None],
        kind: Work = Work.HASH,
    ) -> bool:
        """Offload slow work; `done` gets the job's result, or None if it raised.  False
        (and the person told so) when the person's address has too much queued."""

        def safe() -> Any:
            try:
                return job()
            except Exception:
                log.exception("NickServ: offloaded work failed")
                return None

        if self.offload(request.source, safe, done, kind, request.ip or request.source):
            return True
        self.notice(request, BUSY)
        return False

    # -- nick protection

    def _present(self, packet: Packet) -> None:
        key = key_of(packet.source)  # not cached: once per sign-on or change
        nick, account = packet.get(V.NICK), packet.get(V.ACCOUNT)
        owner = self.accounts.get(nick)
        if owner is None or not owner.enforce or casefold(account) == owner.folded:
            self.pending.pop(key, None)
            # Only the logged-in (`sessions_of`) and those asked to log in (`tick`) are
            # looked up: the others cost no entry (an idle connection's bytes, issue 16).
            if account:
                self.presence[key] = Presence(packet.source, nick, account)
            else:
                self.presence.pop(key, None)
            return
        self.presence[key] = Presence(packet.source, nick, account)
        current = self.pending.get(key)
        if current is not None and casefold(current.nick) == casefold(nick):
            return  # already asked, the clock keeps running
        grace = self.settings().nick_grace
        self.pending[key] = Pending(packet.source, nick, owner.name, self.clock() + grace)
        self.send_notice(
            packet.source,
            nick,
            f"The nick {nick} is registered. If it is yours, log in with "
            f"/msg {NICK} IDENTIFY <password> within {grace:g} seconds, or you will be "
            "renamed to a guest nick; otherwise please choose another nick.",
        )

    def tick(self, now: float | None = None) -> None:
        """Rename those whose grace time ran out; forget old login failures."""
        now = self.clock() if now is None else now
        self.accounts.limiter.prune(now)
        self.accounts.register_limiter.prune(now)
        for key, pending in list(self.pending.items()):
            if pending.deadline > now:
                continue
            del self.pending[key]
            owner = self.accounts.get(pending.nick)
            presence = self.presence.get(key)
            if (
                owner is None
                or not owner.enforce
                or presence is None
                or casefold(presence.nick) != casefold(pending.nick)
                or casefold(presence.account) == owner.folded
            ):
                continue
            self.send_notice(
                pending.uniform,
                pending.nick,
                f"You did not log in to {owner.name} in time; you are being renamed.",
            )
            self._tell(pending.uniform, RENAME, {V.NICK: pending.nick, V.ACCOUNT: owner.name})

    def sessions_of(self, account: str) -> list[Presence]:
        folded = casefold(account)
        return [p for p in self.presence.values() if p.account and casefold(p.account) == folded]

    def _account_gone(self, account: Account) -> None:
        """An account was dropped (here, or by its home server): its users here are
        logged out and nobody is renamed for its nick any more."""
        self._log_out(account)

    def _account_replaced(self, account: Account) -> None:
        """Another registration of the name took this one's place (servers that were
        apart both had it): who was logged in to this one is not its owner."""
        for presence in self.sessions_of(account.name):
            self.send_notice(
                presence.uniform,
                presence.nick,
                f"The account {account.name} was also registered on another server of the "
                "network, earlier; that registration keeps the name. You have been logged out.",
            )
        self._log_out(account)

    def _log_out(self, account: Account) -> None:
        for presence in self.sessions_of(account.name):
            self._tell(presence.uniform, LOGOUT, {V.ACCOUNT: account.name})
        for key, pending in list(self.pending.items()):
            if casefold(pending.account) == account.folded:
                del self.pending[key]

    # -- commands

    def cmd_register(self, request: Request) -> None:
        if request.account:
            self.notice(request, f"You are already logged in as {request.account}.")
            return
        password = request.args[0]
        email = request.args[1] if len(request.args) > 1 else ""
        name = request.nick
        problem = password_problem(password) or weak_password(
            password, name, self.settings().password_min_length
        )
        if problem:
            self.notice(request, problem)
            return
        if email and not valid_email(email):
            self.notice(request, f"{email} is not a valid e-mail address.")
            return
        if not email and self.settings().registration_email_required:
            self.notice(request, "An e-mail address is required: REGISTER <password> <email>")
            return
        self.accounts.reserve(name)
        # Each registration costs a slow hash: a few per address and hour.
        key = request.ip if request.ip not in ("", "0.0.0.0", "255.255.255.255") else request.source
        wait = self.accounts.register_limiter.take(key, self.clock())
        if wait:
            self.accounts.release(name)
            self.notice(request, register_refusal(wait))
            return

        def created(result: Account | AccountError) -> None:
            if isinstance(result, AccountError):
                self.notice(request, result.text)
                return
            self.notice(request, "Account created")
            self.accounts.limiter.remember(result.name, request.ip, self.clock())
            if self.still_there(request):
                self.login(request, result)
                self.notice(request, f"You are now logged in as {result.name}.")

        def done(credentials: Credentials | None) -> None:
            if credentials is None:
                self.accounts.release(name)
                self.notice(request, "Registration failed, please try again later.")
                return
            self.sync.register(name, credentials, email, created)

        if not self._run(request, lambda: self.accounts.make_credentials(password), done):
            self.accounts.release(name)
            self.accounts.register_limiter.untake(key)

    def _with_password(
        self,
        request: Request,
        account: Account | None,
        password: str,
        then: Callable[[], None],
        failure: str = "Invalid account credentials.",
        name: str = "",
    ) -> None:
        """Check `password` for `account` (rate limited, off the loop), then call `then`.
        No account (`name` has none): the same count, the same slow check (against a
        dummy hash) and the same failure, so unknown names tell nothing apart, not
        even by how long the answer takes."""
        limiter = self.accounts.limiter
        certified = account is not None and bool(request.certfp) and request.certfp in account.certs
        who = account.name if account is not None else name
        attempt = limiter.begin(who, request.ip, self.clock(), certified)
        if attempt is None:
            self.notice(request, TOO_MANY)
            return

        def done(ok: bool | None) -> None:
            limiter.finish(attempt, bool(ok), self.clock())
            if not ok or account is None:
                self.notice(request, failure)
                return
            if self.accounts.get(account.name) is not account:
                self.notice(request, f"The account {account.name} no longer exists.")
                return
            then()

        if not self._run(request, self.accounts.check_job(account, password), done, Work.VERIFY):
            limiter.cancel(attempt)

    def cmd_identify(self, request: Request) -> None:
        if len(request.args) >= 2:
            name, password = request.args[0], request.args[1]
        else:
            name, password = request.nick, request.args[0]
        account = self.accounts.get(name)
        if account is None:
            self._with_password(request, None, password, lambda: None, name=name)
            return
        if request.account and casefold(request.account) == account.folded:
            self.notice(request, f"You are already logged in as {account.name}.")
            return

        def then() -> None:
            if self.still_there(request):
                self.login(request, account)
                self.notice(request, f"You are now logged in as {account.name}.")
                self._reclaim_nick(request, account)

        self._with_password(request, account, password, then)

    def _reclaim_nick(self, request: Request, account: Account) -> None:
        """After a login, a guest nick (given when a SASL login failed or the grace
        time ran out) goes back to the account's own nick, or says how to get it."""
        nick = casefold(request.nick)
        if nick == account.folded or not nick.startswith(casefold(self.settings().guest_prefix)):
            return
        if self.router.lookup(person(self.host, account.name)) is not None:
            self.notice(
                request,
                f"Your nick {account.name} is in use; /msg {NICK} RECOVER {account.name} "
                "takes it back.",
            )
            return
        self.notice(request, f"Taking back your nick {account.name}.")  # before our uniform changes
        self._tell(request.source, RENAME, {V.NICK: request.nick, V.NICK_NEW: account.name})

    def cmd_logout(self, request: Request) -> None:
        if not request.account:
            self.notice(request, "You are not logged in.")
            return
        self._tell(request.source, LOGOUT, {V.ACCOUNT: request.account})
        self.notice(request, "You are now logged out.")

    def _take_back(self, request: Request, recover: bool) -> None:
        verb = "RECOVER" if recover else "GHOST"
        nick = request.args[0]
        password = request.args[1] if len(request.args) > 1 else ""
        if casefold(nick) == casefold(request.nick):
            self.notice(request, f"You cannot {verb} yourself.")
            return
        target = person(self.host, nick)
        if self.router.lookup(target) is None:
            self.notice(request, f"{nick} is not online.")
            return
        account = self.accounts.get(nick)
        if account is None:
            self.notice(request, f"{nick} is not a registered nick.")
            return

        def act(log_in: bool) -> None:
            if self.router.lookup(target) is None:
                self.notice(request, f"{nick} is not online any more.")
                return
            if not self.still_there(request):
                return
            if log_in and casefold(request.account) != account.folded:
                self.login(request, account)
                self.notice(request, f"You are now logged in as {account.name}.")
            if recover:
                self.send_notice(
                    target,
                    nick,
                    f"{request.nick} used RECOVER: the nick {nick} belongs to their account "
                    f"{account.name}, so you are being renamed.",
                )
                self._tell(target, RENAME, {V.NICK: nick})
                self.notice(request, f"{nick} has been recovered.")  # before our uniform changes
                self._tell(request.source, RENAME, {V.NICK: request.nick, V.NICK_NEW: nick})
            else:
                self._tell(
                    target,
                    DISCONNECT,
                    {V.NICK: nick, V.REASON: f"GHOST command used by {request.nick}"},
                )
                self.notice(request, f"{nick} has been ghosted.")

        if request.account and casefold(request.account) == account.folded:
            act(False)
        elif password:
            self._with_password(request, account, password, lambda: act(True))
        else:
            self.notice(
                request,
                f"Access denied: log in to {account.name} first, or give its password: "
                f"{verb} {nick} <password>",
            )

    def cmd_ghost(self, request: Request) -> None:
        self._take_back(request, recover=False)

    def cmd_recover(self, request: Request) -> None:
        self._take_back(request, recover=True)

    def _own_account(self, request: Request) -> Account | None:
        if not request.account:
            self.notice(request, "You are not logged in.")
            return None
        account = self.accounts.get(request.account)
        if account is None:
            self.notice(request, f"The account {request.account} no longer exists.")
        return account

    def cmd_drop(self, request: Request) -> None:
        account = self._own_account(request)
        if account is None:
            return

        def dropped(result: Account | AccountError) -> None:
            if isinstance(result, AccountError):
                self.notice(request, result.text)
            else:
                self.notice(request, f"The account {account.name} has been dropped.")

        def then() -> None:
            self.sync.drop(account.name, dropped)

        self._with_password(
            request,
            account,
            request.args[0],
            then,
            failure=f"Wrong password; the account {account.name} was not dropped.",
        )

    def cmd_set(self, request: Request) -> None:
        name = f"SET {request.args[0].upper()}"
        spec = SET_COMMANDS.get(name)
        if spec is None:
            self.notice(request, f"Unknown setting {request.args[0]}. Try HELP SET.")
            return
        if len(request.args) - 1 < spec.min_args:
            self.notice(request, f"Not enough parameters. Syntax: {spec.syntax}")
            return
        spec.handler(self, dataclasses.replace(request, args=request.args[1:]))

    def cmd_set_password(self, request: Request) -> None:
        account = self._own_account(request)
        if account is None:
            return
        password = request.args[0]
        problem = password_problem(password) or weak_password(
            password, account.name, self.settings().password_min_length
        )
        if problem:
            self.notice(request, problem)
            return

        def done(credentials: Credentials | None) -> None:
            if credentials is None:
                self.notice(request, "The password was not changed, please try again later.")
                return
            self.sync.set_credentials(account.name, credentials, changed)

        def changed(result: Account | AccountError) -> None:
            if isinstance(result, AccountError):
                self.notice(request, result.text)
            else:
                self.notice(request, "Your password has been changed.")

        self._run(request, lambda: self.accounts.make_credentials(password), done)

    def cmd_set_enforce(self, request: Request) -> None:
        account = self._own_account(request)
        if account is None:
            return
        value = request.args[0].upper()
        if value not in ("ON", "OFF"):
            self.notice(request, "Syntax: SET ENFORCE ON|OFF")
            return

        def changed(result: Account | AccountError) -> None:
            if isinstance(result, AccountError):
                self.notice(request, result.text)
                return
            if value == "OFF":
                for key, pending in list(self.pending.items()):
                    if casefold(pending.account) == account.folded:
                        del self.pending[key]
            self.notice(request, f"Nick protection for {account.name} is now {value}.")

        self.sync.set_enforce(account.name, value == "ON", changed)

    def cmd_set_multiclient(self, request: Request) -> None:
        account = self._own_account(request)
        if account is None:
            return
        value = request.args[0].upper()
        if value not in ("ON", "OFF"):
            self.notice(request, "Syntax: SET MULTICLIENT ON|OFF")
            return

        def changed(result: Account | AccountError) -> None:
            if isinstance(result, AccountError):
                self.notice(request, result.text)
                return
            self.notice(request, f"Shared connections for {account.name} are now {value}.")

        self.sync.set_multiclient(account.name, value == "ON", changed)

    def cmd_set_always_on(self, request: Request) -> None:
        account = self._own_account(request)
        if account is None:
            return
        value = request.args[0].upper()
        if value not in ("ON", "OFF"):
            self.notice(request, "Syntax: SET ALWAYS-ON ON|OFF")
            return
        service = self.always_on
        if service is None:
            self.notice(request, "Always-on is not available on this server.")
            return
        refusal = service.choose(account.name, value == "ON")
        if refusal:
            self.notice(request, refusal)
            return
        if value == "ON":
            self.notice(
                request,
                f"Always-on for {account.name} is now ON: your nick stays online, in its "
                "channels, when your last connection leaves.",
            )
        else:
            self.notice(
                request,
                f"Always-on for {account.name} is now OFF: you quit when your last "
                "connection leaves.",
            )

    def cmd_info(self, request: Request) -> None:
        name = request.args[0] if request.args else (request.account or request.nick)
        account = self.accounts.get(name)
        if account is None:
            self.notice(request, f"{name} is not registered.")
            return
        own = bool(request.account) and casefold(request.account) == account.folded
        self.notice(request, f"Information on {account.name}:")
        self.notice(request, f"Registered: {fmt_time(account.registered_at)}")
        self.notice(request, f"Nick protection: {'on' if account.enforce else 'off'}")
        self.notice(request, f"Shared connections: {'on' if account.multiclient else 'off'}")
        if self.always_on is not None:
            self.notice(
                request, f"Always-on: {'on' if self.always_on.enabled(account.name) else 'off'}"
            )
        if own:
            self.notice(request, f"E-mail: {account.email or 'none'}")
            self.notice(request, f"Certificates: {len(account.certs)}")
            online = sorted(p.nick for p in self.sessions_of(account.name))
            online += sorted(self.elsewhere(account.folded))
            self.notice(request, f"Logged in now as: {', '.join(online) or 'nobody'}")
        self.notice(request, "End of information.")

    def cmd_cert(self, request: Request) -> None:
        account = self._own_account(request)
        if account is None:
            return
        sub = request.args[0].upper()
        if sub == "LIST":
            if not account.certs:
                self.notice(request, f"No certificate fingerprints for {account.name}.")
                return
            self.notice(request, f"Certificate fingerprints for {account.name}:")
            for fp in account.certs:
                self.notice(request, fp)
            self.notice(request, "End of list.")
        elif sub == "ADD":
            given = request.args[1] if len(request.args) > 1 else request.certfp
            if not given:
                self.notice(
                    request,
                    "You are not using a TLS client certificate; give a fingerprint: "
                    "CERT ADD <fingerprint>",
                )
                return
            fp = normalize_fingerprint(given)

            def added(result: Account | AccountError) -> None:
                if isinstance(result, AccountError):
                    self.notice(request, result.text)
                else:
                    self.notice(request, f"Added {fp} to the certificates of {account.name}.")

            self.sync.add_cert(account.name, given, added)
        elif sub == "DEL":
            if len(request.args) < 2:
                self.notice(request, "Syntax: CERT DEL <fingerprint>")
                return
            given = request.args[1]
            fp = normalize_fingerprint(given)
            if not fp or fp not in account.certs:
                self.notice(request, f"{given} is not on your certificate list.")
                return

            def removed(result: Account | AccountError) -> None:
                if isinstance(result, AccountError):
                    self.notice(request, result.text)
                else:
                    self.notice(request, f"Removed {fp} from the certificates of {account.name}.")

            self.sync.del_cert(account.name, fp, removed)
        else:
            self.notice(
                request, "Syntax: CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST"
            )


COMMANDS: dict[str, CommandSpec] = {
    "HELP": CommandSpec(
        NickServ.cmd_help,
        0,
        "HELP [command]",
        "Lists the commands, or explains one.",
        ("Without a parameter, lists every command; with one, explains it.",),
    ),
    "REGISTER": CommandSpec(
        NickServ.cmd_register,
        1,
        "REGISTER <password> [email]",
        "Registers your current nick as an account.",
        (
            "Registers an account named after your current nick, with this password, and",
            "logs you in. The e-mail address is stored but no mail is sent. The password",
            "must be long enough (8 characters unless configured otherwise) and must not",
            "be the nick.",
            "Log in later with IDENTIFY, or with SASL (PLAIN, SCRAM-SHA-256, or EXTERNAL",
            "after CERT ADD).",
        ),
    ),
    "IDENTIFY": CommandSpec(
        NickServ.cmd_identify,
        1,
        "IDENTIFY [account] <password>",
        "Logs you in to an account.",
        (
            "Logs you in to the account named like your current nick, or to the account",
            "given. Repeated failures are refused for a while.",
        ),
    ),
    "LOGOUT": CommandSpec(
        NickServ.cmd_logout,
        0,
        "LOGOUT",
        "Logs you out of your account.",
        ("Logs you out. If your nick is registered, nick protection applies again.",),
    ),
    "GHOST": CommandSpec(
        NickServ.cmd_ghost,
        1,
        "GHOST <nick> [password]",
        "Disconnects whoever uses your registered nick.",
        (
            "Disconnects the user of a nick registered to your account, e.g. a connection",
            "of yours that did not time out yet. Without being logged in, give the",
            "account's password (this also logs you in).",
        ),
    ),
    "RECOVER": CommandSpec(
        NickServ.cmd_recover,
        1,
        "RECOVER <nick> [password]",
        "Takes your registered nick back.",
        (
            "Renames the user of a nick registered to your account to a guest nick and",
            "gives you the nick. Without being logged in, give the account's password",
            "(this also logs you in).",
        ),
    ),
    "DROP": CommandSpec(
        NickServ.cmd_drop,
        1,
        "DROP <password>",
        "Deletes your account.",
        (
            "Deletes the account you are logged in to, for good; the password confirms it.",
            "Everybody logged in to it is logged out.",
        ),
    ),
    "SET": CommandSpec(
        NickServ.cmd_set,
        1,
        "SET PASSWORD <new password> | SET ENFORCE ON|OFF | SET MULTICLIENT ON|OFF | "
        "SET ALWAYS-ON ON|OFF",
        "Changes your password, nick protection, shared connections or always-on.",
        (
            "SET PASSWORD <new password>: changes the password of your account.",
            "SET ENFORCE ON|OFF: whether users of your nick who are not logged in to your",
            "account are renamed after a grace time.",
            "SET MULTICLIENT ON|OFF: whether your connections share one nick and its",
            "channels.",
            "SET ALWAYS-ON ON|OFF: whether your nick stays online, in its channels, when",
            "your last connection leaves (what it is sent waits for your return).",
        ),
    ),
    "INFO": CommandSpec(
        NickServ.cmd_info,
        0,
        "INFO [account]",
        "Shows information about an account.",
        (
            "Shows when an account was registered and its nick protection; for your own",
            "account also the e-mail address, certificates and who is logged in to it.",
        ),
    ),
    "CERT": CommandSpec(
        NickServ.cmd_cert,
        1,
        "CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST",
        "Manages TLS certificates for SASL EXTERNAL.",
        (
            "CERT ADD [fingerprint]: lets the TLS client certificate with this SHA-256",
            "fingerprint log in to your account with SASL EXTERNAL; without a fingerprint,",
            "the certificate you are connected with. CERT DEL removes one, CERT LIST shows",
            "them.",
        ),
    ),
}

SET_COMMANDS: dict[str, CommandSpec] = {
    "SET PASSWORD": CommandSpec(
        NickServ.cmd_set_password,
        1,
        "SET PASSWORD <new password>",
        "Changes your password.",
        ("Changes the password of the account you are logged in to.",),
    ),
    "SET ENFORCE": CommandSpec(
        NickServ.cmd_set_enforce,
        1,
        "SET ENFORCE ON|OFF",
        "Turns nick protection on or off.",
        (
            "ON: whoever uses your nick without logging in to your account is asked to",
            "identify and renamed to a guest nick after a grace time. OFF: nobody is.",
        ),
    ),
    "SET MULTICLIENT": CommandSpec(
        NickServ.cmd_set_multiclient,
        1,
        "SET MULTICLIENT ON|OFF",
        "Lets your connections share one nick, or not.",
        (
            "ON: a connection that logs in to your account (SASL, or the server password",
            "account:password) while you are online becomes one more connection of your",
            "nick, in your channels; what one says, the others see. OFF: each connection",
            "needs a nick of its own. The server's [accounts] multiclient decides first.",
        ),
    ),
}

SET_COMMANDS["SET ALWAYS-ON"] = CommandSpec(
    NickServ.cmd_set_always_on,
    1,
    "SET ALWAYS-ON ON|OFF",
    "Keeps your nick online with no connection, or not.",
    (
        "ON: when your last connection leaves, your nick stays online in its channels,",
        "shown away; private messages to it are kept and shown when you connect again",
        "(log in with SASL to get your nick and channels back). OFF: you quit with your",
        "last connection. The server's policy may make it mandatory or disabled.",
        "LOGOUT, DROP, GHOST and an operator's KILL end it; so do long absences.",
    ),
)

NickServ.COMMANDS = COMMANDS
NickServ.SET_COMMANDS = SET_COMMANDS
