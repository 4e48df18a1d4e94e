"""Accounts: the durable account table, SCRAM-SHA-256, login and registration limits.

An account is a registered name with an argon2 password hash, the SCRAM
credentials RFC 5802 asks a server to keep (salt, iteration count, StoredKey,
ServerKey; never the password), an optional e-mail address, the ENFORCE flag
for nick protection and the TLS client certificate fingerprints that may log
in with SASL EXTERNAL.

The table lives in the store (migrations `_m3_accounts`, `_m6_account_homes`,
`_m8_account_tombstones` in ircpsyc.store); this module keeps a copy of it in
memory, so SASL and NickServ read without touching the database, and every
change is written through `Store.write_now`, committed before the caller
answers.  The casefolded name is the primary key: of two concurrent
registrations of one name exactly one is inserted.  In a network of servers
every server holds all accounts; ircpsyc.services.account_sync decides who
writes which (`home`) and keeps the copies alike with `put` and `remove`.  Each
account has a version, `updated_at` (the time of its latest change, set by its
home), and a dropped account leaves a `Tombstone` (name, registration time, when
and by which home) for a bounded time, so copies tell a drop from a loss.

Slow work (argon2, PBKDF2) is in pure functions, `make_credentials` and
`check_password`, which callers on the event loop run in an executor; the
rest is fast and runs on the loop.  Nothing here knows about IRC.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
import secrets
import sqlite3
import stringprep
import threading
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import sqlite_utils

from ircpsyc.netaddr import address_group
from ircpsyc.passwords import hash_password, verify_password
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.common import ServiceError

if TYPE_CHECKING:
    from ircpsyc.config import ServicesSection
    from ircpsyc.store import Store

MAX_CERTS = 16  # fingerprints per account
# Bytes; a longer "password" is a mistake or an attack.  Above one IRC line: SASL PLAIN
# takes it in 400-byte chunks, NickServ REGISTER in a draft/multiline batch.
MAX_PASSWORD = 1024
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_K = TypeVar("_K")


# -- data


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """What RFC 5802 section 3 has a server store for one user."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything derived from a password: the argon2 hash and the SCRAM keys."""

    password_hash: str
    scram: ScramCredentials


@dataclass(slots=True)
class Account:
    name: str
    password_hash: str
    scram: ScramCredentials
    email: str
    registered_at: float
    enforce: bool
    certs: list[str] = field(default_factory=list)
    home: str = ""  # the server that decides about it in a network; "" = this one
    updated_at: float = 0.0  # version: when its home last changed it (newest wins)
    multiclient: bool = True  # its connections share one person (NickServ SET MULTICLIENT)

    @property
    def folded(self) -> str:
        return casefold(self.name)

    def same_as(self, other: Account) -> bool:
        """The same registration (not another account that got the same name): the
        registration time tells them apart (it travels with the account)."""
        return self.registered_at == other.registered_at


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What is left of a dropped account: copies delete theirs only for one of these
    (or a drop notice), never because an account is merely missing somewhere."""

    name: str
    registered_at: float  # of the registration that was dropped
    dropped_at: float
    home: str = ""  # the server that dropped it; "" = this one

    @property
    def folded(self) -> str:
        return casefold(self.name)

    def buries(self, account: Account) -> bool:
        """Whether `account` is the dropped registration or an older one of the name
        (registered before the drop)."""
        return account.registered_at <= self.dropped_at


class AccountError(ServiceError):
    """A refused change; `code` is an IRCv3 standard-reply code, `text` a sentence."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


