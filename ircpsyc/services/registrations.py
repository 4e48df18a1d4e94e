"""Channel registrations: the durable table behind ChanServ.

A registration names a channel's founder (an account), its options (topic
lock, mode lock, the founder's automatic mode), the state it keeps across
restarts (modes, key, limit, +f, the +b/+e/+I lists and the topic) and its
access list: accounts with a level (admin, op, halfop, voice) and an
automatic-mode flag, and ban entries (masks, `a:account` for accounts) that
are banned and kicked when they join.

The tables live in the store (migration `_m5_chanserv` in ircpsyc.store);
this module keeps a copy of them in memory, so ChanServ and the place hooks
read without touching the database, and every change is written through
`Store.write_now`, committed before the caller answers.  The casefolded
channel name is the primary key: of two concurrent registrations of one
channel exactly one is inserted.  Nothing here knows about IRC.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlite_utils

from ircpsyc.channels import modes as M
from ircpsyc.channels.modes import ADMIN, FOUNDER, HALFOP, NO_RANK, OP, VOICE
from ircpsyc.channels.place import Place, PlaceView
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.common import ServiceError

if TYPE_CHECKING:
    from ircpsyc.store import Store

BANNED = 9  # the level of a ban entry: below every rank and below no access at all

# Level names as ACCESS takes them (the XOP names of other services too).
LEVELS: dict[str, int] = {
    "admin": ADMIN,
    "sop": ADMIN,
    "op": OP,
    "aop": OP,
    "halfop": HALFOP,
    "hop": HALFOP,
    "voice": VOICE,
    "vop": VOICE,
    "ban": BANNED,
    "akick": BANNED,
}
LEVEL_NAMES: dict[int, str] = {
    FOUNDER: "founder",
    ADMIN: "admin",
    OP: "op",
    HALFOP: "halfop",
    VOICE: "voice",
    BANNED: "ban",
    NO_RANK: "none",
}


def parse_level(text: str) -> int | None:
    return LEVELS.get(text.lower())


def level_mode(level: int) -> str:
    """The channel mode a level gives on join: q a o h v, or "" for none."""
    return M.RANK_ORDER[level] if FOUNDER <= level <= VOICE else ""


# -- what a registered channel keeps


@dataclass(slots=True)
class ChannelState:
    """The part of a place that survives restarts (flood quiets with an expiry do not)."""

    flags: str = "nt"
    key: str = ""
    limit: int = 0
    flood: str = ""
    lists: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    topic: str = ""
    topic_setter: str = ""
    topic_time: int = 0
    # The server that keeps a renamed channel whose new name hashes elsewhere ("":
    # where its name hashes); not a place's state, carried over by ChanServ.
    home: str = ""
    metadata: dict[str, str] = field(default_factory=dict)  # IRCv3 channel metadata

    @classmethod
    def of(cls, place: PlaceView) -> ChannelState:
        return cls(
            "".join(sorted(place.flags)),
            place.key,
            place.limit,
            str(place.flood) if place.flood is not None else "",
            {
                mode: [(e.mask, e.setter, e.set_at) for e in entries if not e.expires]
                for mode, entries in place.lists.items()
                if any(not e.expires for e in entries)
            },
            place.topic,
            place.topic_setter,
            place.topic_time,
            metadata=dict(place.metadata),
        )

    def apply(self, place: Place, flags: str = "") -> None:
        """Give a new (empty) place this state, with the mode letters `flags` besides."""
        place.restore(
            self.flags + flags,
            self.key,
            self.limit,
            self.flood,
            self.lists,
            self.topic,
            self.topic_setter,
            self.topic_time,
            self.metadata,
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "flags": self.flags,
            "key": self.key,
            "limit": self.limit,
            "flood": self.flood,
            "lists": {mode: [list(e) for e in entries] for mode, entries in self.lists.items()},
            "topic": self.topic,
            "topic_setter": self.topic_setter,
            "topic_time": self.topic_time,
            "metadata": self.metadata,
        }
        if self.home:
            data["home"] = self.home
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ChannelState:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        lists: dict[str, list[tuple[str, str, int]]] = {}
        for mode, entries in dict(data.get("lists") or {}).items():
            if mode in M.LIST_MODES and isinstance(entries, list):
                lists[mode] = [
                    (str(e[0]), str(e[1]), int(e[2]))
                    for e in entries
                    if isinstance(e, list) and len(e) == 3
                ]
        flags = "".join(c for c in str(data.get("flags", "nt")) if c in M.FLAG_MODES)
        return cls(
            "".join(sorted(set(flags))),
            str(data.get("key", "")),
            int(data.get("limit", 0) or 0),
            str(data.get("flood", "")),
            lists,
            str(data.get("topic", "")),
            str(data.get("topic_setter", "")),
            int(data.get("topic_time", 0) or 0),
            str(data.get("home", "")),
            {
                str(k): str(v)
                for k, v in dict(data.get("metadata") or {}).items()
                if isinstance(v, str)
            },
        )


@dataclass(slots=True)
class AccessEntry:
    """An account with a level, or a ban entry (`name` is then the mask)."""

    name: str
    level: int
    auto: bool
    setter: str
    added_at: float
    reason: str = ""

    @property
    def key(self) -> str:
        return casefold(self.name)

    @property
    def is_ban(self) -> bool:
        return self.level == BANNED


@dataclass(slots=True)
class Registration:
    name: str
    founder: str  # account name
    registered_at: float
    topiclock: bool = False
    founder_auto: bool = True
    mlock: str = ""
    state: ChannelState = field(default_factory=ChannelState)
    access: dict[str, AccessEntry] = field(default_factory=dict)  # key -> entry

    @property
    def folded(self) -> str:
        return casefold(self.name)

    def is_founder(self, account: str) -> bool:
        return bool(account) and casefold(account) == casefold(self.founder)

    def level_of(self, account: str) -> int:
        """FOUNDER .. VOICE, or NO_RANK for no access (ban entries are not access)."""
        if not account:
            return NO_RANK
        if self.is_founder(account):
            return FOUNDER
        entry = self.access.get(casefold(account))
        if entry is None or entry.is_ban:
            return NO_RANK
        return entry.level

    def auto_mode(self, account: str) -> str:
        """The mode `account` gets when it joins ("" if none or AMODE is off)."""
        level = self.level_of(account)
        if level == FOUNDER:
            return "q" if self.founder_auto else ""
        entry = self.access.get(casefold(account)) if level != NO_RANK else None
        return level_mode(level) if entry is not None and entry.auto else ""

    def bans(self) -> list[AccessEntry]:
        return [e for e in self.access.values() if e.is_ban]

    def privileged(self) -> list[AccessEntry]:
        return [e for e in self.access.values() if not e.is_ban]


class RegistrationError(ServiceError):
    """A refused change, with a sentence for the user."""


def _execute(sql: str, params: tuple[object, ...]) -> Callable[[sqlite_utils.Database], None]:
    def job(db: sqlite_utils.Database) -> None:
        db.execute(sql, params)

    return job


class ChannelRegistrations:
    """The registered channels of this server: an in-memory copy, written through."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self._channels: dict[str, Registration] = {}
        self.load()

    def load(self) -> None:
        db = self.store.db
        self._channels.clear()
        for row in db.execute(
            "SELECT name, founder, registered_at, topiclock, founder_auto, mlock, state"
            " FROM chanserv_channels"
        ).fetchall():
            reg = Registration(
                row[0],
                row[1],
                float(row[2]),
                bool(row[3]),
                bool(row[4]),
                row[5],
                ChannelState.from_json(row[6]),
            )
            self._channels[reg.folded] = reg
        for row in db.execute(
            "SELECT channel, name, level, auto, reason, setter, added_at FROM chanserv_access"
            " ORDER BY added_at"
        ).fetchall():
            owner = self._channels.get(row[0])
            if owner is not None:
                entry = AccessEntry(
                    row[1], int(row[2]), bool(row[3]), row[5], float(row[6]), row[4]
                )
                owner.access[entry.key] = entry

    # -- reading

    def get(self, channel: str) -> Registration | None:
        return self._channels.get(casefold(channel))

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)

    def founded_by(self, account: str) -> list[Registration]:
        folded = casefold(account)
        return [r for r in self._channels.values() if casefold(r.founder) == folded]

    # -- registering and dropping

    def register(self, name: str, founder: str, state: ChannelState) -> Registration:
        """Insert the registration, committed before returning; RegistrationError if taken."""
        reg = Registration(name, founder, self.clock(), state=state)
        if reg.folded in self._channels:
            raise RegistrationError(f"{name} is already registered.")
        row = (reg.folded, name, founder, reg.registered_at, state.to_json())
        try:
            self.store.write_now(
                _execute(
                    "INSERT INTO chanserv_channels (folded, name, founder, registered_at, state)"
                    " VALUES (?, ?, ?, ?, ?)",
                    row,
                )
            )
        except sqlite3.IntegrityError:
            raise RegistrationError(f"{name} is already registered.") from None
        self._channels[reg.folded] = reg
        return reg

    def drop(self, reg: Registration) -> None:
        folded = reg.folded

        def delete(db: sqlite_utils.Database) -> None:
            db.execute("DELETE FROM chanserv_access WHERE channel = ?", (folded,))
            db.execute("DELETE FROM chanserv_channels WHERE folded = ?", (folded,))

        self.store.write_now(delete)
        if self._channels.get(folded) is reg:
            del self._channels[folded]

    # -- changes

    def set_founder(self, reg: Registration, account: str) -> None:
        """TRANSFER: `account` becomes the founder; its access entry (if any) goes."""
        folded, key = reg.folded, casefold(account)

        def update(db: sqlite_utils.Database) -> None:
            db.execute(
                "UPDATE chanserv_channels SET founder = ?, founder_auto = 1 WHERE folded = ?",
                (account, folded),
            )
            db.execute(
                "DELETE FROM chanserv_access WHERE channel = ? AND target = ?", (folded, key)
            )

        self.store.write_now(update)
        reg.founder = account
        reg.founder_auto = True
        reg.access.pop(key, None)

    def set_options(
        self,
        reg: Registration,
        *,
        topiclock: bool | None = None,
        founder_auto: bool | None = None,
        mlock: str | None = None,
    ) -> None:
        new_topiclock = reg.topiclock if topiclock is None else topiclock
        new_auto = reg.founder_auto if founder_auto is None else founder_auto
        new_mlock = reg.mlock if mlock is None else mlock
        self.store.write_now(
            _execute(
                "UPDATE chanserv_channels SET topiclock = ?, founder_auto = ?, mlock = ?"
                " WHERE folded = ?",
                (int(new_topiclock), int(new_auto), new_mlock, reg.folded),
            )
        )
        reg.topiclock, reg.founder_auto, reg.mlock = new_topiclock, new_auto, new_mlock

    def rename(self, reg: Registration, name: str, home: str) -> None:
        """RENAME: the registration, its access list and saved state follow the channel;
        `home`: the server that keeps it when the new name hashes elsewhere ("": none)."""
        old, new = reg.folded, casefold(name)
        state = dataclasses.replace(reg.state, home=home)

        def update(db: sqlite_utils.Database) -> None:
            db.execute("UPDATE chanserv_access SET channel = ? WHERE channel = ?", (new, old))
            db.execute(
                "UPDATE chanserv_channels SET folded = ?, name = ?, state = ? WHERE folded = ?",
                (new, name, state.to_json(), old),
            )

        self.store.write_now(update)
        if self._channels.get(old) is reg:
            del self._channels[old]
        reg.name, reg.state = name, state
        self._channels[new] = reg

    def save_state(self, reg: Registration, state: ChannelState) -> None:
        self.store.write_now(
            _execute(
                "UPDATE chanserv_channels SET state = ? WHERE folded = ?",
                (state.to_json(), reg.folded),
            )
        )
        reg.state = state

    def put_access(self, reg: Registration, entry: AccessEntry) -> None:
        """Add or replace an access entry."""
        self.store.write_now(
            _execute(
                "INSERT OR REPLACE INTO chanserv_access (channel, target, name, level, auto,"
                " reason, setter, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reg.folded,
                    entry.key,
                    entry.name,
                    entry.level,
                    int(entry.auto),
                    entry.reason,
                    entry.setter,
                    entry.added_at,
                ),
            )
        )
        reg.access[entry.key] = entry

    def del_access(self, reg: Registration, key: str) -> AccessEntry | None:
        entry = reg.access.get(key)
        if entry is None:
            return None
        self.store.write_now(
            _execute(
                "DELETE FROM chanserv_access WHERE channel = ? AND target = ?", (reg.folded, key)
            )
        )
        del reg.access[key]
        return entry

    def set_auto(self, reg: Registration, key: str, auto: bool) -> None:
        entry = reg.access[key]
        self.store.write_now(
            _execute(
                "UPDATE chanserv_access SET auto = ? WHERE channel = ? AND target = ?",
                (int(auto), reg.folded, key),
            )
        )
        entry.auto = auto

    def forget_account(self, account: str) -> int:
        """Remove the access entries (not ban entries) of a dropped account everywhere."""
        key = casefold(account)
        holders = [
            r for r in self._channels.values() if key in r.access and not r.access[key].is_ban
        ]
        if not holders:
            return 0
        self.store.write_now(
            _execute("DELETE FROM chanserv_access WHERE target = ? AND level != ?", (key, BANNED))
        )
        for reg in holders:
            del reg.access[key]
        return len(holders)
