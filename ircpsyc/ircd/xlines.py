"""Server bans: K-lines (user@host) and D-lines (IP address or CIDR block).

    KLINE [<duration>] <user@host|nick> [:<reason>]     (also KLINE <mask> <duration> :<reason>)
    UNKLINE <user@host>
    DLINE [<duration>] <ip|cidr|nick> [:<reason>]
    UNDLINE <ip|cidr>
    STATS k | K    the K-lines      STATS d | D    the D-lines

A duration is a number of minutes (`30`), or amounts with units `w d h m s`
(`1d12h`, `90s`); `0` or none means permanent.  A nick is turned into
`*@host` (K-line) or its IP address (D-line; users of other servers of the
network have theirs in the roster).  The host part of a K-line may be
a glob or a CIDR block; both match the host name and the IP address, and a
glob matches the cloak of the address too (ircpsyc.ircd.cloak), shown or not:
`KLINE <nick>` of a cloaked user bans `*@cloak` without telling the operator
the address, and a K-line on the address holds against +x.

Bans are written to the store's `server_bans` table with a durable commit before
the operator gets an answer, and are loaded again at start, so they survive a
restart (and a crash).  Adding one disconnects the matching clients at once
(465 ERR_YOUREBANNEDCREEP, then ERROR); new connections are refused: D-lines
when they connect, K-lines when they register.  Timed bans lift by themselves.
Every change is a server notice with mask `x`.  All need the `ban` privilege.
The commands are in `ircpsyc.ircd.commands.xlines`.

In a network (ircpsyc.linking) the bans are network-wide: every change goes to
every server (ircpsyc.ircd.operator_service), which stores it, applies it to its own
connections and tells its operators who did it where.  Each ban is a version
(`stamp`, the wall clock in microseconds, then the `origin` server's name):
the newer version of a (kind, mask) wins, whether it adds or removes, so
servers that were apart converge when they exchange their lists.  A removal is
kept (the `server_ban_removals` table) until the ban it removed would have
expired (forever for a permanent one), so a server that missed an UNKLINE
cannot bring the ban back.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ircpsyc.channels.extbans import host_match
from ircpsyc.channels.modes import mask_match
from ircpsyc.ircd import numerics as N
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.ircd.ports import BanCore, BannableSession
    from ircpsyc.store import Store

log = logging.getLogger(__name__)

KLINE = "K"
DLINE = "D"
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"\A(?:\d+[wdhms])+\Z")
MAX_REASON = 300
NO_ADDRESS = frozenset({"", "0.0.0.0", "255.255.255.255"})  # placeholders, not addresses


def parse_duration(text: str) -> int | None:
    """Seconds for `30` (minutes), `1d12h`, `90s`; 0 is permanent; None if not a duration."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text) * 60
    if not _DURATION.match(text):
        return None
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([wdhms])", text))


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


@dataclass(slots=True)
class ServerBan:
    kind: str  # KLINE or DLINE
    mask: str  # user@host, or an address / CIDR block in canonical form
    reason: str
    setter: str
    set_at: float
    expires: float  # 0: permanent
    origin: str = ""  # the server where it was set
    stamp: int = 0  # its version: newer wins (see the module docstring)

    @property
    def version(self) -> tuple[int, str]:
        return self.stamp, self.origin

    def describe(self, now: float) -> str:
        if self.expires:
            left = format_duration(self.expires - now)
            return f"timed {what(self.kind)} for {self.mask} (expires in {left})"
        return f"permanent {what(self.kind)} for {self.mask}"


@dataclass(slots=True)
class BanRemoval:
    """A lifted ban, remembered so that an older copy of it cannot come back."""

    kind: str
    mask: str
    stamp: int
    origin: str
    remover: str
    until: float  # forgotten then: when the removed ban would have expired (0: never)

    @property
    def version(self) -> tuple[int, str]:
        return self.stamp, self.origin


def what(kind: str) -> str:
    return "K-line" if kind == KLINE else "D-line"


