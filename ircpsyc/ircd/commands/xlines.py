"""Server bans: K-lines (user@host) and D-lines (IP address or CIDR block).

    KLINE [<duration>] <user@host|nick> [:<reason>]     (also KLINE <mask> <duration> :<reason>)
    UNKLINE <user@host>
    DLINE [<duration>] <ip|cidr|nick> [:<reason>]
    UNDLINE <ip|cidr>
    STATS k | K    the K-lines      STATS d | D    the D-lines

A duration is a number of minutes (`30`), or amounts with units `w d h m s`
(`1d12h`, `90s`); `0` or none means permanent.  A nick is turned into
`*@host` (K-line) or its IP address (D-line).  The host part of a K-line may be
a glob or a CIDR block; both match the host name and the IP address.

Bans are written to the store's `server_bans` table with a durable commit before
the operator gets an answer, and are loaded again at start, so they survive a
restart (and a crash).  Adding one disconnects the matching clients at once
(465 ERR_YOUREBANNEDCREEP, then ERROR); new connections are refused: D-lines
when they connect, K-lines when they register.  Timed bans lift by themselves.
Every change is a server notice with mask `x`.  All need the `ban` privilege.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from irctokens.line import Line

from ircpsyc.channels.extbans import host_match
from ircpsyc.channels.modes import mask_match
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.store import Store

log = logging.getLogger(__name__)

KLINE = "K"
DLINE = "D"
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"\A(?:\d+[wdhms])+\Z")
MAX_REASON = 300


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

    def describe(self, now: float) -> str:
        what = "K-line" if self.kind == KLINE else "D-line"
        if self.expires:
            left = format_duration(self.expires - now)
            return f"timed {what} for {self.mask} (expires in {left})"
        return f"permanent {what} for {self.mask}"


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

    def __init__(self, core: IRCServer) -> None:
        self.core = core
        self.bans: dict[tuple[str, str], ServerBan] = {}  # (kind, folded mask) -> ban
        self.store: Store | None = None

    @staticmethod
    def _key(kind: str, mask: str) -> tuple[str, str]:
        return kind, casefold(mask) if kind == KLINE else mask.lower()

    # -- the store

    def attach(self, store: Store) -> None:
        """Load the bans kept in the store (dropping the ones that expired meanwhile)."""
        self.store = store
        now = self.core.clock()
        rows = list(
            store.db.execute("SELECT kind, mask, reason, setter, set_at, expires FROM server_bans")
        )
        expired = []
        for kind, mask, reason, setter, set_at, expires in rows:
            if kind not in (KLINE, DLINE):
                continue
            if expires and expires <= now:
                expired.append((kind, mask))
                continue
            ban = ServerBan(kind, mask, reason, setter, float(set_at), float(expires or 0))
            self.bans[self._key(kind, mask)] = ban
        if expired:
            store.write_now(lambda db: _delete(db, expired))
        log.info("loaded %d server bans", len(self.bans))

    def _save(self, ban: ServerBan, replaced: ServerBan | None) -> None:
        if self.store is None:
            return
        row = {
            "kind": ban.kind,
            "mask": ban.mask,
            "reason": ban.reason,
            "setter": ban.setter,
            "set_at": ban.set_at,
            "expires": ban.expires,
        }

        def job(db: sqlite_utils.Database) -> None:
            if replaced is not None:
                _delete(db, [(replaced.kind, replaced.mask)])
            db.table("server_bans").upsert(row, pk=("kind", "mask"))

        self.store.write_now(job)

    # -- changes

    def add(self, kind: str, mask: str, reason: str, setter: str, duration: int) -> ServerBan:
        now = self.core.clock()
        ban = ServerBan(kind, mask, reason, setter, now, now + duration if duration else 0.0)
        key = self._key(kind, mask)
        replaced = self.bans.get(key)
        self._save(ban, replaced)  # durable before anybody hears of it
        self.bans[key] = ban
        return ban

    def remove(self, kind: str, mask: str) -> ServerBan | None:
        ban = self.bans.get(self._key(kind, mask))
        if ban is None:
            return None
        if self.store is not None:
            self.store.write_now(lambda db: _delete(db, [(ban.kind, ban.mask)]))
        del self.bans[self._key(kind, mask)]
        return ban

    def expire(self) -> list[ServerBan]:
        now = self.core.clock()
        gone = [b for b in self.bans.values() if b.expires and b.expires <= now]
        if not gone:
            return []
        for ban in gone:
            del self.bans[self._key(ban.kind, ban.mask)]
        if self.store is not None:
            pairs = [(b.kind, b.mask) for b in gone]
            self.store.write_now(lambda db: _delete(db, pairs))
        return gone

    # -- matching

    def match(self, user: str, host: str, ip: str) -> ServerBan | None:
        """The ban that keeps a connection out (D-lines first), or None."""
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
                if mask_match(ban_user, user) and host_match(ban_host, host, ip):
                    return ban
        return None

    def matches(self, ban: ServerBan, session: Session) -> bool:
        if ban.kind == DLINE:
            return host_match(ban.mask, session.ip, session.ip)
        if not session.user:
            return False
        ban_user, _, ban_host = ban.mask.partition("@")
        return mask_match(ban_user, session.user) and host_match(ban_host, session.host, session.ip)

    def enforce(self, ban: ServerBan) -> list[str]:
        """Disconnect the connections a new ban matches; their nicks (or IPs)."""
        gone = []
        what = "K-Lined" if ban.kind == KLINE else "D-Lined"
        for session in list(self.core.sessions):
            if session.closed or not self.matches(ban, session):
                continue
            gone.append(session.nick or session.ip)
            session.numeric(N.ERR_YOUREBANNEDCREEP, f"You are banned: {ban.reason}")
            session.close(f"{what}: {ban.reason}")
        return gone


def _delete(db: sqlite_utils.Database, pairs: list[tuple[str, str]]) -> None:
    for kind, mask in pairs:
        db.execute("DELETE FROM server_bans WHERE kind = ? AND mask = ?", [kind, mask])


# -- commands


def _xlines(s: Session) -> XLines:
    return s.core.moderation.xlines


def _parse_add(params: list[str]) -> tuple[int, str, str] | None:
    """(duration, target, reason) from either parameter order; None if no target."""
    if not params:
        return None
    first = parse_duration(params[0])
    if first is not None and len(params) > 1:
        return first, params[1], params[2] if len(params) > 2 else ""
    target = params[0]
    if len(params) > 1:
        later = parse_duration(params[1])
        if later is not None:
            return later, target, params[2] if len(params) > 2 else ""
        return 0, target, params[1]
    return 0, target, ""


def _add(s: Session, msg: Line, kind: str) -> None:
    from ircpsyc.ircd.commands.moderation import require_privilege

    if not require_privilege(s, "ban"):
        return
    parsed = _parse_add(list(msg.params))
    name = "KLINE" if kind == KLINE else "DLINE"
    if parsed is None:
        s.numeric(N.ERR_NEEDMOREPARAMS, name, "Not enough parameters")
        return
    duration, target, reason = parsed
    mask: str | None
    if "@" not in target and "." not in target and ":" not in target and "/" not in target:
        victim = s.core.find(target)  # a nick
        if victim is None:
            s.numeric(N.ERR_NOSUCHNICK, target, "No such nick/channel")
            return
        mask = f"*@{victim.host}" if kind == KLINE else canonical_dline(victim.ip)
    else:
        mask = canonical_kline(target) if kind == KLINE else canonical_dline(target)
    if mask is None:
        s.fail(name, "INVALID_MASK", target, "Not a valid mask")
        return
    if too_broad(kind, mask):
        s.fail(name, "MASK_TOO_BROAD", mask, "That mask would ban too many users")
        return
    client = s.client
    assert client is not None
    reason = (reason or "No reason given")[:MAX_REASON]
    xlines = _xlines(s)
    ban = xlines.add(kind, mask, reason, f"{client.nick}!{client.user}@{client.host}", duration)
    now = s.core.clock()
    s.core.moderation.snomasks.send("x", f"{client.nick} added {ban.describe(now)}: {reason}")
    s.note(f"Added {ban.describe(now)}: {reason}")
    gone = xlines.enforce(ban)
    if gone:
        s.core.moderation.snomasks.send(
            "x", f"{ban.mask} disconnected {len(gone)} client(s): {', '.join(gone[:20])}"
        )


def _remove(s: Session, msg: Line, kind: str) -> None:
    from ircpsyc.ircd.commands.moderation import require_privilege

    if not require_privilege(s, "ban"):
        return
    name = "UNKLINE" if kind == KLINE else "UNDLINE"
    target = msg.params[0]
    mask = canonical_kline(target) if kind == KLINE else canonical_dline(target)
    ban = _xlines(s).remove(kind, mask) if mask is not None else None
    what = "K-line" if kind == KLINE else "D-line"
    if ban is None:
        s.fail(name, "NO_SUCH_BAN", target, f"No {what} for {target}")
        return
    client = s.client
    assert client is not None
    s.core.moderation.snomasks.send("x", f"{client.nick} removed the {what} for {ban.mask}")
    s.note(f"Removed the {what} for {ban.mask}")


# KLINE [<duration>] <user@host|nick> [:<reason>]
@command("KLINE", min_params=1, oper=True)
def handle_kline(s: Session, msg: Line) -> None:
    """KLINE [duration] <user@host|nick> [:reason]: ban user@host from this server.
    Duration in minutes, or like 1d12h; 0 or none is permanent."""
    _add(s, msg, KLINE)


# UNKLINE <user@host>
@command("UNKLINE", min_params=1, oper=True)
def handle_unkline(s: Session, msg: Line) -> None:
    """UNKLINE <user@host>: lift a K-line."""
    _remove(s, msg, KLINE)


# DLINE [<duration>] <ip|cidr|nick> [:<reason>]
@command("DLINE", min_params=1, oper=True)
def handle_dline(s: Session, msg: Line) -> None:
    """DLINE [duration] <ip|cidr|nick> [:reason]: refuse connections from an address.
    Duration in minutes, or like 1d12h; 0 or none is permanent."""
    _add(s, msg, DLINE)


# UNDLINE <ip|cidr>
@command("UNDLINE", min_params=1, oper=True)
def handle_undline(s: Session, msg: Line) -> None:
    """UNDLINE <ip|cidr>: lift a D-line."""
    _remove(s, msg, DLINE)


def send_stats(s: Session, query: str) -> bool:
    """STATS k/K (K-lines) and d/D (D-lines), for operators; False for other queries."""
    if query not in "kKdD":
        return False
    client = s.client
    if client is None or not client.is_oper:
        s.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return True
    kind = KLINE if query in "kK" else DLINE
    now = s.core.clock()
    for ban in sorted(_xlines(s).bans.values(), key=lambda b: b.set_at):
        if ban.kind != kind or (ban.expires and ban.expires <= now):
            continue
        left = f" (expires in {format_duration(ban.expires - now)})" if ban.expires else ""
        text = f"{ban.reason}{left} [set by {ban.setter.split('!')[0]}]"
        if kind == KLINE:
            user, _, host = ban.mask.partition("@")
            s.numeric(N.RPL_STATSKLINE, "K", host, "*", user, text)
        else:
            s.numeric(N.RPL_STATSDLINE, "D", ban.mask, text)
    return True