# -- passwords and SCRAM keys (pure; slow ones run off the event loop)


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (stored strings); ValueError when `text` is not allowed."""
    mapped = []
    for char in text:
        if stringprep.in_table_b1(char):
            continue
        mapped.append(" " if stringprep.in_table_c12(char) else char)
    result = unicodedata.normalize("NFKC", "".join(mapped))
    for char in result:
        if (
            stringprep.in_table_c12(char)
            or stringprep.in_table_c21_c22(char)
            or stringprep.in_table_c3(char)
            or stringprep.in_table_c4(char)
            or stringprep.in_table_c5(char)
            or stringprep.in_table_c6(char)
            or stringprep.in_table_c7(char)
            or stringprep.in_table_c8(char)
            or stringprep.in_table_c9(char)
            or stringprep.in_table_a1(char)
        ):
            raise ValueError(f"character {char!r} is prohibited")
    if any(stringprep.in_table_d1(c) for c in result):
        if any(stringprep.in_table_d2(c) for c in result):
            raise ValueError("mixed bidirectional text")
        if not (stringprep.in_table_d1(result[0]) and stringprep.in_table_d1(result[-1])):
            raise ValueError("bidirectional text must start and end right-to-left")
    return result


def _prepared(password: str) -> bytes:
    try:
        return saslprep(password).encode()
    except ValueError:
        return password.encode()  # clients that skip SASLprep still match


def scram_credentials(
    password: str, iterations: int, salt: bytes | None = None
) -> ScramCredentials:
    """SaltedPassword = PBKDF2(SASLprep(password)), then ClientKey/StoredKey/ServerKey."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", _prepared(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return ScramCredentials(
        salt,
        iterations,
        hashlib.sha256(client_key).digest(),
        hmac.digest(salted, b"Server Key", "sha256"),
    )


def password_problem(password: str) -> str:
    """Why `password` cannot be used, or ""."""
    if not password:
        return "The password must not be empty."
    if len(password.encode()) > MAX_PASSWORD:
        return f"The password must be at most {MAX_PASSWORD} bytes long."
    if any(c in password for c in "\0\r\n"):
        return "The password must not contain NUL or line breaks."
    return ""


def weak_password(password: str, name: str, min_length: int) -> str:
    """Why `password` is too weak for the account `name` (`[services]
    password_min_length`, not the name itself), or ""."""
    if len(password) < min_length:
        return f"The password must be at least {min_length} characters long."
    if casefold(password) == casefold(name):
        return "The password must not be the account name."
    return ""


def normalize_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint in lower-case hex without colons, or "" if it is not one."""
    fp = text.replace(":", "").strip().lower()
    return fp if _FINGERPRINT.match(fp) else ""


def valid_email(text: str) -> bool:
    return len(text) <= 254 and _EMAIL.match(text) is not None


# -- login rate limiting


@dataclass(slots=True)
class LoginAttempt:
    """A login attempt counted by `LoginLimiter.begin`, until `finish` or `cancel`."""

    account: str  # casefolded
    address: str  # the source key of the address (IPv6 by /64)
    at: float
    trusted: bool  # a known address or certificate: outside the account's cap


class LoginLimiter:
    """Login attempts per address and per account.

    An attempt counts from the moment it starts (`begin`), before its password
    is checked, so many attempts at once cannot all pass the check before the
    first result is in.  A success (`finish(ok=True)`) takes its own attempt
    back; a failure keeps it counted for `login_window` seconds.

    Limits within `login_window`, all refused before argon2 (which also keeps
    the hashing threads from being burnt by guesses):

    - `login_attempts` attempts from one address (IPv6 grouped by /64), whatever
      the accounts: this is also the limit per (account, address), so guesses
      from one address never touch the owner's logins from elsewhere;
    - `login_account_attempts` attempts at one account from all addresses
      together, much higher, against guessing from many addresses.

    The last cap could be used to lock the owner out, so it does not apply to
    the owner's known ways in: an address the account logged in from (or
    registered from) within the last `KNOWN_FOR` seconds, and a connection with
    one of the account's TLS client certificates (SASL EXTERNAL is never
    limited at all).  Known addresses are kept in memory, a few per account, and
    are forgotten at a restart.  An attacker who floods guesses thus locks out
    only himself (his addresses) and, from new addresses only, the owner for
    at most `login_window` seconds.
    """

    KNOWN_FOR = 30 * 86400.0  # seconds an address of a successful login stays known
    MAX_KNOWN = 8  # known addresses per account (the oldest is forgotten)

    def __init__(self, settings: Callable[[], ServicesSection]) -> None:
        self._settings = settings
        self._accounts: dict[str, deque[float]] = {}
        self._ips: dict[str, deque[float]] = {}
        self._known: dict[str, dict[str, float]] = {}  # account -> address -> last success

    def _recent(self, table: dict[_K, deque[float]], key: _K, now: float) -> int:
        times = table.get(key)
        if times is None:
            return 0
        window = self._settings().login_window
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del table[key]
            return 0
        return len(times)

    def known(self, account: str, ip: str, now: float) -> bool:
        """Whether the account logged in from this address (its /64) recently."""
        since = self._known.get(casefold(account), {}).get(address_group(ip))
        return since is not None and since > now - self.KNOWN_FOR

    def begin(
        self, account: str, ip: str, now: float, certified: bool = False
    ) -> LoginAttempt | None:
        """Count an attempt at `account` from `ip` that starts now; None (nothing
        counted) when a limit refuses it.  `certified`: the connection has one of the
        account's certificates."""
        settings = self._settings()
        folded, address = casefold(account), address_group(ip)
        trusted = certified or self.known(folded, ip, now)
        if address and self._recent(self._ips, address, now) >= settings.login_attempts:
            return None
        if not trusted and self._recent(self._accounts, folded, now) >= (
            settings.login_account_attempts
        ):
            return None
        attempt = LoginAttempt(folded, address, now, trusted)
        for table, key in self._tables(attempt):
            table.setdefault(key, deque()).append(now)
        return attempt

    def _tables(self, attempt: LoginAttempt) -> Iterator[tuple[dict[Any, deque[float]], Any]]:
        if attempt.address:
            yield self._ips, attempt.address
        if not attempt.trusted:
            yield self._accounts, attempt.account

    def finish(self, attempt: LoginAttempt, ok: bool, now: float) -> None:
        """The password was checked: a failure stays counted; a success is taken back
        and makes the address known to the account."""
        if not ok:
            return
        self.cancel(attempt)
        self.remember(attempt.account, attempt.address, now)

    def cancel(self, attempt: LoginAttempt) -> None:
        """The attempt was not checked after all (e.g. no room to hash): uncount it."""
        for table, key in self._tables(attempt):
            times = table.get(key)
            if times is not None and attempt.at in times:
                times.remove(attempt.at)
                if not times:
                    del table[key]

    def remember(self, account: str, ip: str, now: float) -> None:
        """The account logged in (or registered) from `ip`: a known address now."""
        address = address_group(ip)
        if not address:
            return
        known = self._known.setdefault(casefold(account), {})
        known.pop(address, None)
        known[address] = now
        while len(known) > self.MAX_KNOWN:
            del known[next(iter(known))]

    def prune(self, now: float) -> None:
        for account in list(self._accounts):
            self._recent(self._accounts, account, now)
        for address in list(self._ips):
            self._recent(self._ips, address, now)
        for account, known in list(self._known.items()):
            for address, since in list(known.items()):
                if since <= now - self.KNOWN_FOR:
                    del known[address]
            if not known:
                del self._known[account]


