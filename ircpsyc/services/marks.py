"""Points in time an account keeps: read markers, and what each device last saw.

`ReadMarkers` is draft/read-marker: per account and target (a channel or a nick,
casefolded) the time up to which the user has read it.  A marker only ever
moves forward: setting an older time answers the stored one.  A session that is
not logged in to an account has markers too, kept in memory for its person
while it is online (irctest and Ergo do so), never stored.

`LastSeen` is what the replay of missed lines (ircpsyc.ircd.replay) starts
from: per account and device (the client id of `account@device`) the time up to
which that device has seen the account's channels and private messages, and
under the device "" the time the account's person last went offline, which is
where a session without a client id starts.

Both are small (a row per account and target, or device): the tables are read
into memory when the store is attached and written behind through the store's
writer thread, so a restart keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.store import Store

# Owners of markers that are not stored (a session without an account) begin so.
EPHEMERAL = "~"


class _Marks:
    """(owner, name) -> time in ms, only moving forward; owners that start with
    EPHEMERAL are never stored."""

    TABLE = ""
    COLUMN = ""

    def __init__(self) -> None:
        self.store: Store | None = None
        self._marks: dict[str, dict[str, int]] = {}  # owner -> name -> time

    def attach(self, store: Store) -> None:
        self.store = store
        sql = f"SELECT account, {self.COLUMN}, time FROM {self.TABLE}"
        for owner, name, stamp in store.db.execute(sql):
            held = self._marks.setdefault(owner, {})
            held[name] = max(int(stamp), held.get(name, 0))

    def _get(self, owner: str, name: str) -> int | None:
        held = self._marks.get(owner)
        return held.get(name) if held is not None else None

    def _set(self, owner: str, name: str, stamp: int) -> int:
        """Move the mark forward to `stamp`; the mark as it is now."""
        marks = self._marks.setdefault(owner, {})
        held = marks.get(name)
        if held is not None and held >= stamp:
            return held
        marks[name] = stamp
        store = self.store
        if store is not None and not owner.startswith(EPHEMERAL):
            sql = (
                f"INSERT INTO {self.TABLE} (account, {self.COLUMN}, time) VALUES (?, ?, ?) "
                f"ON CONFLICT (account, {self.COLUMN}) "
                "DO UPDATE SET time = max(time, excluded.time)"
            )
            args: list[object] = [owner, name, stamp]
            store.write_later(lambda db: _run(db, sql, args))
        return stamp

    def forget(self, owner: str) -> None:
        """Everything of `owner` (an account dropped, an ephemeral owner gone)."""
        self._marks.pop(owner, None)
        store = self.store
        if store is not None and not owner.startswith(EPHEMERAL):
            sql = f"DELETE FROM {self.TABLE} WHERE account = ?"
            store.write_later(lambda db: _run(db, sql, [owner]))


def _nobody(owner: str, target: str, stamp: int) -> None:
    """No network, nobody to tell."""


class ReadMarkers(_Marks):
    """draft/read-marker: the last read time per account (or ephemeral owner) and target.

    `shared` hands a marker a user of this server moved to the account's home
    (ircpsyc.services.marks_net); `arrived` tells this server's sessions of a marker
    the network moved."""

    TABLE = "read_markers"
    COLUMN = "target"

    def __init__(self) -> None:
        super().__init__()
        self.shared: Callable[[str, str, int], None] = _nobody
        self.arrived: Callable[[str, str, int], None] = _nobody
        # An account logged in here: ask its home for its markers.
        self.fetch: Callable[[str], None] = lambda account: None

    def get(self, owner: str, target: str) -> int | None:
        """The marker of `target` (ms), None when none was ever set."""
        return self._get(owner, casefold(target))

    def set(self, owner: str, target: str, stamp: int, share: bool = True) -> int:
        """Move the marker of `target` to `stamp` unless it is past it; the marker now.
        A stored marker that moved is shared with the network (`share`: set here by a
        user), or told to this server's sessions (set by the network)."""
        target = casefold(target)
        held = self._get(owner, target)
        now = self._set(owner, target, stamp)
        if now != held and not owner.startswith(EPHEMERAL):
            (self.shared if share else self.arrived)(owner, target, now)
        return now

    def all_of(self, owner: str) -> list[tuple[str, int]]:
        """Every marker of `owner`: (target, time)."""
        return list(self._marks.get(owner, {}).items())


class LastSeen(_Marks):
    """Per account and device: the time up to which it has seen what the account gets."""

    TABLE = "device_seen"
    COLUMN = "device"

    def get(self, account: str, device: str) -> int | None:
        """Where the replay of `device` starts: its own mark, else the account's last
        disconnect (device ""), None for an account never seen offline."""
        account = casefold(account)
        found = self._get(account, casefold(device)) if device else None
        return found if found is not None else self._get(account, "")

    def seen(self, account: str, device: str, stamp: int) -> None:
        """`device` of `account` has seen everything up to `stamp`."""
        self._set(casefold(account), casefold(device), stamp)


def _run(db: sqlite_utils.Database, sql: str, args: list[object]) -> None:
    db.execute(sql, args)


def owner_of(account: str, ephemeral: str) -> str:
    """The owner of markers: the casefolded account, else `ephemeral` (an id of the
    person that is unique while it is online) marked as not stored."""
    return casefold(account) if account else EPHEMERAL + ephemeral
