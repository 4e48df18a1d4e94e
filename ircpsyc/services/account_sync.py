"""Accounts across a network of servers: one home decides, every server holds a copy.

An account has one *home*, the server that decides every change to it; every
server of the network keeps a full copy of all accounts in its own store, so
SASL (PLAIN, SCRAM-SHA-256, EXTERNAL), IDENTIFY, INFO and nick protection
answer locally, also while the home is unreachable.  This is the entity
`psyc://SERVER/$accounts`; NickServ and the IRC `REGISTER` command make every
change through it (`register`, `drop`, `set_credentials`, `set_enforce`,
`add_cert`, `del_cert`: the answer comes to a `done` callback, an `Account` or
an `AccountError`).  On a single server everything is decided here, at once.

Homes.  A new registration goes to the server chosen by rendezvous hashing of
`~` + the casefolded name over the configured servers (`[network] servers`;
the `~` keeps account names apart from channel names), which refuses a name it
already holds: of two concurrent registrations of one name exactly one wins,
wherever they were typed.  The account remembers its home (`accounts.home` in
the store, '' for this server), and later changes go there.  An account whose
home is no longer a configured server is taken over by the rendezvous home on
its next change.  Accounts registered before the servers were linked stay
with the server that holds them: that server is their home, announces them to
the others, and decides about them from then on.

Writes.  A server that is not the home sends the change as a request to the
home's `$accounts` (the password is hashed by the server the user is on; only
the argon2 hash and the SCRAM keys cross the link, never the password) and
tells the user the outcome when the answer comes.  An unreachable home, or no
answer within `[services] network_timeout` seconds, is a clear "try again
later" (IRCv3 code TEMPORARILY_UNAVAILABLE); nothing is changed anywhere then
(a late answer still updates the copies).

Copies.  Each server is the master of the context `psyc://SERVER/$accounts`
of the accounts it is home of, and casts every change with a `_counter` to all
servers of the network.  A server fetches the whole set of accounts homed on a
server (a snapshot) when that server becomes reachable, rejoins or restarts,
and when it sees a gap in the counter.  Casts that arrive before a snapshot
wait and are applied after it.

Drops, versions and giving back.  A copy deletes an account only for a real
drop: a drop notice, or a *tombstone* (name, registration time, when and by
which home it was dropped) in its home's snapshot that is newer than the
copy's registration.  Every server keeps the tombstones it hears of for
`[services] account_tombstone_days`.  Each account carries a version,
`_time_updated` (when its home last changed it); of two copies of one
registration the newer version wins.  An account that its home's snapshot
lacks without a tombstone (the home lost its database, or was restored from an
old backup), or has in an older version, is not deleted: the server that holds
the copy gives it back to the home (`_request_account_restore`), together with
the home's own drops that the snapshot lacks.  The home takes an account back
unless it holds the name already (then the earlier registration wins, as in a
merge) or has a tombstone of the name newer than the copy's registration; it
logs what it took and casts it as usual, and answers with what it holds
instead of the rest (`_status_account_restore`).  So a home that lost its
database gets its accounts from the network, and a drop made while a server was
away is neither missed nor undone (within the tombstone time).

Merges.  If two servers hold different registrations of one name (both were
registered while the servers were not linked), the one registered first keeps
the name on every server (equal times: the home whose name sorts first); the
other is replaced, and who was logged in to it is logged out.  Every server
decides the same from what it holds, without asking anybody.  A certificate
fingerprint claimed by two accounts stays with the one whose name sorts first.

Dropping an account logs out its users on every server (each server logs out
its own when the drop reaches it); a new password applies to every server's
SASL as soon as the change arrives.  Only servers of the configured network
are listened to: requests, snapshots and casts from anybody else are ignored.

A server away for longer than the tombstone time that still holds a copy of
an account dropped meanwhile gives it back: the drop is forgotten by then.

PSYC methods (entity `$accounts`; `<record>` is `_account`, `_time_registered`,
`_time_updated` (the version), `_host_home`, `_password_hash`, `_scram_salt`,
`_scram_iterations`, `_scram_stored_key`, `_scram_server_key` (base64),
`_email`, `_flag_enforce`, `_flag_multiclient`, `_list_certs`; `<lists>` is the same per account as
`_list_account`, `_list_time_registered`, ... `_list_host_home`, `_list_certs`
(space-separated per account), plus tombstones as `_list_dropped_account`,
`_list_dropped_time_registered`, `_list_dropped_time_dropped`):

    _request_account_register  {_account, _password_hash, _scram_*, _email}
    _request_account_password  {_account, _password_hash, _scram_*}   SET PASSWORD
    _request_account_enforce   {_account, _flag_enforce}              SET ENFORCE
    _request_account_multiclient {_account, _flag_multiclient}        SET MULTICLIENT
    _request_account_cert_add  {_account, _fingerprint}               CERT ADD
    _request_account_cert_remove {_account, _fingerprint}             CERT DEL
    _request_account_drop      {_account}                             DROP
        to psyc://HOME/$accounts with a `_tag`; answered with
    _status_account_<op>       {<record>}      done (the record as it is now)
    _error_account_<op>        {_account, _code, _reason}   refused (_code: IRCv3 code)

    _notice_account_update     {<record>}      cast in psyc://HOME/$accounts, `_counter`
    _notice_account_drop       {_account, _time_registered, _time_dropped}
                                               cast: dropped (copies keep a tombstone)

    _request_accounts          {_counter}      snapshot, from the last counter seen
    _status_accounts           {<lists>, _part, _amount_parts}
                                               the accounts homed there and its
                                               tombstones, in parts
    _status_accounts_unchanged {}              nothing changed since `_counter`

    _request_account_restore   {<lists>, _part, _amount_parts}
        to psyc://HOME/$accounts: copies of its accounts (and its drops) that its
        snapshot lacked or had older; it takes back what it lost, and answers
    _status_account_restore    {<lists>}       what it holds instead of some of them
                                               (another registration, a newer
                                               version, or a tombstone)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import ContextMaster, ContextSlave, Order, counter_of
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.network import rendezvous
from ircpsyc.psyc_backend.packet import Packet, Value, columns, number, seconds
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import casefold, host_of
from ircpsyc.services.accounts import (
    Account,
    AccountError,
    Accounts,
    Credentials,
    ScramCredentials,
    Tombstone,
    normalize_fingerprint,
)

if TYPE_CHECKING:
    from ircpsyc.config import ServicesSection
    from ircpsyc.psyc_backend.network import Network

log = logging.getLogger(__name__)

SERVICE = "$accounts"
CHUNK = 500  # accounts per snapshot packet
EARLY_MAX = 10_000  # casts kept while a snapshot is on its way
ASK_AGAIN = 10.0  # seconds before an unanswered snapshot request goes out again
PRUNE_EVERY = 3600.0  # seconds between looks for tombstones past their time
DAY = 86400.0

Done = Callable[[Account | AccountError], None]

# The columns of a record, as `_<name>` in casts and answers, `_list_<name>` in snapshots.
FIELDS = (
    "account",
    "time_registered",
    "password_hash",
    "scram_salt",
    "scram_iterations",
    "scram_stored_key",
    "scram_server_key",
    "email",
    "flag_enforce",
    "time_updated",
    "flag_multiclient",
)
# The columns of a tombstone, as `_list_dropped_<name>` in snapshots and restores.
TOMB_FIELDS = ("account", "time_registered", "time_dropped")
OPS = ("register", "password", "enforce", "multiclient", "cert_add", "cert_remove", "drop")


def service_uniform(host: str) -> str:
    return f"psyc://{host}/{SERVICE}"


def unavailable(text: str) -> AccountError:
    return AccountError("TEMPORARILY_UNAVAILABLE", text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _row(account: Account) -> dict[str, str]:
    scram = account.scram
    return {
        "account": account.name,
        "time_registered": repr(account.registered_at),
        "password_hash": account.password_hash,
        "scram_salt": _b64(scram.salt),
        "scram_iterations": str(scram.iterations),
        "scram_stored_key": _b64(scram.stored_key),
        "scram_server_key": _b64(scram.server_key),
        "email": account.email,
        "flag_enforce": "1" if account.enforce else "0",
        "time_updated": repr(account.updated_at),
        "flag_multiclient": "1" if account.multiclient else "0",
    }


def _fields(account: Account) -> list[str]:
    """An account's `FIELDS`, in their order (a row of `ACCOUNT_COLUMNS`)."""
    row = _row(account)
    return [row[name] for name in FIELDS]