class RegisterLimiter:
    """Account registrations started per IP address within the last hour.

    Each registration costs a slow password hash, so after
    `[services] register_per_ip_per_hour` of them from one address further ones
    are refused before hashing until the oldest is an hour old (0: no limit).
    """

    WINDOW = 3600.0

    def __init__(self, settings: Callable[[], ServicesSection]) -> None:
        self._settings = settings
        self._ips: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._ips.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.WINDOW:
            times.popleft()
        if not times:
            del self._ips[key]
            return None
        return times

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` (an address) may start another registration; 0: now."""
        limit = self._settings().register_per_ip_per_hour
        times = self._recent(key, now)
        if limit <= 0 or times is None or len(times) < limit:
            return 0.0
        return max(1.0, times[-limit] + self.WINDOW - now)

    def take(self, key: str, now: float) -> float:
        """Count a registration from `key` if it may start one (returns 0), else the
        seconds to wait (nothing counted)."""
        wait = self.wait(key, now)
        if wait == 0.0 and self._settings().register_per_ip_per_hour > 0:
            self._ips.setdefault(key, deque()).append(now)
        return wait

    def untake(self, key: str) -> None:
        """Uncount the latest registration of `key` (it was refused after `take`)."""
        times = self._ips.get(key)
        if times:
            times.pop()
            if not times:
                del self._ips[key]

    def prune(self, now: float) -> None:
        for key in list(self._ips):
            self._recent(key, now)


def register_refusal(wait: float) -> str:
    """What a user refused by the registration limit is told."""
    minutes = max(1, int(wait + 59) // 60)
    return (
        "Too many account registrations from your address; "
        f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


# -- the account table


def _execute(sql: str, params: tuple[object, ...]) -> Callable[[sqlite_utils.Database], None]:
    """A write job for `Store.write_now`."""

    def job(db: sqlite_utils.Database) -> None:
        db.execute(sql, params)

    return job


class Accounts:
    """The accounts of this server: an in-memory copy of the table, written through."""

    def __init__(
        self,
        store: Store,
        settings: Callable[[], ServicesSection],
        clock: Callable[[], float],
        hash_fn: Callable[[str], str] = hash_password,
        verify_fn: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._hash = hash_fn
        self._verify = verify_fn
        self.limiter = LoginLimiter(settings)
        self.register_limiter = RegisterLimiter(settings)  # per IP, before hashing
        self._accounts: dict[str, Account] = {}
        self._certs: dict[str, str] = {}  # fingerprint -> folded account
        self._pending: set[str] = set()  # names whose registration is being hashed
        self.tombstones: dict[str, Tombstone] = {}  # folded name -> the latest drop
        # Called after an account was dropped (ChanServ hands its channels on).
        self.dropped: list[Callable[[Account], None]] = []
        # Called when another registration of the same name took an account's place
        # (network merges): whoever was logged in to the old one must log out.
        self.replaced: list[Callable[[Account], None]] = []
        self._secret = secrets.token_bytes(32)  # fake SCRAM salts for unknown names
        self._dummy_hash = ""  # what unknown names are checked against (check_unknown)
        self._dummy_lock = threading.Lock()  # checks run in the hashing threads
        self.load()

    def load(self) -> None:
        db = self.store.db
        self._accounts.clear()
        self._certs.clear()
        for row in db.execute(
            "SELECT name, password_hash, scram_salt, scram_iterations, scram_stored_key,"
            " scram_server_key, email, registered_at, enforce, home, updated_at, multiclient"
            " FROM accounts"
        ).fetchall():
            account = Account(
                row[0],
                row[1],
                ScramCredentials(
                    base64.b64decode(row[2]),
                    int(row[3]),
                    base64.b64decode(row[4]),
                    base64.b64decode(row[5]),
                ),
                row[6],
                float(row[7]),
                bool(row[8]),
                home=row[9],
                updated_at=float(row[10]),
                multiclient=bool(row[11]),
            )
            self._accounts[account.folded] = account
        self.tombstones = {
            row[0]: Tombstone(row[1], float(row[2]), float(row[3]), row[4])
            for row in db.execute(
                "SELECT folded, name, registered_at, dropped_at, home FROM account_tombstones"
            ).fetchall()
        }
        for fp, folded in db.execute(
            "SELECT fingerprint, account FROM account_certs ORDER BY added_at"
        ).fetchall():
            owner = self._accounts.get(folded)
            if owner is not None:
                owner.certs.append(fp)
                self._certs[fp] = folded

    def __len__(self) -> int:
        return len(self._accounts)

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._accounts.values()))

    def pending(self, name: str) -> bool:
        """Whether a registration of `name` is being hashed here."""
        return casefold(name) in self._pending

    # -- reading

    def get(self, name: str) -> Account | None:
        return self._accounts.get(casefold(name))

    def by_certfp(self, fingerprint: str) -> Account | None:
        folded = self._certs.get(fingerprint.lower())
        return self._accounts.get(folded) if folded is not None else None

    def fake_scram(self, name: str) -> ScramCredentials:
        """Stable made-up SCRAM parameters, so an unknown name looks like a known one."""
        salt = hmac.digest(self._secret, casefold(name).encode(), "sha256")[:16]
        return ScramCredentials(salt, self.settings().scram_iterations, b"\0" * 32, b"\0" * 32)

    # -- slow, pure: call these off the event loop

    def make_credentials(self, password: str) -> Credentials:
        return Credentials(
            self._hash(password), scram_credentials(password, self.settings().scram_iterations)
        )

    def check_password(self, account: Account, password: str) -> bool:
        return bool(password) and self._verify(account.password_hash, password)

    def check_unknown(self, password: str) -> bool:
        """`check_password` for a name with no account: the same argon2 verification,
        against a fixed hash of a random password (made once, on first use), so an
        unknown name is answered no sooner than a wrong password for a real one and
        tells nothing of which names exist.  Always False."""
        with self._dummy_lock:
            if not self._dummy_hash:
                self._dummy_hash = self._hash(secrets.token_urlsafe(24))
        if password:
            self._verify(self._dummy_hash, password)
        return False

    def check_job(self, account: Account | None, password: str) -> Callable[[], bool]:
        """The slow check of a login, to offload; for a name with no account (None),
        `check_unknown`: the same work and the same False as a wrong password."""
        if account is None:
            return partial(self.check_unknown, password)
        return partial(self.check_password, account, password)

    # -- registration

    def reserve(self, name: str) -> None:
        """Claim `name` while its password is being hashed; AccountError if taken."""
        folded = casefold(name)
        if folded in self._accounts or folded in self._pending:
            raise AccountError("ACCOUNT_EXISTS", f"The account {name} is already registered.")
        self._pending.add(folded)

    def release(self, name: str) -> None:
        self._pending.discard(casefold(name))

    def create(self, name: str, credentials: Credentials, email: str = "") -> Account:
        """Insert the account, committed before returning; AccountError if the name is taken."""
        scram = credentials.scram
        account = Account(
            name,
            credentials.password_hash,
            scram,
            email,
            self.clock(),
            self.settings().enforce_default,
        )
        account.updated_at = account.registered_at
        row = (
            account.folded,
            name,
            credentials.password_hash,
            base64.b64encode(scram.salt).decode(),
            scram.iterations,
            base64.b64encode(scram.stored_key).decode(),
            base64.b64encode(scram.server_key).decode(),
            email,
            account.registered_at,
            int(account.enforce),
            account.updated_at,
        )

        def insert(db: sqlite_utils.Database) -> None:
            db.execute(
                "INSERT INTO accounts (folded, name, password_hash, scram_salt,"
                " scram_iterations, scram_stored_key, scram_server_key, email,"
                " registered_at, enforce, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        try:
            self.store.write_now(insert)
        except sqlite3.IntegrityError:
            raise AccountError(
                "ACCOUNT_EXISTS", f"The account {name} is already registered."
            ) from None
        finally:
            self.release(name)
        self._accounts[account.folded] = account
        return account

    # -- changes

    def _require(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise AccountError("ACCOUNT_DOES_NOT_EXIST", f"The account {name} does not exist.")
        return account

    def _version(self, account: Account) -> float:
        """The version of a change made now: later than every earlier one."""
        return max(self.clock(), account.updated_at + 1e-6)

    def set_credentials(self, name: str, credentials: Credentials) -> None:
        account = self._require(name)
        scram = credentials.scram
        version = self._version(account)
        values = (
            credentials.password_hash,
            base64.b64encode(scram.salt).decode(),
            scram.iterations,
            base64.b64encode(scram.stored_key).decode(),
            base64.b64encode(scram.server_key).decode(),
            version,
            account.folded,
        )
        self.store.write_now(
            _execute(
                "UPDATE accounts SET password_hash = ?, scram_salt = ?, scram_iterations = ?,"
                " scram_stored_key = ?, scram_server_key = ?, updated_at = ? WHERE folded = ?",
                values,
            )
        )
        account.password_hash = credentials.password_hash
        account.scram = scram
        account.updated_at = version

    def set_enforce(self, name: str, enforce: bool) -> None:
        account = self._require(name)
        version = self._version(account)
        self.store.write_now(
            _execute(
                "UPDATE accounts SET enforce = ?, updated_at = ? WHERE folded = ?",
                (int(enforce), version, account.folded),
            )
        )
        account.enforce = enforce
        account.updated_at = version

    def set_multiclient(self, name: str, multiclient: bool) -> None:
        account = self._require(name)
        version = self._version(account)
        self.store.write_now(
            _execute(
                "UPDATE accounts SET multiclient = ?, updated_at = ? WHERE folded = ?",
                (int(multiclient), version, account.folded),
            )
        )
        account.multiclient = multiclient
        account.updated_at = version

    def drop(self, name: str, home: str = "", dropped_at: float | None = None) -> Tombstone:
        """Delete the account, leaving a tombstone (dropped by `home`, "" = this server,
        at `dropped_at`, default now) in the same transaction; `dropped` listeners run."""
        account = self._require(name)
        folded = account.folded
        when = self.clock() if dropped_at is None else dropped_at
        tombstone = Tombstone(account.name, account.registered_at, when, home)

        def delete(db: sqlite_utils.Database) -> None:
            db.execute("DELETE FROM account_certs WHERE account = ?", (folded,))
            db.execute("DELETE FROM account_metadata WHERE account = ?", (folded,))  # IRCv3
            db.execute("DELETE FROM accounts WHERE folded = ?", (folded,))
            _bury(db, tombstone)

        self.store.write_now(delete)
        del self._accounts[folded]
        self.tombstones[folded] = tombstone
        for fp in account.certs:
            self._certs.pop(fp, None)
        for listener in self.dropped:
            listener(account)
        return tombstone

    def add_cert(self, name: str, fingerprint: str) -> None:
        account = self._require(name)
        fp = normalize_fingerprint(fingerprint)
        if not fp:
            raise AccountError("INVALID_FINGERPRINT", "That is not a SHA-256 fingerprint.")
        owner = self._certs.get(fp)
        if owner == account.folded:
            raise AccountError("CERT_EXISTS", f"{fp} is already on your certificate list.")
        if owner is not None:
            raise AccountError("CERT_IN_USE", f"{fp} belongs to another account.")
        if len(account.certs) >= MAX_CERTS:
            raise AccountError(
                "TOO_MANY_CERTS", f"An account has at most {MAX_CERTS} certificates."
            )
        now = self.clock()
        version = self._version(account)

        def insert(db: sqlite_utils.Database) -> None:
            db.execute(
                "INSERT INTO account_certs (fingerprint, account, added_at) VALUES (?, ?, ?)",
                (fp, account.folded, now),
            )
            db.execute(
                "UPDATE accounts SET updated_at = ? WHERE folded = ?", (version, account.folded)
            )

        try:
            self.store.write_now(insert)
        except sqlite3.IntegrityError:
            raise AccountError("CERT_IN_USE", f"{fp} belongs to another account.") from None
        account.certs.append(fp)
        account.updated_at = version
        self._certs[fp] = account.folded

    def del_cert(self, name: str, fingerprint: str) -> bool:
        account = self._require(name)
        fp = normalize_fingerprint(fingerprint)
        if not fp or fp not in account.certs:
            return False
        version = self._version(account)

        def delete(db: sqlite_utils.Database) -> None:
            db.execute(
                "DELETE FROM account_certs WHERE fingerprint = ? AND account = ?",
                (fp, account.folded),
            )
            db.execute(
                "UPDATE accounts SET updated_at = ? WHERE folded = ?", (version, account.folded)
            )

        self.store.write_now(delete)
        account.certs.remove(fp)
        account.updated_at = version
        self._certs.pop(fp, None)
        return True

    # -- copies of accounts decided elsewhere (server networks)

    def put(self, record: Account) -> Account:
        """Hold `record` as its home has it, certificates included, committed before
        returning; returns the account now held.  The same registration is updated in
        place (a SASL check under way keeps it); another one of the same name replaces
        it (`replaced` listeners hear of the old one).  A fingerprint that another
        account holds stays with the account whose casefolded name sorts first."""
        folded = record.folded
        old = self._accounts.get(folded)
        certs: list[str] = []
        stolen: list[tuple[str, str]] = []  # (fingerprint, folded account it leaves)
        for fp in record.certs:
            owner = self._certs.get(fp)
            if owner is not None and owner != folded:
                if owner < folded:
                    continue
                stolen.append((fp, owner))
            if fp not in certs:
                certs.append(fp)
        scram = record.scram
        row = (
            folded,
            record.name,
            record.password_hash,
            base64.b64encode(scram.salt).decode(),
            scram.iterations,
            base64.b64encode(scram.stored_key).decode(),
            base64.b64encode(scram.server_key).decode(),
            record.email,
            record.registered_at,
            int(record.enforce),
            record.home,
            record.updated_at,
            int(record.multiclient),
        )
        now = self.clock()

        def upsert(db: sqlite_utils.Database) -> None:
            db.execute(
                "INSERT OR REPLACE INTO accounts (folded, name, password_hash, scram_salt,"
                " scram_iterations, scram_stored_key, scram_server_key, email,"
                " registered_at, enforce, home, updated_at, multiclient)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            db.execute("DELETE FROM account_certs WHERE account = ?", (folded,))
            for index, fp in enumerate(certs):
                db.execute(
                    "INSERT OR REPLACE INTO account_certs (fingerprint, account, added_at)"
                    " VALUES (?, ?, ?)",
                    (fp, folded, now + index * 1e-6),
                )

        self.store.write_now(upsert)
        for fp, owner in stolen:
            loser = self._accounts.get(owner)
            if loser is not None and fp in loser.certs:
                loser.certs.remove(fp)
        if old is not None:
            for fp in old.certs:
                if self._certs.get(fp) == folded:
                    del self._certs[fp]
        for fp in certs:
            self._certs[fp] = folded
        if old is not None and old.same_as(record):
            old.name = record.name
            old.password_hash = record.password_hash
            old.scram = record.scram
            old.email = record.email
            old.enforce = record.enforce
            old.multiclient = record.multiclient
            old.certs = certs
            old.home = record.home
            old.updated_at = record.updated_at
            return old
        account = dataclasses.replace(record, certs=certs)
        self._accounts[folded] = account
        if old is not None:
            for listener in self.replaced:
                listener(old)
        return account

    def remove(self, name: str, home: str = "", dropped_at: float | None = None) -> Account | None:
        """Drop a copy whose home (`home`) dropped it at `dropped_at`, leaving the same
        tombstone (`dropped` listeners run); None if unknown.  Only for a real drop: a
        copy that is merely missing somewhere is never removed."""
        account = self.get(name)
        if account is None:
            return None
        self.drop(account.name, home, dropped_at)
        return account

    # -- tombstones

    def tombstone(self, name: str) -> Tombstone | None:
        return self.tombstones.get(casefold(name))

    def bury(self, tombstone: Tombstone) -> bool:
        """Keep a tombstone learnt from another server (unless a later drop of the name
        is known); True if kept."""
        held = self.tombstones.get(tombstone.folded)
        if held is not None and held.dropped_at >= tombstone.dropped_at:
            return False
        self.store.write_now(lambda db: _bury(db, tombstone))
        self.tombstones[tombstone.folded] = tombstone
        return True

    def prune_tombstones(self, before: float) -> int:
        """Forget the drops made before `before`; how many were forgotten."""
        old = [k for k, t in self.tombstones.items() if t.dropped_at < before]
        if old:
            self.store.write_now(
                _execute("DELETE FROM account_tombstones WHERE dropped_at < ?", (before,))
            )
            for key in old:
                del self.tombstones[key]
        return len(old)


def _bury(db: sqlite_utils.Database, tombstone: Tombstone) -> None:
    db.execute(
        "INSERT OR REPLACE INTO account_tombstones (folded, name, registered_at, dropped_at,"
        " home) VALUES (?, ?, ?, ?, ?)",
        (
            tombstone.folded,
            tombstone.name,
            tombstone.registered_at,
            tombstone.dropped_at,
            tombstone.home,
        ),
    )


# -- SCRAM-SHA-256, the server side of RFC 5802 / RFC 7677


class ScramError(Exception):
    """The exchange failed; the text is for logs, clients only learn that it failed."""


def _attributes(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError(f"malformed attribute {part!r}")
        out.append((part[0], part[2:]))
    return out


def _saslname(text: str) -> str:
    if re.search(r"=(?!2C|3D)", text):
        raise ScramError("bad escape in username")
    return text.replace("=2C", ",").replace("=3D", "=")


class ScramServer:
    """One SCRAM-SHA-256 exchange: `first()` answers the client-first message,
    `final()` checks the proof and returns the server-final message."""

    def __init__(self, accounts: Accounts, nonce: Callable[[], str] | None = None) -> None:
        self.accounts = accounts
        self._nonce = nonce or (lambda: secrets.token_urlsafe(24))
        self.username = ""  # the account part of the SCRAM username
        # `account@device` (a client id, as Ergo takes it): the device part, else "".
        # The proof covers the username as sent; the salted password does not.
        self.device = ""
        self.account: Account | None = None
        self._credentials: ScramCredentials | None = None
        self._gs2_header = ""
        self._first_bare = ""
        self._server_first = ""
        self._nonce_full = ""

    def first(self, message: bytes) -> bytes:
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("client-first is not UTF-8") from None
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise ScramError("client-first without GS2 header")
        cbind, authzid, bare = parts
        if cbind not in ("n", "y"):
            raise ScramError("channel binding is not supported")  # p=... (no -PLUS offered)
        if authzid and not authzid.startswith("a="):
            raise ScramError("bad authzid")
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ScramError("client-first must start with n= and r=")
        if any(key == "m" for key, _ in attrs):
            raise ScramError("mandatory extension not supported")
        username, _, device = _saslname(attrs[0][1]).partition("@")
        if not username:
            raise ScramError("empty username")
        wanted = _saslname(authzid[2:]).partition("@")[0] if authzid else ""
        if wanted and casefold(wanted) != casefold(username):
            raise ScramError("authzid differs from the username")
        self.username = username
        self.device = device
        self.account = self.accounts.get(username)
        self._credentials = (
            self.account.scram if self.account is not None else self.accounts.fake_scram(username)
        )
        self._gs2_header = f"{cbind},{authzid},"
        self._first_bare = bare
        self._nonce_full = attrs[1][1] + self._nonce()
        salt = base64.b64encode(self._credentials.salt).decode()
        self._server_first = f"r={self._nonce_full},s={salt},i={self._credentials.iterations}"
        return self._server_first.encode()

    def final(self, message: bytes) -> bytes:
        """Check the client's proof; the server-final message, or ScramError."""
        credentials = self._credentials
        if credentials is None:
            raise ScramError("client-final before client-first")
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("client-final is not UTF-8") from None
        cut = text.rfind(",p=")
        if cut < 0:
            raise ScramError("client-final without proof")
        without_proof, proof_text = text[:cut], text[cut + 3 :]
        attrs = _attributes(without_proof)
        if len(attrs) < 2 or attrs[0][0] != "c" or attrs[1][0] != "r":
            raise ScramError("client-final must start with c= and r=")
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attrs[0][1] != expected_binding:
            raise ScramError("channel binding data does not match")
        if attrs[1][1] != self._nonce_full:
            raise ScramError("nonce does not match")
        try:
            proof = base64.b64decode(proof_text, validate=True)
        except ValueError:
            raise ScramError("proof is not base64") from None
        if len(proof) != hashlib.sha256().digest_size:
            raise ScramError("proof has the wrong length")
        auth_message = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        signature = hmac.digest(credentials.stored_key, auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if self.account is None or not hmac.compare_digest(
            hashlib.sha256(client_key).digest(), credentials.stored_key
        ):
            raise ScramError("wrong password")
        server_signature = hmac.digest(credentials.server_key, auth_message, "sha256")
        return b"v=" + base64.b64encode(server_signature)


def scram_client_proof(
    password: str, salt: bytes, iterations: int, auth_message: bytes
) -> tuple[bytes, bytes]:
    """The client side, for tests and tools: (ClientProof, expected ServerSignature)."""
    credentials = scram_credentials(password, iterations, salt)
    salted = hashlib.pbkdf2_hmac("sha256", _prepared(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    signature = hmac.digest(credentials.stored_key, auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return proof, hmac.digest(credentials.server_key, auth_message, "sha256")
