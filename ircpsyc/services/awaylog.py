"""The away log (psyced's lastlog idea): what a registered account missed.

While a registered account is away (AWAY set) or has no session at all,
private messages to it and channel messages that mention its nick are
recorded for it; when it comes back the front-end replays them with their
original times and marks them read.

Mentions are found by a place observer.  It keeps, per channel, the nicks
to watch (casefolded) and the account each belongs to, so a channel line
costs one dictionary lookup unless somebody absent is watched there; only
then is the text split into words.  Watches are added when a logged-in
member quits (it was in that channel when it went) or goes away, and dropped
when it parts, is kicked, or comes back.  They are kept in the store so they
survive a restart.

Entries go through the same write-behind as history: appended on the event
loop, inserted by the store's writer, merged with what is still pending when
read.  `resolve` is the seam to the account service: it maps a nick to the
registered account that owns it ("" for none); until accounts exist it
answers "" and only logged-in, away clients get entries.

A mention is kept only while its account has no session that is here and not
away (`present`, the seam to the rosters of the network: a watch that outlived
its reason, e.g. on a server the account quit from, records nothing), and it
goes where the account's away log lives (`route`: the front-end sends it to
the account's home server, ircpsyc.services.awaylog_net).  The same line may be
found by two servers (the channel's home, where the account quit, and the
server where it was away); its home keeps it once: `record` drops a line whose
msgid it has just kept for that account.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ircpsyc.channels.place import PlaceObserver, PlaceView
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.history import DAY_MS, PRUNE_AGE_EVERY, WriteBehind, encode_row

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.config import Config
    from ircpsyc.store import Store

# How many (account, msgid) pairs `record` remembers to keep each line once.
RECENT_IDS = 4096

# The characters of an IRC nick; anything else separates words.
_WORD = re.compile(r"[A-Za-z0-9\[\]\\`_^{|}~-]+")


def mentioned(text: str) -> set[str]:
    """The casefolded words of `text` that could be nicks."""
    return {casefold(word) for word in _WORD.findall(text)}


class AwayEntry:
    """One recorded line for an account."""

    __slots__ = ("account", "body", "channel", "home", "method", "read", "seq", "time", "vars")

    def __init__(
        self,
        seq: int,
        account: str,
        time_ms: int,
        channel: str,
        method: str,
        vars: dict[str, Value],
        body: str,
        read: bool = False,
        home: str = "",
    ) -> None:
        self.seq = seq
        self.account = account
        self.time = time_ms
        self.channel = channel  # display name of the channel, "" for a private message
        self.method = method
        self.vars = vars
        self.body = body
        self.read = read
        self.home = home  # the server whose log holds it when not this one (`seq` is its)

    @property
    def nick(self) -> str:
        value = self.vars.get(V.NICK, "")
        return value if isinstance(value, str) else ""

    def packet(self, **replace: str) -> Packet:
        vars = dict(self.vars, **replace) if replace else self.vars
        return Packet(self.method, {}, vars, self.body)

    def __repr__(self) -> str:
        return f"AwayEntry({self.seq}, {self.account!r}, {self.channel!r}, {self.body!r})"


class AwayLog(PlaceObserver):
    """Per-account logs of missed lines, and the channel watches that fill them."""

    def __init__(
        self,
        config: Callable[[], Config],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.resolve: Callable[[str], str] = lambda nick: ""  # nick -> registered account
        # account -> whether it has a session (anywhere) that is not away: no mentions then.
        self.present: Callable[[str], bool] = lambda account: False
        # Where a mention goes: (account, line, channel); the front-end routes it to the
        # account's home (ircpsyc.ircd.awaylog_hooks.route_mention).
        self.route: Callable[[str, Packet, str], object] = self.record
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.writes: WriteBehind[AwayEntry] = WriteBehind(self._write)
        self._seq = 0
        self.watch: dict[str, dict[str, str]] = {}  # channel -> folded nick -> account
        self._watching: dict[str, set[tuple[str, str]]] = {}  # account -> (channel, nick)
        self._memory: dict[str, deque[AwayEntry]] = {}  # account -> entries, no store
        # Marks not yet committed: account -> (seq, ticket).
        self._read_upto: dict[str, tuple[int, int]] = {}
        self._cleared_upto: dict[str, tuple[int, int]] = {}
        self._since_prune: dict[str, int] = {}  # writer thread
        self._last_age_prune = 0.0  # writer thread

    # -- life cycle

    def attach(self, store: Store) -> None:
        row = store.db.execute("SELECT max(id) FROM awaylog").fetchone()
        self._seq = max(self._seq, int(row[0] or 0))
        self.writes.store = store
        self._memory.clear()
        self.watch.clear()
        self._watching.clear()
        for channel, nick, account in store.db.execute(
            "SELECT channel, nick, account FROM awaylog_watch"
        ):
            self.watch.setdefault(channel, {})[nick] = account
            self._watching.setdefault(account, set()).add((channel, nick))

    @property
    def enabled(self) -> bool:
        return bool(self.config().awaylog.enabled)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def cutoff(self) -> int:
        days = self.config().awaylog.max_age_days
        return self.now_ms() - int(days * DAY_MS) if days > 0 else 0

    # -- watches: whose mentions are kept in which channel

    def add_watch(self, account: str, nick: str, channels: Iterable[str]) -> None:
        """Keep mentions of `nick` in these (casefolded) channels for `account`."""
        if not account or not self.enabled:
            return
        account, nick = casefold(account), casefold(nick)
        rows = []
        for channel in channels:
            nicks = self.watch.setdefault(channel, {})
            if nicks.get(nick) == account:
                continue
            previous = nicks.get(nick)
            if previous is not None:
                self._watching.get(previous, set()).discard((channel, nick))
            nicks[nick] = account
            self._watching.setdefault(account, set()).add((channel, nick))
            rows.append((channel, nick, account))
        if rows and self.writes.store is not None:
            self.writes.run(
                lambda db: db.conn.executemany(
                    "INSERT OR REPLACE INTO awaylog_watch (channel, nick, account) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
            )

    def drop_watches(self, account: str, channel: str | None = None) -> None:
        """Stop keeping mentions for `account` (in one channel, or everywhere)."""
        account = casefold(account)
        pairs = self._watching.get(account)
        if not pairs:
            return
        gone = [p for p in pairs if channel is None or p[0] == channel]
        for pair in gone:
            pairs.discard(pair)
            self._unwatch(*pair)
        if not pairs:
            del self._watching[account]
        if gone and self.writes.store is not None:
            self.writes.run(
                lambda db: db.conn.executemany(
                    "DELETE FROM awaylog_watch WHERE channel = ? AND nick = ?", gone
                )
            )

    def _unwatch(self, channel: str, nick: str) -> None:
        nicks = self.watch.get(channel)
        if nicks is not None:
            nicks.pop(nick, None)
            if not nicks:
                del self.watch[channel]

    def _drop_nick(self, channel: str, nick: str) -> None:
        nicks = self.watch.get(channel)
        account = nicks.get(nick) if nicks else None
        if account is None:
            return
        self._watching.get(account, set()).discard((channel, nick))
        self._unwatch(channel, nick)
        if self.writes.store is not None:
            self.writes.run(
                lambda db: db.execute(
                    "DELETE FROM awaylog_watch WHERE channel = ? AND nick = ?", [channel, nick]
                )
            )

    def watched_in(self, channel: str) -> dict[str, str]:
        return self.watch.get(channel, {})

    # -- the place observer: mentions, and watches following the members

    def place_cast(self, place: PlaceView, packet: Packet) -> None:
        if packet.method == V.NOTICE_PLACE_RENAME:
            self._renamed(casefold(packet.get(V.NICK_PLACE)), place.folded)
            return
        watched = self.watch.get(place.folded)
        if watched is None:
            if packet.method == V.NOTICE_PLACE_LEAVE_DISCONNECT:
                self._gone_offline(place, packet)
            return
        method = packet.method
        if method == V.MESSAGE_PUBLIC or method == V.MESSAGE_PUBLIC_NOTICE:
            if V.STATUSMSG not in packet.vars:
                self._mentions(place, packet, watched)
        elif method == V.NOTICE_PLACE_LEAVE_DISCONNECT:
            self._gone_offline(place, packet)
        elif method.startswith(V.NOTICE_PLACE_ENTER):
            if not packet.get(V.AWAY):  # back, and not away: its mentions are its own again
                self._drop_nick(place.folded, casefold(packet.get(V.NICK)))
        elif method == V.NOTICE_PLACE_LEAVE or method == V.NOTICE_PLACE_LEAVE_KICK:
            nick = packet.get(V.NICK_TARGET if method.endswith(V.KICK_SUFFIX) else V.NICK)
            self._drop_nick(place.folded, casefold(nick))
        elif method == V.NOTICE_PLACE_NICK:
            old, new = casefold(packet.get(V.NICK)), casefold(packet.get(V.NICK_NEW))
            account = watched.get(old)
            if account is not None and old != new:
                self._drop_nick(place.folded, old)
                self.add_watch(account, new, [place.folded])

    def replica_cast(self, place: PlaceView, packet: Packet) -> None:
        """A cast of a channel homed on another server, as its replica here applies it:
        mentions of the members of this server who are away are found here (the home
        finds those of its own members, and of members who quit: `_gone_offline`
        there).  Either way the line goes to the account's away log (`route`), which
        keeps it once."""
        if packet.method == V.NOTICE_PLACE_RENAME:
            self.place_cast(place, packet)
            return
        watched = self.watch.get(place.folded)
        if watched is None or packet.method == V.NOTICE_PLACE_LEAVE_DISCONNECT:
            return
        self.place_cast(place, packet)

    def _renamed(self, old: str, new: str) -> None:
        """RENAME: the watches of the channel follow it to its new name."""
        nicks = self.watch.pop(old, None) if old != new else None
        if not nicks:
            return
        kept = self.watch.setdefault(new, {})
        for nick, account in nicks.items():
            pairs = self._watching.setdefault(account, set())
            pairs.discard((old, nick))
            pairs.add((new, nick))
            kept[nick] = account
        if self.writes.store is not None:
            self.writes.run(
                lambda db: db.execute(
                    "UPDATE OR REPLACE awaylog_watch SET channel = ? WHERE channel = ?", [new, old]
                )
            )

    def _gone_offline(self, place: PlaceView, packet: Packet) -> None:
        """A logged-in member quit: keep what its channel says about it."""
        account = packet.get(V.ACCOUNT)
        if account:
            self.add_watch(account, packet.get(V.NICK), [place.folded])

    def _mentions(self, place: PlaceView, packet: Packet, watched: dict[str, str]) -> None:
        speaker = casefold(packet.get(V.ACCOUNT))
        speaker_nick = casefold(packet.get(V.NICK))
        done: set[str] = set()
        for word in mentioned(packet.body):
            account = watched.get(word)
            if account is None or account in done or account == speaker or word == speaker_nick:
                continue
            done.add(account)
            if self.present(account):
                self.drop_watches(account)  # back somewhere: the watch is stale
            else:
                self.route(account, packet, place.name)

    # -- recording

    def record(self, account: str, packet: Packet, channel: str = "") -> AwayEntry | None:
        """Keep one line for `account` (a private message, or a mention in `channel`)."""
        if not account or not self.enabled:
            return None
        account = casefold(account)
        msgid = packet.get(V.ID)
        if msgid:
            key = (account, msgid)
            if key in self._recent:
                return None  # kept already (found by two servers, or sent twice)
            self._recent[key] = None
            if len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)
        self._seq += 1
        stamp = packet.get(V.TIME)
        entry = AwayEntry(
            self._seq,
            account,
            int(stamp) if stamp else self.now_ms(),
            channel,
            packet.method,
            packet.vars,
            packet.body,
        )
        if self.writes.store is not None:
            self.writes.add(entry)
        else:
            entries = self._memory.get(account)
            if entries is None:
                limit = self.config().awaylog.max_entries
                entries = self._memory[account] = deque(maxlen=limit)
            entries.append(entry)
        return entry

    # -- reading, marking read, clearing

    def entries(self, account: str, unread_only: bool = True) -> list[AwayEntry]:
        """The kept entries of `account`, oldest first (the newest max_entries)."""
        account = casefold(account)
        cutoff = self.cutoff()
        limit = self.config().awaylog.max_entries
        store = self.writes.store
        if store is None:
            found = [e for e in self._memory.get(account, ()) if e.time >= cutoff]
        else:
            sql = (
                "SELECT id, account, time, channel, method, data, read FROM awaylog "
                "WHERE account = ? AND time >= ? ORDER BY id DESC LIMIT ?"
            )
            rows = [_entry(r) for r in store.db.execute(sql, [account, cutoff, limit])]
            rows.reverse()
            seen = {e.seq for e in rows}
            pending = [
                e
                for e in self.writes.pending()
                if e.account == account and e.seq not in seen and e.time >= cutoff
            ]
            found = (rows + pending)[-limit:]
            cleared = self._mark(self._cleared_upto, account)
            read = self._mark(self._read_upto, account)
            found = [e for e in found if e.seq > cleared]
            for entry in found:
                if entry.seq <= read:
                    entry.read = True
        if unread_only:
            found = [e for e in found if not e.read]
        return found

    def _mark(self, marks: dict[str, tuple[int, int]], account: str) -> int:
        mark = marks.get(account)
        if mark is None:
            return 0
        if self.writes.committed(mark[1]):
            del marks[account]  # the store has it now
            return 0
        return mark[0]

    def counts(self, account: str) -> tuple[int, int]:
        """(kept, unread) entries of `account`."""
        found = self.entries(account, unread_only=False)
        return len(found), sum(1 for e in found if not e.read)

    def mark_read(self, account: str, entries: list[AwayEntry]) -> None:
        if not entries:
            return
        account = casefold(account)
        upto = max(e.seq for e in entries)
        for entry in entries:
            entry.read = True
        if self.writes.store is None:
            for entry in self._memory.get(account, ()):
                if entry.seq <= upto:
                    entry.read = True
            return
        ticket = self.writes.run(
            lambda db: db.execute(
                "UPDATE awaylog SET read = 1 WHERE account = ? AND id <= ?", [account, upto]
            )
        )
        self._read_upto[account] = (upto, ticket)

    def mark_read_upto(self, account: str, upto: int) -> None:
        """Mark the entries of `account` up to number `upto` read (another server played
        them)."""
        found = [e for e in self.entries(account, unread_only=True) if e.seq <= upto]
        self.mark_read(account, found)

    def clear(self, account: str) -> int:
        """Delete every entry of `account`; how many there were."""
        account = casefold(account)
        found = self.entries(account, unread_only=False)
        if self.writes.store is None:
            self._memory.pop(account, None)
            return len(found)
        upto = self._seq
        ticket = self.writes.run(
            lambda db: db.execute(
                "DELETE FROM awaylog WHERE account = ? AND id <= ?", [account, upto]
            )
        )
        self._cleared_upto[account] = (upto, ticket)
        return len(found)

    def forget(self, account: str) -> None:
        """The account is gone (dropped): its log and watches too."""
        self.clear(account)
        self.drop_watches(account)

    # -- SQLite (writer thread)

    def _write(self, db: sqlite_utils.Database, entries: list[AwayEntry]) -> None:
        rows = []
        counts = self._since_prune
        for e in entries:
            data = encode_row({"v": e.vars, "b": e.body})
            rows.append((e.seq, e.account, e.time, e.channel, e.method, data))
            counts[e.account] = counts.get(e.account, 0) + 1
        conn = db.conn
        conn.executemany(
            "INSERT OR REPLACE INTO awaylog (id, account, time, channel, method, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        section = self.config().awaylog
        every = max(8, section.max_entries // 8)
        for account in [a for a, n in counts.items() if n >= every]:
            del counts[account]
            conn.execute(
                "DELETE FROM awaylog WHERE account = ? AND id <= (SELECT id FROM awaylog "
                "WHERE account = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                [account, account, section.max_entries],
            )
        now = time.monotonic()
        if section.max_age_days > 0 and now - self._last_age_prune > PRUNE_AGE_EVERY:
            self._last_age_prune = now
            conn.execute("DELETE FROM awaylog WHERE time < ?", [self.cutoff()])


def _entry(row: Any) -> AwayEntry:
    seq, account, stamp, channel, method, data, read = row
    decoded = json.loads(data)
    return AwayEntry(seq, account, stamp, channel, method, decoded["v"], decoded["b"], bool(read))