def _scram_of(row: dict[str, str]) -> ScramCredentials:
    return ScramCredentials(
        base64.b64decode(row["scram_salt"], validate=True),
        int(row["scram_iterations"]),
        base64.b64decode(row["scram_stored_key"], validate=True),
        base64.b64decode(row["scram_server_key"], validate=True),
    )


def _account_of(row: dict[str, str], certs: list[str], home: str) -> Account | None:
    """A record from its columns; None if it does not make sense."""
    try:
        name = row["account"]
        if not name or not row["password_hash"]:
            return None
        registered = float(row["time_registered"])
        return Account(
            name,
            row["password_hash"],
            _scram_of(row),
            row.get("email", ""),
            registered,
            row.get("flag_enforce") == "1",
            [fp for fp in (normalize_fingerprint(c) for c in certs) if fp],
            home,
            float(row.get("time_updated") or registered),  # older peers: no version
            row.get("flag_multiclient", "1") != "0",  # older peers: the default
        )
    except (KeyError, ValueError, binascii.Error):
        return None


# The tables of snapshots and restores, as parallel `_list_*` columns: an account per
# row (its fields, certificate fingerprints, home), a drop per row.
ACCOUNT_COLUMNS = (*(V.LIST_PREFIX + name for name in FIELDS), V.LIST_CERTS, V.LIST_HOST_HOME)
TOMB_COLUMNS = tuple(V.LIST_DROPPED_PREFIX + name for name in TOMB_FIELDS)