def canonical_dline(text: str) -> str | None:
    """`10.0.0.1` -> `10.0.0.1`, `10.1.2.3/8` -> `10.0.0.0/8`; None if not an address."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def canonical_kline(text: str) -> str | None:
    """`host` -> `*@host`; None when it has spaces or too many `@`."""
    text = text.strip()
    if not text or any(c.isspace() for c in text) or text.count("@") > 1 or "!" in text:
        return None
    if "@" not in text:
        text = "*@" + text
    user, _, host = text.partition("@")
    return f"{user or '*'}@{host or '*'}"


def too_broad(kind: str, mask: str) -> bool:
    if kind == DLINE:
        network = ipaddress.ip_network(mask, strict=False)
        return network.prefixlen < (8 if network.version == 4 else 32)
    host = mask.partition("@")[2]
    return not host.strip("*?.:/")


class XLines:
    """The K-lines and D-lines of this server, in memory and in the store."""

    def __init__(self, core: BanCore) -> None:
        self.core = core
        self.bans: dict[tuple[str, str], ServerBan] = {}  # (kind, folded mask) -> ban
        self.removals: dict[tuple[str, str], BanRemoval] = {}
        self.store: Store | None = None

    @staticmethod
    def _key(kind: str, mask: str) -> tuple[str, str]:
        return kind, casefold(mask) if kind == KLINE else mask.lower()

    def _version(self, key: tuple[str, str]) -> tuple[int, str]:
        current = self.bans.get(key) or self.removals.get(key)
        return current.version if current is not None else (0, "")

    def _stamp(self, key: tuple[str, str]) -> int:
        """A new version for `key`: the clock, but always past what we have (a change
        made in the same microsecond as the last one must still win)."""
        return max(int(self.core.clock() * 1_000_000), self._version(key)[0] + 1)

    # -- the store

    def attach(self, store: Store) -> None:
        """Load the bans kept in the store (dropping the ones that expired meanwhile)."""
        self.store = store
        now = self.core.clock()
        me = self.core.name.lower()
        rows = list(
            store.db.execute(
                "SELECT kind, mask, reason, setter, set_at, expires, origin, stamp FROM server_bans"
            )
        )
        expired = []
        for kind, mask, reason, setter, set_at, expires, origin, stamp in rows:
            if kind not in (KLINE, DLINE):
                continue
            if expires and expires <= now:
                expired.append((kind, mask))
                continue
            ban = ServerBan(
                kind,
                mask,
                reason,
                setter,
                float(set_at),
                float(expires or 0),
                origin or me,  # set before this server was linked: ours
                int(stamp or 0) or int(float(set_at) * 1_000_000),
            )
            self.bans[self._key(kind, mask)] = ban
        stale = []
        for kind, mask, stamp, origin, remover, until in store.db.execute(
            "SELECT kind, mask, stamp, origin, remover, until FROM server_ban_removals"
        ):
            if until and until <= now:
                stale.append((kind, mask))
                continue
            removal = BanRemoval(kind, mask, int(stamp), origin, remover, float(until))
            self.removals[self._key(kind, mask)] = removal
        if expired or stale:
            store.write_now(lambda db: _forget(db, expired, stale))
        log.info("loaded %d server bans", len(self.bans))

    def _save(self, bans: Iterable[ServerBan], removals: Iterable[BanRemoval]) -> None:
        """Write new versions (each replaces whatever its key had) durably."""
        if self.store is None:
            return
        bans, removals = list(bans), list(removals)
        old = {
            self._key(kind, mask): (kind, mask)
            for kind, mask in (
                *((b.kind, b.mask) for b in self.bans.values()),
                *((r.kind, r.mask) for r in self.removals.values()),
            )
        }
        ban_rows = [
            {
                "kind": ban.kind,
                "mask": ban.mask,
                "reason": ban.reason,
                "setter": ban.setter,
                "set_at": ban.set_at,
                "expires": ban.expires,
                "origin": ban.origin,
                "stamp": ban.stamp,
            }
            for ban in bans
        ]
        removal_rows = [
            {
                "kind": r.kind,
                "mask": r.mask,
                "stamp": r.stamp,
                "origin": r.origin,
                "remover": r.remover,
                "until": r.until,
            }
            for r in removals
        ]
        # A key's previous version may be spelled differently (K-line masks fold case).
        items: list[ServerBan | BanRemoval] = [*bans, *removals]
        keys = [self._key(item.kind, item.mask) for item in items]
        replaced = [old[key] for key in keys if key in old]

        def job(db: sqlite_utils.Database) -> None:
            _delete(db, replaced)
            _forget_removals(db, replaced)
            if ban_rows:
                db.table("server_bans").upsert_all(ban_rows, pk=("kind", "mask"))
            if removal_rows:
                db.table("server_ban_removals").upsert_all(removal_rows, pk=("kind", "mask"))

        self.store.write_now(job)

    # -- changes made here

    def add(self, kind: str, mask: str, reason: str, setter: str, duration: int) -> ServerBan:
        now = self.core.clock()
        key = self._key(kind, mask)
        ban = ServerBan(
            kind,
            mask,
            reason,
            setter,
            now,
            now + duration if duration else 0.0,
            self.core.name.lower(),
            self._stamp(key),
        )
        self._save([ban], [])  # durable before anybody hears of it
        self.removals.pop(key, None)
        self.bans[key] = ban
        return ban

    def remove(self, kind: str, mask: str, remover: str = "") -> BanRemoval | None:
        """Lift a ban; the removal that records it, or None when there is no such ban."""
        key = self._key(kind, mask)
        ban = self.bans.get(key)
        if ban is None:
            return None
        removal = BanRemoval(
            ban.kind, ban.mask, self._stamp(key), self.core.name.lower(), remover, ban.expires
        )
        self._save([], [removal])
        del self.bans[key]
        self.removals[key] = removal
        return removal

    # -- changes from other servers: the newer version wins

    def merge(
        self, bans: Iterable[ServerBan], removals: Iterable[BanRemoval]
    ) -> tuple[list[ServerBan], list[tuple[BanRemoval, ServerBan]]]:
        """Take the versions that are newer than ours: (bans added or replaced, (removal,
        the ban it lifted) pairs).  Bans that expired meanwhile are ignored."""
        now = self.core.clock()
        newer: dict[tuple[str, str], ServerBan | BanRemoval] = {}
        items: list[ServerBan | BanRemoval] = [*bans, *removals]
        for item in items:
            if item.kind not in (KLINE, DLINE):
                continue
            if isinstance(item, ServerBan) and item.expires and item.expires <= now:
                continue
            key = self._key(item.kind, item.mask)
            best = newer.get(key)
            if item.version > self._version(key) and (best is None or item.version > best.version):
                newer[key] = item
        if not newer:
            return [], []
        added = [item for item in newer.values() if isinstance(item, ServerBan)]
        taken = [item for item in newer.values() if isinstance(item, BanRemoval)]
        self._save(added, taken)
        lifted: list[tuple[BanRemoval, ServerBan]] = []
        for key, item in newer.items():
            if isinstance(item, ServerBan):
                self.removals.pop(key, None)
                self.bans[key] = item
            else:
                gone = self.bans.pop(key, None)
                self.removals[key] = item
                if gone is not None and not (gone.expires and gone.expires <= now):
                    lifted.append((item, gone))
        return added, lifted

    def versions(self) -> tuple[list[ServerBan], list[BanRemoval]]:
        """Everything a server that was apart needs to converge with us."""
        return list(self.bans.values()), list(self.removals.values())

    def expire(self) -> list[ServerBan]:
        """Drop the bans that ran out (and the removals nobody needs any more)."""
        now = self.core.clock()
        gone = [b for b in self.bans.values() if b.expires and b.expires <= now]
        stale = [r for r in self.removals.values() if r.until and r.until <= now]
        if not gone and not stale:
            return []
        for ban in gone:
            del self.bans[self._key(ban.kind, ban.mask)]
        for removal in stale:
            del self.removals[self._key(removal.kind, removal.mask)]
        if self.store is not None:
            pairs = [(b.kind, b.mask) for b in gone]
            old = [(r.kind, r.mask) for r in stale]
            self.store.write_now(lambda db: _forget(db, pairs, old))
        return gone

    # -- matching

    def match(self, user: str, host: str, ip: str, cloak: str = "") -> ServerBan | None:
        """The ban that keeps a connection out (D-lines first), or None.

        K-lines match the host, the address and the cloak of the address: an
        operator who sees only cloaks bans one (KLINE <nick> does) and it holds
        whether the user is +x or not, and a ban on the address holds under +x.
        """
        if not self.bans:
            return None
        now = self.core.clock()
        for ban in self.bans.values():
            if ban.expires and ban.expires <= now:
                continue
            if ban.kind == DLINE:
                if ip and host_match(ban.mask, ip, ip):
                    return ban
            elif user:
                ban_user, _, ban_host = ban.mask.partition("@")
                if mask_match(ban_user, user) and _host_or_cloak(ban_host, host, ip, cloak):
                    return ban
        return None

    def matches(self, ban: ServerBan, session: BannableSession) -> bool:
        if ban.kind == DLINE:
            return host_match(ban.mask, session.ip, session.ip)
        if not session.user:
            return False
        ban_user, _, ban_host = ban.mask.partition("@")
        cloak = session.client.cloak if session.client is not None else ""
        return mask_match(ban_user, session.user) and _host_or_cloak(
            ban_host, session.host, session.ip, cloak
        )

    def enforce(self, ban: ServerBan) -> list[str]:
        """Disconnect the connections a new ban matches; their nicks (or IPs)."""
        gone = []
        lined = "K-Lined" if ban.kind == KLINE else "D-Lined"
        for session in list(self.core.sessions):
            if session.closed or not self.matches(ban, session):
                continue
            gone.append(session.nick or session.ip)
            session.numeric(N.ERR_YOUREBANNEDCREEP, f"You are banned: {ban.reason}")
            session.close(f"{lined}: {ban.reason}")
        return gone


def _host_or_cloak(ban_host: str, host: str, ip: str, cloak: str) -> bool:
    return host_match(ban_host, host, ip) or (bool(cloak) and mask_match(ban_host, cloak))


def _delete(db: sqlite_utils.Database, pairs: list[tuple[str, str]]) -> None:
    for kind, mask in pairs:
        db.execute("DELETE FROM server_bans WHERE kind = ? AND mask = ?", [kind, mask])


def _forget_removals(db: sqlite_utils.Database, pairs: list[tuple[str, str]]) -> None:
    for kind, mask in pairs:
        db.execute("DELETE FROM server_ban_removals WHERE kind = ? AND mask = ?", [kind, mask])


def _forget(
    db: sqlite_utils.Database, bans: list[tuple[str, str]], removals: list[tuple[str, str]]
) -> None:
    _delete(db, bans)
    _forget_removals(db, removals)
