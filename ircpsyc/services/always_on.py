"""Always-on persons: the accounts whose person stays online with no connection.

A logged-in account's person may stay online when its last connection leaves
(Ergo's always-on, psyced's persons without a location): it keeps its nick and
channels and what it is sent waits for its next connection.  This service
decides whether an account's person does (the policy `[accounts] always_on`
and each account's choice, NickServ `SET ALWAYS-ON`), keeps the record of
every person online with no connection in the store so that a restarted
server brings it back, and says which of them went unused for
`[accounts] always_on_expire` days.

It is sans-IO apart from the store (writes are `write_now`: a restart must
find them) and takes its time from the injected clock; the IRC front-end
(`ircpsyc.ircd.always_on`) keeps persons online, attaches connections and
restores the records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.config import AccountsSection
    from ircpsyc.store import Store

log = logging.getLogger(__name__)

OPT_IN = "opt-in"
OPT_OUT = "opt-out"
MANDATORY = "mandatory"
DISABLED = "disabled"

DAY = 86400.0


@dataclass(slots=True)
class KeptPerson:
    """What a restarted server needs to bring an always-on person back."""

    account: str  # casefolded
    nick: str
    user: str
    host: str
    realname: str
    ip: str
    away: str = ""
    modes: str = ""
    channels: list[str] = field(default_factory=list)
    signon: float = 0.0
    last_used: float = 0.0


class AlwaysOnService:
    """The policy, each account's choice, and the records of always-on persons."""

    def __init__(self, settings: Callable[[], AccountsSection], clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self.store: Store | None = None
        self.choices: dict[str, bool] = {}  # casefolded account -> SET ALWAYS-ON
        self.kept: dict[str, KeptPerson] = {}  # casefolded account -> record in the store
        # Casefolded account -> since when its person has had no connection.
        self.idle: dict[str, float] = {}

    def attach(self, store: Store) -> None:
        """Read the choices and records from the store; keep them there from now on."""
        self.store = store
        db = store.db
        for account, on in db.execute("SELECT account, always_on FROM always_on_choices"):
            self.choices[account] = bool(on)
        columns = (
            "account, nick, user, host, realname, ip, away, modes, channels, signon, last_used"
        )
        for row in db.execute(f"SELECT {columns} FROM always_on_persons"):
            try:
                channels = [str(c) for c in json.loads(row[8])]
            except (ValueError, TypeError):
                channels = []
            account, nick, user, host, realname, ip, away, modes = (str(v) for v in row[:8])
            self.kept[account] = KeptPerson(
                account,
                nick,
                user,
                host,
                realname,
                ip,
                away,
                modes,
                channels,
                float(row[9]),
                float(row[10]),
            )

    # -- the policy

    def enabled(self, account: str) -> bool:
        """Whether `account`'s person stays online with no connection."""
        policy = self.settings().always_on
        if policy == DISABLED:
            return False
        if policy == MANDATORY:
            return True
        choice = self.choices.get(casefold(account))
        return choice if choice is not None else policy == OPT_OUT

    def choose(self, account: str, on: bool) -> str:
        """NickServ SET ALWAYS-ON: "" when done, else why not."""
        policy = self.settings().always_on
        if policy == DISABLED:
            return "Always-on is disabled on this server."
        if policy == MANDATORY:
            return "Always-on is mandatory on this server; it cannot be turned off or on."
        folded = casefold(account)
        self.choices[folded] = on
        self._write(
            "INSERT OR REPLACE INTO always_on_choices (account, always_on) VALUES (?, ?)",
            (folded, int(on)),
        )
        return ""

    # -- the records

    def save(self, record: KeptPerson) -> None:
        """Keep (or update) the record of an always-on person."""
        self.kept[record.account] = record
        self._write(
            "INSERT OR REPLACE INTO always_on_persons (account, nick, user, host, realname, "
            "ip, away, modes, channels, signon, last_used) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.account,
                record.nick,
                record.user,
                record.host,
                record.realname,
                record.ip,
                record.away,
                record.modes,
                json.dumps(record.channels),
                record.signon,
                record.last_used,
            ),
        )

    def forget(self, account: str) -> None:
        """The account's person is no longer online: not restored after a restart."""
        folded = casefold(account)
        self.idle.pop(folded, None)
        if self.kept.pop(folded, None) is not None:
            self._write("DELETE FROM always_on_persons WHERE account = ?", (folded,))

    def dropped(self, account: str) -> None:
        """The account is gone: its choice and its record too."""
        folded = casefold(account)
        self.forget(folded)
        if self.choices.pop(folded, None) is not None:
            self._write("DELETE FROM always_on_choices WHERE account = ?", (folded,))

    # -- expiry

    def unused(self, account: str, since: float) -> None:
        """The account's person has had no connection since `since`."""
        self.idle[casefold(account)] = since

    def used(self, account: str) -> None:
        """A connection attached to the account's person."""
        self.idle.pop(casefold(account), None)

    def expired(self, now: float | None = None) -> list[str]:
        """The (casefolded) accounts whose person went unused too long."""
        days = self.settings().always_on_expire
        if days <= 0:
            return []
        now = self.clock() if now is None else now
        limit = now - days * DAY
        return [account for account, since in self.idle.items() if since <= limit]

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        store = self.store
        if store is None:
            return

        def job(db: sqlite_utils.Database) -> None:
            db.execute(sql, params)

        try:
            store.write_now(job)
        except Exception:  # a full disk must not take a user's QUIT down with it
            log.exception("always-on: could not write to the store")