def _tombstones_of(packet: Packet, home: str) -> list[Tombstone]:
    """The tombstones listed in a snapshot or a restore (dropped by `home`)."""
    out = []
    for name, registered, dropped in packet.rows(TOMB_COLUMNS):
        try:
            if name:
                out.append(Tombstone(name, float(registered), float(dropped), home))
        except ValueError:
            continue
    return out


def _credential_vars(credentials: Credentials) -> dict[str, Value]:
    scram = credentials.scram
    return {
        V.PASSWORD_HASH: credentials.password_hash,
        V.SCRAM_SALT: _b64(scram.salt),
        V.SCRAM_ITERATIONS: str(scram.iterations),
        V.SCRAM_STORED_KEY: _b64(scram.stored_key),
        V.SCRAM_SERVER_KEY: _b64(scram.server_key),
    }


def _credentials_of(packet: Packet) -> Credentials:
    row = {name: packet.get(f"_{name}") for name in FIELDS}
    try:
        scram = _scram_of(row)
    except (ValueError, binascii.Error):
        raise AccountError("INVALID_CREDENTIALS", "The new credentials are malformed.") from None
    if not row["password_hash"]:
        raise AccountError("INVALID_CREDENTIALS", "The new credentials are malformed.")
    return Credentials(row["password_hash"], scram)


def _int(text: str, default: int = -1) -> int:
    return number(text, default)


def _float(text: str, default: float) -> float:
    """A time from another server: finite and plausible, else `default` ("nan" would
    make every comparison of versions false)."""
    return seconds(text, default)


@dataclass(slots=True)
class Waiting:
    """A change asked of another server's `$accounts`."""

    done: Done
    op: str
    release: str  # a name reserved here while it registers ("" if none)


@dataclass(slots=True)
class HomeCopy:
    """What we know of another server's context: its counter, casts and snapshot parts
    waiting."""

    server: str
    # Its casts in order; those that come while a snapshot is on its way wait.
    context: ContextSlave = field(default_factory=lambda: ContextSlave(EARLY_MAX))
    parts: list[Packet] = field(default_factory=list)

    @property
    def last(self) -> int:
        """The counter of the last cast applied; -1: no snapshot yet (since we
        started, or since it was lost)."""
        last = self.context.last
        return -1 if last is None else last

    @last.setter
    def last(self, value: int) -> None:
        self.context.last = None if value < 0 else value


class AccountSync:
    """The `$accounts` entity: writes go to each account's home, copies stay alike."""

    def __init__(
        self,
        router: Router,
        host: str,
        accounts: Accounts,
        clock: Callable[[], float],
        settings: Callable[[], ServicesSection],
    ) -> None:
        self.router = router
        self.host = host.lower()
        self.accounts = accounts
        self.clock = clock
        self.settings = settings
        self.uniform = service_uniform(self.host)
        self.network: Network | None = None
        # Our context's counter (no replays: a server that missed a cast gets a snapshot).
        self.master = ContextMaster(int(clock() * 1_000_000))
        self.copies: dict[str, HomeCopy] = {}
        # Tags unique across restarts: this entity is made anew with NickServ.
        self.requests: Requests[Waiting] = Requests(
            "", clock, lambda: settings().network_timeout, self._failed, make_tag=new_id
        )
        self.asked: dict[str, float] = {}
        self.merges = 0  # registrations that lost their name to an earlier one
        self.restored = 0  # accounts given back to us after we had lost them
        self.pruned_at = -PRUNE_EVERY

    def attach(self, network: Network) -> None:
        """Take part in a network of servers (server linking)."""
        self.network = network
        self.requests.network = network
        network.listeners.append(self)

    # -- homes

    def servers(self) -> tuple[str, ...]:
        return self.network.hash_servers if self.network is not None else (self.host,)

    def home_of_name(self, name: str) -> str:
        """Where a new registration of `name` is decided."""
        if self.network is None:
            return self.host
        return rendezvous(f"~{casefold(name)}", self.network.hash_servers)

    def home_of(self, account: Account) -> str:
        """Where changes to `account` are decided."""
        home = account.home or self.host
        if home == self.host or home in self.servers():
            return home
        return self.home_of_name(account.name)

    def _trusted(self, server: str) -> bool:
        return server != self.host and self.network is not None and server in self.servers()

    def _rank(self, account: Account) -> tuple[float, str]:
        return (account.registered_at, account.home or self.host)

    # -- writes (callers: NickServ, the IRC REGISTER command)

    def register(self, name: str, credentials: Credentials, email: str, done: Done) -> None:
        """Register `name` (reserved here with `Accounts.reserve` while it was hashed;
        released whatever happens)."""
        home = self.home_of_name(name)
        if home == self.host:
            try:
                account = self.accounts.create(name, credentials, email)
            except AccountError as error:
                done(error)
                return
            self._cast_record(account)
            done(account)
            return
        vars: dict[str, Value] = {V.ACCOUNT: name, V.EMAIL: email}
        vars.update(_credential_vars(credentials))
        self._ask(home, "register", vars, done, release=name)

    def set_credentials(self, name: str, credentials: Credentials, done: Done) -> None:
        self._change(name, "password", dict(_credential_vars(credentials)), done)

    def set_enforce(self, name: str, enforce: bool, done: Done) -> None:
        self._change(name, "enforce", {V.FLAG_ENFORCE: "1" if enforce else "0"}, done)

    def set_multiclient(self, name: str, multiclient: bool, done: Done) -> None:
        flag = "1" if multiclient else "0"
        self._change(name, "multiclient", {V.FLAG_MULTICLIENT: flag}, done)

    def add_cert(self, name: str, fingerprint: str, done: Done) -> None:
        fp = normalize_fingerprint(fingerprint)
        if not fp:
            done(AccountError("INVALID_FINGERPRINT", "That is not a SHA-256 fingerprint."))
            return
        owner = self.accounts.by_certfp(fp)
        if owner is not None and owner.folded != casefold(name):
            done(AccountError("CERT_IN_USE", f"{fp} belongs to another account."))
            return
        self._change(name, "cert_add", {V.FINGERPRINT: fp}, done)

    def del_cert(self, name: str, fingerprint: str, done: Done) -> None:
        self._change(name, "cert_remove", {V.FINGERPRINT: fingerprint}, done)

    def drop(self, name: str, done: Done) -> None:
        self._change(name, "drop", {}, done)

    def _change(self, name: str, op: str, vars: dict[str, Value], done: Done) -> None:
        account = self.accounts.get(name)
        if account is None:
            done(AccountError("ACCOUNT_DOES_NOT_EXIST", f"The account {name} does not exist."))
            return
        home = self.home_of(account)
        if home != self.host:
            self._ask(home, op, {V.ACCOUNT: account.name, **vars}, done)
            return
        try:
            result = self._apply(account, op, Packet("", {}, vars))
        except AccountError as error:
            done(error)
            return
        done(result)

    def _apply(self, account: Account, op: str, packet: Packet) -> Account:
        """Make a change to an account homed here and cast it; AccountError if refused."""
        accounts = self.accounts
        if account.home:  # its old home left the network: it is ours now
            account = accounts.put(dataclasses.replace(account, home=""))
        name = account.name
        if op == "drop":
            self._cast_drop(accounts.drop(name))
            return account
        if op == "password":
            accounts.set_credentials(name, _credentials_of(packet))
        elif op == "enforce":
            accounts.set_enforce(name, packet.get(V.FLAG_ENFORCE) == "1")
        elif op == "multiclient":
            accounts.set_multiclient(name, packet.get(V.FLAG_MULTICLIENT) == "1")
        elif op == "cert_add":
            accounts.add_cert(name, packet.get(V.FINGERPRINT))
        elif op == "cert_remove":
            fingerprint = packet.get(V.FINGERPRINT)
            if not accounts.del_cert(name, fingerprint):
                raise AccountError(
                    "CERT_NOT_FOUND", f"{fingerprint} is not on your certificate list."
                )
        else:
            raise AccountError("UNKNOWN_CHANGE", f"Unknown account change {op}.")
        self._cast_record(account)
        return account

    # -- asking the home

    def _ask(
        self, home: str, op: str, vars: dict[str, Value], done: Done, release: str = ""
    ) -> None:
        if not self.requests.can_ask(home):
            if release:
                self.accounts.release(release)
            done(
                unavailable(
                    f"Accounts like this one are kept by the server {home}, which cannot "
                    "be reached right now; nothing was changed. Please try again later."
                )
            )
            return
        tag = self.requests.tag()
        self.requests.add(tag, home, Waiting(done, op, release))
        self.router.send(
            Packet(
                V.REQUEST_ACCOUNT_PREFIX + op,
                {V.SOURCE: self.uniform, V.TARGET: service_uniform(home), V.TAG: tag},
                vars,
            )
        )

    def _finish(self, request: Request[Waiting], result: Account | AccountError) -> None:
        waiting = request.data
        if waiting.release:
            self.accounts.release(waiting.release)
        try:
            waiting.done(result)
        except Exception:
            log.exception("accounts: completing a %s failed", waiting.op)

    def _answer(self, packet: Packet) -> None:
        request = self.requests.get(packet)
        if request is None:
            return
        waiting, home = request.data, request.home
        method = packet.method
        if method.startswith(V.ERROR_ACCOUNT):
            result: Account | AccountError = AccountError(
                packet.get(V.CODE) or "ACCOUNT_ERROR", packet.get(V.REASON) or "Refused."
            )
        elif method.startswith(V.ERROR):
            result = unavailable(
                f"The accounts service of {home} did not take the request; "
                "nothing was changed. Please try again later."
            )
        else:
            record = self._record_of(packet, home)
            if record is None:
                result = unavailable("The answer of the accounts server was malformed.")
            elif waiting.op == "drop":
                held = self.accounts.get(record.name)
                dropped = _float(packet.get(V.TIME_DROPPED), self.clock())
                if held is not None and held.same_as(record):
                    self.accounts.remove(record.name, home, dropped)
                result = record
            else:
                result = self._offer(record)
        if self.requests.answered_by(request):
            self._finish(request, result)

    # -- packets in

    def receive(self, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.REQUEST_ACCOUNT_RESTORE):
            self._restore_in(packet)
        elif method.startswith(V.STATUS_ACCOUNT_RESTORE):
            self._restore_answer(packet)
        elif method.startswith(V.REQUEST_ACCOUNT_PREFIX):
            self._request(packet)
        elif method.startswith(V.REQUEST_ACCOUNTS):
            self._snapshot_request(packet)
        elif method.startswith(V.STATUS_ACCOUNTS):
            self._snapshot_in(packet)
        elif V.TAG_RELAY in packet.routing and method.startswith((V.STATUS, V.ERROR)):
            self._answer(packet)
        elif method.startswith(V.NOTICE_ACCOUNT) and packet.context:
            self._cast_in(packet)

    def _request(self, packet: Packet) -> None:
        """A change asked by another server: decide it here."""
        server = host_of(packet.source)
        if not self._trusted(server):
            return
        op = packet.method[len(V.REQUEST_ACCOUNT_PREFIX) :]
        name = packet.get(V.ACCOUNT)
        try:
            if not name:
                raise AccountError("ACCOUNT_DOES_NOT_EXIST", "No account was named.")
            if op == "register":
                credentials = _credentials_of(packet)
                self.accounts.reserve(name)
                account = self.accounts.create(name, credentials, packet.get(V.EMAIL))
                self._cast_record(account)
            else:
                held = self.accounts.get(name)
                if held is None:
                    raise AccountError(
                        "ACCOUNT_DOES_NOT_EXIST", f"The account {name} does not exist."
                    )
                if self.home_of(held) != self.host:
                    raise unavailable(
                        f"The account {held.name} is kept by {self.home_of(held)} now; "
                        "please try again."
                    )
                account = self._apply(held, op, packet)
        except AccountError as error:
            self._reply(
                packet,
                V.ERROR_ACCOUNT_PREFIX + op,
                {
                    V.ACCOUNT: name,
                    V.CODE: error.code,
                    V.REASON: error.text,
                },
            )
            return
        vars = self._record_vars(account)
        if op == "drop":
            tombstone = self.accounts.tombstone(account.name)
            if tombstone is not None:
                vars[V.TIME_DROPPED] = repr(tombstone.dropped_at)
        self._reply(packet, V.STATUS_ACCOUNT_PREFIX + op, vars)

    def _reply(self, request: Packet, method: str, vars: dict[str, Value]) -> None:
        routing = {V.SOURCE: self.uniform, V.TARGET: request.source}
        if V.TAG in request.routing:
            routing[V.TAG_RELAY] = request.routing[V.TAG]
        self.router.send(Packet(method, routing, vars))

    # -- the context of the accounts homed here

    def _record_vars(self, account: Account) -> dict[str, Value]:
        vars: dict[str, Value] = {f"_{name}": value for name, value in _row(account).items()}
        vars[V.HOST_HOME] = account.home or self.host
        vars[V.LIST_CERTS] = list(account.certs)
        return vars

    def _record_of(self, packet: Packet, home: str) -> Account | None:
        row = {name: packet.get(f"_{name}") for name in FIELDS}
        return _account_of(row, packet.get_list(V.LIST_CERTS), "" if home == self.host else home)

    def _cast(self, method: str, vars: dict[str, Value]) -> None:
        packet = self.master.stamp(Packet(method, {V.CONTEXT: self.uniform}, vars))
        network = self.network
        if network is None:
            return
        servers = [s for s in network.hash_servers if s != self.host and s in network.known]
        if servers:
            self.router.cast(packet, servers)

    def _cast_record(self, account: Account) -> None:
        self._cast(V.NOTICE_ACCOUNT_UPDATE, self._record_vars(account))

    def _cast_drop(self, tombstone: Tombstone) -> None:
        self._cast(
            V.NOTICE_ACCOUNT_DROP,
            {
                V.ACCOUNT: tombstone.name,
                V.TIME_REGISTERED: repr(tombstone.registered_at),
                V.TIME_DROPPED: repr(tombstone.dropped_at),
            },
        )

    def _keep_after(self) -> float:
        """Tombstones of drops before this time are forgotten."""
        return self.clock() - self.settings().account_tombstone_days * DAY

    def _list_vars(
        self, accounts: list[Account], tombstones: list[Tombstone]
    ) -> list[dict[str, Value]]:
        """Accounts and tombstones as the lists of snapshots and restores, in parts."""
        parts = max(1, (len(accounts) + CHUNK - 1) // CHUNK, (len(tombstones) + CHUNK - 1) // CHUNK)
        out = []
        for index in range(parts):
            chunk = accounts[index * CHUNK : (index + 1) * CHUNK]
            rows = [(*_fields(a), " ".join(a.certs), a.home or self.host) for a in chunk]
            vars = columns(ACCOUNT_COLUMNS, rows)
            tombs = tombstones[index * CHUNK : (index + 1) * CHUNK]
            if tombs:
                vars.update(
                    columns(
                        TOMB_COLUMNS,
                        [(t.name, repr(t.registered_at), repr(t.dropped_at)) for t in tombs],
                    )
                )
            vars[V.PART] = str(index + 1)
            vars[V.AMOUNT_PARTS] = str(parts)
            out.append(vars)
        return out

    def _records_of_lists(self, packet: Packet, home: str, own_home: bool) -> list[Account]:
        """The accounts listed in a snapshot or a restore; `own_home`: each row's
        `_list_host_home` says whose it is (else all are `home`'s)."""
        out = []
        for *fields, certs, row_home in packet.rows(ACCOUNT_COLUMNS):
            row = dict(zip(FIELDS, fields, strict=True))
            where = row_home.lower() if own_home and row_home else home
            record = _account_of(row, certs.split(), "" if where == self.host else where)
            if record is not None:
                out.append(record)
        return out

    def _snapshot_request(self, packet: Packet) -> None:
        server = host_of(packet.source)
        if not self._trusted(server):
            return
        routing = {
            V.SOURCE: self.uniform,
            V.TARGET: service_uniform(server),
            V.COUNTER: str(self.master.counter),
        }
        if _int(packet.get(V.COUNTER)) == self.master.counter:
            self.router.send(Packet(V.STATUS_ACCOUNTS_UNCHANGED, routing, {}))
            return
        mine = [a for a in self.accounts if not a.home]
        keep_after = self._keep_after()
        dropped = [
            t
            for t in self.accounts.tombstones.values()
            if not t.home and t.dropped_at >= keep_after
        ]
        for vars in self._list_vars(mine, dropped):
            self.router.send(Packet(V.STATUS_ACCOUNTS, dict(routing), vars))

    # -- copies of the others' contexts

    def ask(self, server: str, counter: int = -1) -> None:
        """Ask `server` for the accounts homed there (all, unless nothing changed since
        `counter`)."""
        now = self.clock()
        if now - self.asked.get(server, -1e9) < 2.0:
            return
        self.asked[server] = now
        self.router.send(
            Packet(
                V.REQUEST_ACCOUNTS,
                {V.SOURCE: self.uniform, V.TARGET: service_uniform(server)},
                {V.COUNTER: str(counter)},
            )
        )

    def _cast_in(self, packet: Packet) -> None:
        server = host_of(packet.context)
        if not self._trusted(server) or packet.context.lower() != service_uniform(server):
            return
        source = packet.routing.get(V.SOURCE, "")
        if source and host_of(source) != server:
            return  # a unicast naming somebody else's context: not a cast of it
        copy = self.copies.get(server)
        if copy is None:
            copy = self.copies[server] = HomeCopy(server)
        found = copy.context.offer(counter_of(packet), packet)
        if found is Order.GAP:
            self.ask(server, copy.last)
        elif found is Order.NEXT:
            self._apply_cast(server, packet)

    def _apply_cast(self, server: str, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.NOTICE_ACCOUNT_DROP):
            name = packet.get(V.ACCOUNT)
            held = self.accounts.get(name)
            registered = _float(packet.get(V.TIME_REGISTERED), -1.0)
            if registered < 0 and held is not None:
                registered = held.registered_at  # an older peer: the one it held
            if not name or registered < 0:
                return
            tombstone = Tombstone(
                held.name if held is not None else name,
                registered,
                _float(packet.get(V.TIME_DROPPED), self.clock()),
                server,
            )
            self._bury(server, tombstone)
        elif method.startswith(V.NOTICE_ACCOUNT_UPDATE):
            record = self._record_of(packet, server)
            if record is not None:
                kept = self._offer(record)
                if self._differs(kept, record) and kept.home == server:
                    self._give_back(server, [kept], [])

    def _bury(self, server: str, tombstone: Tombstone) -> bool:
        """A drop by `server`: keep its tombstone, and delete our copy if it is the
        dropped registration or an older one of the name (a real drop: `dropped`
        listeners run, ChanServ hands the founder's channels on).  True if deleted."""
        self.accounts.bury(tombstone)
        held = self.accounts.get(tombstone.name)
        if held is None or held.home != server or not tombstone.buries(held):
            return False
        self.accounts.remove(held.name, server, tombstone.dropped_at)
        return True

    @staticmethod
    def _differs(kept: Account, record: Account) -> bool:
        """Whether what we hold is not `record` as it is (another registration, or
        another version of it)."""
        return not kept.same_as(record) or kept.updated_at != record.updated_at

    def _keeps(self, held: Account, record: Account) -> bool:
        """Whether the account `held` stays rather than `record` from another server:
        newest version of one registration; of two registrations of one name the one
        registered first (a registration of the same home replaces one it dropped)."""
        if held.same_as(record):
            return held.updated_at > record.updated_at
        if held.home == record.home:
            tombstone = self.accounts.tombstone(held.name)
            if tombstone is not None and tombstone.buries(held):
                return False  # dropped there, then registered anew
        return self._rank(held) <= self._rank(record)

    def _offer(self, record: Account) -> Account:
        """Hold `record` unless what is held of the name stays (`_keeps`); returns what is
        held."""
        held = self.accounts.get(record.name)
        if held is not None and self._keeps(held, record):
            return held
        if held is not None and not held.same_as(record):
            self.merges += 1
            log.info(
                "accounts: %s was registered on %s and on %s; the earlier one (%s) keeps it",
                record.name,
                held.home or self.host,
                record.home or self.host,
                record.home or self.host,
            )
        return self.accounts.put(record)

    def _snapshot_in(self, packet: Packet) -> None:
        server = host_of(packet.source)
        if not self._trusted(server):
            return
        copy = self.copies.get(server)
        if copy is None:
            copy = self.copies[server] = HomeCopy(server)
        counter = _int(packet.routing.get(V.COUNTER, ""))
        if packet.method.startswith(V.STATUS_ACCOUNTS_UNCHANGED):
            self.asked.pop(server, None)
            if copy.last >= 0 and counter == copy.last:
                self._replay(copy)
            return
        part, parts = _int(packet.get(V.PART), 1), _int(packet.get(V.AMOUNT_PARTS), 1)
        if part <= 1:
            copy.parts = []
        copy.parts.append(packet)
        if part < parts:
            return
        received, copy.parts = copy.parts, []
        records: list[Account] = []
        tombstones: dict[str, Tombstone] = {}
        for chunk in received:
            records.extend(self._records_of_lists(chunk, server, own_home=False))
            for tombstone in _tombstones_of(chunk, server):
                tombstones[tombstone.folded] = tombstone
        listed = {record.folded for record in records}
        # Drops first: a name dropped there and registered anew is the new one.
        for folded, tombstone in tombstones.items():
            if folded not in listed:
                self._bury(server, tombstone)
            else:
                self.accounts.bury(tombstone)
        give_back: list[Account] = []
        for record in records:
            kept = self._offer(record)
            if self._differs(kept, record) and kept.home == server:
                give_back.append(kept)  # newer here, or the home lost the older one
        for account in self.accounts:
            if account.home == server and account.folded not in listed:
                give_back.append(account)  # missing there and not dropped: lost there
        keep_after = self._keep_after()
        lost_drops = [
            t
            for t in self.accounts.tombstones.values()
            if t.home == server
            and t.dropped_at >= keep_after
            and (t.folded not in tombstones or tombstones[t.folded].dropped_at < t.dropped_at)
        ]
        if give_back or lost_drops:
            log.warning(
                "accounts: %s lacks %d accounts it is home of (or has older versions of "
                "them) and %d of its drops; giving them back to it",
                server,
                len(give_back),
                len(lost_drops),
            )
            self._give_back(server, give_back, lost_drops)
        copy.context.reset(counter)
        self.asked.pop(server, None)
        self._replay(copy)

    def _replay(self, copy: HomeCopy) -> None:
        """The casts that came while the snapshot was on its way, in order."""
        for packet in copy.context.drain():
            self._apply_cast(copy.server, packet)
        if copy.context.gap:
            self.ask(copy.server, copy.last)

    # -- giving accounts back to a home that lost them

    def _give_back(self, home: str, accounts: list[Account], tombstones: list[Tombstone]) -> None:
        """Send `home` our copies of accounts (and drops) of its that it lacks."""
        for vars in self._list_vars(accounts, tombstones):
            self.router.send(
                Packet(
                    V.REQUEST_ACCOUNT_RESTORE,
                    {V.SOURCE: self.uniform, V.TARGET: service_uniform(home)},
                    vars,
                )
            )

    def _restore_in(self, packet: Packet) -> None:
        """Copies of our accounts given back by another server: take those we lost (no
        account of the name here and no drop of it since it was registered), and newer
        versions; answer with what we hold instead of the others."""
        server = host_of(packet.source)
        if not self._trusted(server):
            return
        accounts = self.accounts
        answer: list[Account] = []
        refused: list[Tombstone] = []
        for drop in _tombstones_of(packet, ""):
            held = accounts.get(drop.name)
            if held is not None and not held.home and drop.buries(held):
                if held.updated_at <= drop.dropped_at:
                    # dropped here once, and given back meanwhile by a copy that missed it
                    log.warning(
                        "accounts: %s was dropped here before; %s reminded us, dropped again",
                        held.name,
                        server,
                    )
                    self._cast_drop(accounts.drop(held.name, "", drop.dropped_at))
            else:
                accounts.bury(drop)
        for record in self._records_of_lists(packet, self.host, own_home=True):
            if record.home:
                continue  # not ours
            held = accounts.get(record.name)
            tombstone = accounts.tombstone(record.name)
            if held is not None and not held.home and held.same_as(record):
                if held.updated_at >= record.updated_at:
                    if held.updated_at > record.updated_at:
                        answer.append(held)
                    continue
                how = "an older version"
            elif tombstone is not None and not tombstone.home and tombstone.buries(record):
                refused.append(tombstone)  # dropped here since it was registered
                if held is not None:
                    answer.append(held)
                continue
            elif held is not None:
                # another registration of the name: the earlier one keeps it (a merge)
                if self._rank(held) <= self._rank(record):
                    answer.append(held)
                    continue
                self.merges += 1
                how = f"a later registration of the name (homed on {held.home or self.host})"
            else:
                how = "nothing"
            log.warning(
                "accounts: %s gave back the account %s (registered %s), of which we had %s; "
                "it is ours again",
                server,
                record.name,
                record.registered_at,
                how,
            )
            self.restored += 1
            self._cast_record(accounts.put(record))
        if answer or refused:
            for vars in self._list_vars(answer, refused):
                self._reply(packet, V.STATUS_ACCOUNT_RESTORE, vars)

    def _restore_answer(self, packet: Packet) -> None:
        """What a home holds instead of the copies we gave back: take it."""
        server = host_of(packet.source)
        if not self._trusted(server):
            return
        for tombstone in _tombstones_of(packet, server):
            self._bury(server, tombstone)
        for record in self._records_of_lists(packet, server, own_home=True):
            if record.home:  # never one of ours
                self._offer(record)

    # -- time and servers coming and going

    def tick(self, _now: float | None = None) -> None:
        """Time out requests, ask again for snapshots (on our own clock: the caller's
        `_now` may be another one, as `IRCServer.tick`'s monotonic time is)."""
        self.requests.expire()
        now = self.clock()
        if now - self.pruned_at >= PRUNE_EVERY:
            self.pruned_at = now
            self.accounts.prune_tombstones(self._keep_after())
        network = self.network
        for server, when in list(self.asked.items()):
            if now - when >= ASK_AGAIN and network is not None and network.is_reachable(server):
                del self.asked[server]
                copy = self.copies.get(server)
                self.ask(server, copy.last if copy is not None else -1)

    def server_lost(self, name: str, boot: str) -> None:
        """The copies stay (SASL keeps working); the next contact brings a snapshot."""
        copy = self.copies.get(name)
        if copy is not None:
            copy.context.forget()
            copy.parts = []
        self.asked.pop(name, None)
        self.requests.server_lost(name)

    def _failed(self, request: Request[Waiting], why: Failure) -> None:
        home = request.home
        if why == "timeout":
            text = f"No answer from the accounts server {home} yet; please "
        else:
            text = f"The accounts server {home} went away before answering; please "
        self._finish(
            request,
            unavailable(text + "try again later (NickServ INFO shows whether it went through)."),
        )

    def server_reachable(self, name: str, how: str) -> None:
        if not self._trusted(name):
            return
        copy = self.copies.get(name)
        self.asked.pop(name, None)
        if how == "resume" and copy is not None:
            self.ask(name, copy.last)
        else:
            if copy is not None:
                copy.last = -1
            self.ask(name)

    def snapshot(self) -> dict[str, object]:
        """For operators (STATS L): accounts held per home, changes waiting for an
        answer, registrations that lost their name in a merge, accounts given back to us,
        drops remembered."""
        homes: dict[str, int] = {}
        for account in self.accounts:
            home = account.home or self.host
            homes[home] = homes.get(home, 0) + 1
        return {
            "homes": homes,
            "waiting": len(self.requests),
            "merges": self.merges,
            "restored": self.restored,
            "tombstones": len(self.accounts.tombstones),
        }
