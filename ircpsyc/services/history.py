"""History: what each place and each private conversation said, bounded and persistent.

`History` is a place observer.  Every cast a place makes that belongs in
history (messages, TAGMSG, JOIN/PART/QUIT/KICK/MODE/TOPIC/NICK) becomes an
`Entry` holding the packet's method, variables (msgid `_id`, time `_time`,
`_prefix`, ...) and body.  Private messages come in through `log_private`,
keyed by the conversation between two parties (accounts when logged in, else
nicks).  A private message between persons of two servers is logged by both
(`ircpsyc.ircd.history_hooks.PrivateHistory.private_arrived`): each server has the
whole conversation, one entry per message.

Logging is on the delivery path, so it costs a small constant: an entry
object, an append to the write-behind outbox and, for channel messages, an
append to the place's recent ring (what JOIN replays).  The store's writer
thread serialises and inserts the outbox in groups, committed at least every
100 ms (`Store.write_later`), and prunes each target to `max_per_channel`.

Reads (CHATHISTORY) are rare and may query SQLite; they merge what is
committed with `WriteBehind.pending()`, the entries queued but not yet
committed, so a reader never misses a line that was already delivered.
Without a store (unit tests, or before `attach`) the history lives in memory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from ircpsyc.channels.place import Member, Place, PlaceObserver, Said
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Dispatch, Packet
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.config import Config
    from ircpsyc.store import Store

log = logging.getLogger(__name__)

# What a client sees: PRIVMSG/NOTICE always, TAGMSG and events with draft/event-playback.
KIND_MESSAGE = 0
KIND_TAGMSG = 1
KIND_EVENT = 2

_KINDS = Dispatch(
    {
        V.MESSAGE_PUBLIC: KIND_MESSAGE,
        V.MESSAGE_PUBLIC_NOTICE: KIND_MESSAGE,
        V.MESSAGE_PUBLIC_TAGMSG: KIND_TAGMSG,
        V.MESSAGE_PRIVATE: KIND_MESSAGE,
        V.MESSAGE_PRIVATE_NOTICE: KIND_MESSAGE,
        V.MESSAGE_PRIVATE_TAGMSG: KIND_TAGMSG,
        V.NOTICE_PLACE_ENTER: KIND_EVENT,
        V.NOTICE_PLACE_LEAVE: KIND_EVENT,
        V.NOTICE_PLACE_TOPIC: KIND_EVENT,
        V.NOTICE_PLACE_MODE: KIND_EVENT,
        V.NOTICE_PLACE_NICK: KIND_EVENT,
    }
)

DAY_MS = 86_400_000
# The stdlib's encoder, for what orjson refuses (an integer beyond 64 bits).
_encode_std = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode


def encode_row(value: object) -> str:
    """JSON text of a stored row: orjson, a tenth of the stdlib's cost per line
    (benchmarks/bench_json.py), with the same output."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _encode_std(value)


decode_row = orjson.loads
RECENT_PRIVATE = 4096  # (conversation, msgid) pairs remembered to log each message once
REDACTED_KEPT = 4096  # (target, msgid) taken back, hidden while their rows may still be read
DM_REFRESH_MS = 3_600_000  # a conversation's row is rewritten at least hourly while active
DM_WRITTEN_KEPT = 100_000  # conversation rows the writer remembers having written
STORED_COUNTS_KEPT = 100_000  # targets whose stored lines the writer keeps count of
PRUNE_AGE_EVERY = 300.0  # seconds between age sweeps of the whole table (writer thread)
CHUNKS_PER_INSERT = 64  # 448 parameters: under SQLite's oldest limit of 999


def time_of(packet: Packet) -> int:
    """The time (ms) a history packet says its line was said; 0 when it says none."""
    stamp = packet.get(V.TIME)
    return int(stamp) if stamp.isascii() and stamp.isdigit() else 0


def kind_of(method: str) -> int | None:
    """The history kind of a cast method, or None when it is not kept."""
    kind: int | None = _KINDS.lookup(method)
    return kind


def tag_names(rendered: str) -> list[str]:
    """The names of the client-only tags of a line (`_tags`, as rendered)."""
    return [part.split("=", 1)[0] for part in rendered.split(";") if part]


def conversation(key_a: str, key_b: str) -> str:
    """The history target of a private conversation between two party keys."""
    return f"~{key_a} {key_b}" if key_a <= key_b else f"~{key_b} {key_a}"


@lru_cache(maxsize=4096)
def party_key(account: str, nick: str) -> str:
    """Who one side of a private conversation is: the account, else the nick.

    Cached: both sides of every private message are keyed, and correspondents repeat."""
    return "a:" + casefold(account) if account else "n:" + casefold(nick)


class Entry:
    """One logged event: the packet as it was cast; `seq` orders all entries of this
    server (it is the row id)."""

    __slots__ = ("item", "kind", "peers", "seq", "source", "target", "time")

    def __init__(
        self,
        seq: int,
        target: str,
        kind: int,
        source: Packet,
        time_ms: int,
        peers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.seq = seq
        self.target = target
        self.kind = kind
        self.source = source  # packets are read-only once sent: no copy needed
        self.time = time_ms
        self.peers = peers  # private messages: (owner party key, correspondent nick)
        self.item = ""  # its JSON in a chunk, made when it is queued for the store

    @property
    def msgid(self) -> str:
        return self.source.get(V.ID)

    def packet(self, **replace: str) -> Packet:
        """The packet to render this entry with the front-end's usual renderers."""
        if not replace:
            return self.source
        source = self.source
        return Packet(source.method, {}, dict(source.vars, **replace), source.body)

    def __repr__(self) -> str:
        return f"Entry({self.seq}, {self.target!r}, {self.source.method!r}, {self.source.body!r})"


@dataclass(frozen=True, slots=True)
class Bound:
    """An exclusive bound: a sequence number (from a msgid) or a time in ms."""

    by_seq: bool
    value: int

    def key(self, entry: Entry) -> int:
        return entry.seq if self.by_seq else entry.time

    @property
    def column(self) -> str:
        return "id" if self.by_seq else "time"


@dataclass(frozen=True, slots=True)
class Query:
    """Entries of `target` strictly between `after` and `before`, at most `limit`.

    `newest_first` picks the `limit` entries nearest `before` (else nearest
    `after`); the result is always in ascending order.
    """

    target: str
    after: Bound | None = None
    before: Bound | None = None
    limit: int = 50
    newest_first: bool = True
    max_kind: int = KIND_MESSAGE
    min_time: int = 0

    def matches(self, entry: Entry) -> bool:
        if entry.kind > self.max_kind or entry.time < self.min_time:
            return False
        if self.after is not None and self.after.key(entry) <= self.after.value:
            return False
        return self.before is None or self.before.key(entry) < self.before.value


def select(entries: Iterable[Entry], query: Query) -> list[Entry]:
    """Apply a query to entries of one target given in ascending order."""
    found = [e for e in entries if query.matches(e)]
    if query.limit <= 0:
        return []
    return found[-query.limit :] if query.newest_first else found[: query.limit]


def merge(a: list[Entry], b: list[Entry], query: Query) -> list[Entry]:
    """Combine two query results (committed rows and pending entries) without duplicates."""
    if not b:
        return a
    if not a:
        return b
    by_seq = {e.seq: e for e in a}
    by_seq.update((e.seq, e) for e in b)
    ordered = [by_seq[s] for s in sorted(by_seq)]
    return ordered[-query.limit :] if query.newest_first else ordered[: query.limit]


Reference = tuple[str, str | int]  # ("*", ""), ("msgid", id) or ("timestamp", ms)
SELECTORS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN")


def wire_reference(ref: Reference) -> str:
    """A reference as `_request_history` carries it: "*", "msgid=ID", "timestamp=MS"."""
    return "*" if ref[0] == "*" else f"{ref[0]}={ref[1]}"


def parse_wire_reference(text: str) -> Reference | None:
    if text == "*":
        return ("*", "")
    kind, _, value = text.partition("=")
    if kind == "msgid" and value:
        return ("msgid", value)
    if kind == "timestamp" and value.isdigit():
        return ("timestamp", int(value))
    return None


def _bound(history: History, key: str, ref: Reference) -> tuple[Bound, tuple[int, int]] | None:
    """An exclusive bound for a reference, and its position (time, seq) for ordering."""
    kind, value = ref
    if kind == "timestamp":
        assert isinstance(value, int)
        return Bound(False, value), (value, 0)
    entry = history.find(key, str(value))
    if entry is None:
        return None
    return Bound(True, entry.seq), (entry.time, entry.seq)


def select_refs(
    history: History,
    sub: str,
    key: str,
    refs: list[Reference],
    limit: int,
    max_kind: int,
    min_time: int,
) -> list[Entry]:
    """The entries a CHATHISTORY selector (LATEST, BEFORE, AFTER, AROUND, BETWEEN) picks
    from target `key`; here, not in the front-end, so a channel's home answers it for
    other servers too (`_request_history`)."""

    def run(
        after: Bound | None, before: Bound | None, count: int, newest_first: bool
    ) -> list[Entry]:
        return history.query(Query(key, after, before, count, newest_first, max_kind, min_time))

    if sub == "LATEST" and refs[0][0] == "*":
        return run(None, None, limit, True)
    first = _bound(history, key, refs[0])
    if first is None:
        return []  # an unknown msgid: nothing to anchor on
    bound, position = first
    if sub == "LATEST":
        return run(bound, None, limit, True)
    if sub == "BEFORE":
        return run(None, bound, limit, True)
    if sub == "AFTER":
        return run(bound, None, limit, False)
    if sub == "AROUND":
        # The message itself (or the ones at that time) and its neighbours.
        inclusive = Bound(bound.by_seq, bound.value - 1)
        before = run(None, bound, limit // 2, True)
        after = run(inclusive, None, limit - len(before), False)
        if len(before) + len(after) < limit and len(before) == limit // 2:
            before = run(None, bound, limit - len(after), True)
        return before + after
    second = _bound(history, key, refs[1])  # BETWEEN
    if second is None:
        return []
    other, other_position = second
    if position <= other_position:
        return run(bound, other, limit, False)
    return run(other, bound, limit, True)


T = TypeVar("T")


class WriteBehind(Generic[T]):
    """Items on their way to the store's group-committing writer.

    `add` is the hot path: an append to the outbox and, once per writer cycle,
    one `write_later` job (a `_Drain`) that takes the outbox when it runs (the
    `_scheduled` flag is cleared by the writer as it takes it, so no item is ever
    stranded).  Until the store reports that job committed, its items stay in
    `pending()` for readers.  The writer drops a drain's items once committed, so
    the entries are freed on its thread, not on the event loop's.
    """

    def __init__(self, write: Callable[[sqlite_utils.Database, list[T]], None]) -> None:
        self.store: Store | None = None
        self._write = write
        self._outbox: list[T] = []
        self._drains: deque[_Drain[T]] = deque()  # scheduled, not known committed
        self._scheduled = False
        self._ticket = 0
        # The flag and the outbox change together, so an item's ticket is exactly the
        # job that writes it (echoes wait for that job: ircpsyc.ircd.durable).
        self._lock = threading.Lock()

    @property
    def last_ticket(self) -> int:
        """The store ticket of the job holding the latest item added (0: none yet)."""
        return self._ticket

    def add(self, item: T) -> None:
        store = self.store
        if store is None:
            return
        with self._lock:
            self._outbox.append(item)
            if not self._scheduled:  # once per writer cycle
                self._scheduled = True
                drain = _Drain(self)
                drain.ticket = self._ticket = store.write_later(drain)
                self._trim(store.committed)
                self._drains.append(drain)

    def _trim(self, committed: int) -> None:
        drains = self._drains
        while drains and drains[0].ticket <= committed:
            drains.popleft()

    def run(self, job: Callable[[sqlite_utils.Database], object]) -> int:
        """Queue another write behind the items added so far; its ticket."""
        assert self.store is not None

        def write(db: sqlite_utils.Database) -> None:
            job(db)

        return self.store.write_later(write)

    def committed(self, ticket: int) -> bool:
        return self.store is None or self.store.committed >= ticket

    def pending(self) -> list[T]:
        """Items not yet known to be committed, oldest first.

        Read it before the store: an item the writer commits in between is then in
        both (readers merge by id), never in neither."""
        store = self.store
        if store is None:
            return []
        found: list[T] = []
        with self._lock:
            self._trim(store.committed)
            for drain in self._drains:
                items = drain.items
                if items is None:  # not taken yet: the outbox is this drain's
                    found += self._outbox
                else:
                    found += items
        return found


class _Drain(Generic[T]):
    """One writer job: takes what the outbox holds when it first runs.

    It keeps those items until the store has committed them, so the writer's
    retry of a failed batch writes them again and readers see them meanwhile.
    """

    __slots__ = ("items", "owner", "ticket")

    def __init__(self, owner: WriteBehind[T]) -> None:
        self.owner = owner
        self.ticket = 0
        self.items: list[T] | None = None

    def __call__(self, db: sqlite_utils.Database) -> None:
        # Writer thread.  Clear the flag first: an item added from now on
        # schedules its own job, one added before is drained below.
        items = self.items
        if items is None:
            owner = self.owner
            with owner._lock:
                owner._scheduled = False
                items = self.items = owner._outbox
                owner._outbox = []
        if items:
            self.owner._write(db, items)

    def after_commit(self) -> None:
        """Writer thread, once committed (or dropped): the entries are freed here."""
        self.items = []


class History(PlaceObserver):
    """Channel and private-message history: a place observer plus a query API."""

    def __init__(
        self,
        config: Callable[[], Config],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.writes: WriteBehind[Entry] = WriteBehind(self._write)
        self._seq = 0
        self._rings: dict[str, deque[Entry]] = {}  # channel -> last messages, for JOIN
        self._memory: dict[str, deque[Entry]] = {}  # target -> entries, without a store
        self._dm_memory: dict[str, dict[str, tuple[str, int]]] = {}  # owner -> conv -> peer
        self._recent_private: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Lines taken back (REDACT): the store deletes them behind the queued inserts;
        # until then a read must not show them.
        self._redacted: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Writer-thread state: how many lines each target has in the store, once a trim
        # has counted them (then only a target over its bound is trimmed again), and
        # the lines stored since start for a target not counted yet.
        self._stored: dict[str, int] = {}
        self._since_start: dict[str, int] = {}
        self._last_age_prune = 0.0
        # Writer-thread state: the conversation rows as last written (nick, time).
        self._dm_written: dict[tuple[str, str], tuple[str, int]] = {}

    # -- life cycle

    def attach(self, store: Store) -> None:
        """Keep history in `store` from now on (called once the store is open)."""
        row = store.db.execute("SELECT max(last) FROM history_chunks").fetchone()
        self._seq = max(self._seq, int(row[0] or 0))
        self.writes.store = store
        self._memory.clear()
        self._dm_memory.clear()
        self._rings.clear()
        self._last_age_prune = 0.0  # the first batch sweeps old rows

    @property
    def store(self) -> Store | None:
        return self.writes.store

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def cutoff(self) -> int:
        """The oldest time (ms) still kept, from max_age_days; 0 without a limit."""
        days = self.config().history.max_age_days
        return self.now_ms() - int(days * DAY_MS) if days > 0 else 0

    # -- logging (the hot path)

    def will_log(self, packet: Packet) -> bool:
        """Whether `place_cast` keeps this cast in the store (not in memory only)."""
        kind = _KINDS.lookup(packet.method)
        return (
            self.writes.store is not None
            and V.STATUSMSG not in packet.vars  # STATUSMSG lines are for ops only
            and kind is not None
            and self.config().history.enabled
            and (kind != KIND_TAGMSG or self._keeps_tagmsg(packet))
        )

    def _keeps_tagmsg(self, packet: Packet) -> bool:
        """Reactions and replies are kept, typing notifications not ([history] tagmsg_storage)."""
        kept = self.config().history.tagmsg_storage
        return bool(kept) and any(name in kept for name in tag_names(packet.get(V.TAGS)))

    def place_cast(self, place: Place, packet: Packet) -> None:
        # On every channel line: the place's name and the packet's fields read once.
        method = packet.method
        if method == V.NOTICE_PLACE_REDACT:
            self.redact(place.folded, packet.get(V.ID_REDACTED))
            return
        kind = _KINDS.lookup(method)
        vars = packet.vars
        if kind is None or V.STATUSMSG in vars:  # STATUSMSG lines are for ops only
            return
        if not self.config().history.enabled:
            return
        if kind == KIND_TAGMSG and not self._keeps_tagmsg(packet):
            return
        self._seq += 1
        stamp = vars.get(V.TIME)
        folded = place.folded
        entry = Entry(
            self._seq,
            folded,
            kind,
            packet,
            int(stamp) if isinstance(stamp, str) and stamp else self.now_ms(),
        )
        if kind == KIND_MESSAGE:
            ring = self._rings.get(folded)
            if ring is not None:
                ring.append(entry)
        self._keep(entry)

    def log_private(
        self,
        packet: Packet,
        sender_key: str,
        sender_nick: str,
        target_key: str,
        target_nick: str,
        fresh: bool = False,
    ) -> Entry | None:
        """Log a private message between two parties (party_key of each); once per
        msgid and conversation (a copy that arrives twice is not logged again).
        `fresh`: its msgid is new (said here), so it need not be remembered."""
        history = self.config().history
        if not history.enabled or not history.private:
            return None
        kind = _KINDS.lookup(packet.method)
        if kind is None or (kind == KIND_TAGMSG and not self._keeps_tagmsg(packet)):
            return None
        target = conversation(sender_key, target_key)
        msgid = packet.get(V.ID)
        if msgid and not fresh:
            key = (target, msgid)
            recent = self._recent_private
            if key in recent:
                return None
            recent[key] = None
            if len(recent) > RECENT_PRIVATE:
                recent.popitem(last=False)
        peers: tuple[tuple[str, str], ...] = ((sender_key, target_nick),)
        if target_key != sender_key:
            peers += ((target_key, sender_nick),)
        self._seq += 1
        stamp = packet.get(V.TIME)
        entry = Entry(
            self._seq, target, kind, packet, int(stamp) if stamp else self.now_ms(), peers
        )
        self._keep(entry)
        return entry

    def _keep(self, entry: Entry) -> None:
        if self.writes.store is not None:
            # Encoded here, while the packet is in the cache: the writer thread would
            # find it there no more, and takes the GIL the event loop wants to do it.
            entry.item = _item(entry)
            self.writes.add(entry)
            return
        entries = self._memory.get(entry.target)
        if entries is None:
            limit = self.config().history.max_per_channel
            entries = self._memory[entry.target] = deque(maxlen=limit)
        entries.append(entry)
        for owner, nick in entry.peers:
            latest = self._dm_memory.get(owner)
            if latest is None:
                latest = self._dm_memory[owner] = {}
            latest[entry.target] = (nick, entry.time)

    # -- place observer hooks

    def keep_empty(self, place: Place) -> bool:
        self._rings.pop(place.folded, None)  # reloaded from the store if it comes back
        return False

    def member_entered(self, place: Place, member: Member) -> None:
        """Nothing here: the front-end replays `recent()` in its own observer."""

    def said(self, place: Place, msgid: str) -> Said | None:
        entry = self.find(place.folded, msgid)
        if entry is None or entry.kind == KIND_EVENT:
            return None
        return Said(entry.source.get(V.PREFIX), entry.source.get(V.ACCOUNT), entry.time)

    def place_renamed(self, place: Place, old_name: str, old_uniform: str) -> None:
        """RENAME: the channel's lines are its lines under the new name (the home keeps
        them; rows are renamed behind the queued inserts, which are renamed here)."""
        old, new = casefold(old_name), place.folded
        if old == new:
            return
        for table in (self._rings, self._memory):
            kept = table.pop(old, None)
            if kept is not None:
                table[new] = kept
        for entry in self.writes.pending():
            if entry.target == old:
                entry.target = new  # read by the writer thread: either way it ends renamed
        if self.writes.store is not None:

            def rename(db: sqlite_utils.Database) -> None:
                db.conn.execute("UPDATE history_chunks SET target = ? WHERE target = ?", [new, old])
                self._forget_counts(old, new)

            self.writes.run(rename)

    # -- taking lines back

    def redact(self, target: str, msgid: str) -> None:
        """Forget the line `msgid` of `target`: no read returns it from now on."""
        if not msgid:
            return
        key = (target, msgid)
        self._redacted[key] = None
        if len(self._redacted) > REDACTED_KEPT:
            self._redacted.popitem(last=False)
        ring = self._rings.get(target)
        if ring is not None:
            kept = [e for e in ring if e.msgid != msgid]
            if len(kept) != len(ring):
                self._rings[target] = deque(kept, maxlen=ring.maxlen)
        memory = self._memory.get(target)
        if memory is not None:
            kept = [e for e in memory if e.msgid != msgid]
            if len(kept) != len(memory):
                self._memory[target] = deque(kept, maxlen=memory.maxlen)
        if self.writes.store is not None:

            def delete(db: sqlite_utils.Database) -> None:
                conn = db.conn
                found = conn.execute(_CHUNKS_WITH, [target, encode_row(msgid)]).fetchall()
                for chunk, text in found:
                    items = decode_row(text)
                    kept = [item for item in items if item[4]["v"].get(V.ID) != msgid]
                    if len(kept) != len(items):
                        _rewrite_chunk(conn, chunk, kept)
                self._forget_counts(target)

            self.writes.run(delete)

    def _visible(self, entries: list[Entry]) -> list[Entry]:
        redacted = self._redacted
        if not redacted:
            return entries
        return [e for e in entries if (e.target, e.msgid) not in redacted]

    # -- reading

    def recent(self, target: str, count: int) -> list[Entry]:
        """The last `count` messages of a channel (no events), for the replay on JOIN."""
        if count <= 0 or not self.config().history.enabled:
            return []
        ring = self._rings.get(target)
        if ring is None or ring.maxlen != count:
            found = self.query(Query(target, limit=count, newest_first=True))
            ring = self._rings[target] = deque(found, maxlen=count)
        cutoff = self.cutoff()
        return [e for e in ring if e.time >= cutoff]

    def query(self, query: Query) -> list[Entry]:
        """Run a query against committed rows and pending entries (or memory)."""
        if not self.config().history.enabled or query.limit <= 0:
            return []
        cutoff = self.cutoff()
        if cutoff > query.min_time:
            query = Query(
                query.target,
                query.after,
                query.before,
                query.limit,
                query.newest_first,
                query.max_kind,
                cutoff,
            )
        store = self.writes.store
        if store is None:
            return select(self._memory.get(query.target, ()), query)
        pending = [e for e in self._visible(self.writes.pending()) if e.target == query.target]
        return merge(self._visible(self._select_rows(store, query)), select(pending, query), query)

    def find(self, target: str, msgid: str) -> Entry | None:
        """The entry of `target` with this msgid (for msgid= selectors)."""
        if not msgid or (target, msgid) in self._redacted:
            return None
        store = self.writes.store
        if store is None:
            return next((e for e in self._memory.get(target, ()) if e.msgid == msgid), None)
        for entry in reversed(self.writes.pending()):
            if entry.target == target and entry.msgid == msgid:
                return entry
        # No index on msgids (it cost every line an insert): the target's chunks that
        # hold the id's JSON text, then the entry itself.
        for _chunk, text in store.db.execute(_CHUNKS_WITH, [target, encode_row(msgid)]):
            for item in decode_row(text):
                if item[4]["v"].get(V.ID) == msgid:
                    return _entry(target, item)
        return None

    def latest(self, target: str, max_kind: int, min_time: int = 0) -> Entry | None:
        found = self.query(Query(target, limit=1, max_kind=max_kind, min_time=min_time))
        return found[-1] if found else None

    def conversations(
        self, owner: str, after: int, before: int, limit: int, min_time: int = 0
    ) -> list[tuple[str, str, int]]:
        """Private conversations of `owner` whose latest message is strictly between
        the two times: (correspondent nick, conversation target, time), oldest first."""
        if not self.config().history.enabled or limit <= 0:
            return []
        low = max(after, min_time - 1, self.cutoff() - 1)
        latest: dict[str, tuple[str, int]] = {}
        store = self.writes.store
        if store is None:
            latest.update(self._dm_memory.get(owner, {}))
        else:
            for target, nick, stamp in store.db.execute(_CONVERSATIONS, [owner]):
                latest[target] = (nick, stamp)
            for entry in self.writes.pending():
                for peer_owner, nick in entry.peers:
                    if peer_owner == owner:
                        latest[entry.target] = (nick, entry.time)
        found = [
            (nick, target, stamp)
            for target, (nick, stamp) in latest.items()
            if low < stamp < before
        ]
        found.sort(key=lambda item: item[2])
        return found[:limit]

    def conversation_with(self, owner: str, nick: str) -> str:
        """The conversation of `owner` whose correspondent last used `nick`, or ""."""
        folded = casefold(nick)
        best = ("", -1)
        store = self.writes.store
        if store is None:
            for target, (peer, stamp) in self._dm_memory.get(owner, {}).items():
                if casefold(peer) == folded and stamp > best[1]:
                    best = (target, stamp)
            return best[0]
        for entry in self.writes.pending():
            for peer_owner, peer in entry.peers:
                if peer_owner == owner and casefold(peer) == folded and entry.time > best[1]:
                    best = (entry.target, entry.time)
        if best[0]:
            return best[0]
        row = store.db.execute(
            f"SELECT target FROM history_dm AS d WHERE owner = ? AND peer_fold = ? "
            f"ORDER BY {_LATEST} DESC LIMIT 1",
            [owner, folded],
        ).fetchone()
        return str(row[0]) if row is not None else ""

    # -- SQLite

    def _select_rows(self, store: Store, query: Query) -> list[Entry]:
        """The committed entries a query picks: the target's chunks that may hold some,
        nearest the wanted end first, filtered here until `limit` are found."""
        target, after, before = query.target, query.after, query.before
        sql = ["SELECT entries FROM history_chunks WHERE target = ? AND newest >= ?"]
        args: list[Any] = [target, query.min_time]
        if after is not None:
            sql.append("AND last > ?" if after.by_seq else "AND newest > ?")
            args.append(after.value)
        if before is not None:
            sql.append("AND id < ?" if before.by_seq else "AND oldest < ?")
            args.append(before.value)
        sql.append("ORDER BY id DESC" if query.newest_first else "ORDER BY id")
        max_kind, min_time, limit = query.max_kind, query.min_time, query.limit
        found: list[Entry] = []
        for (text,) in store.db.execute(" ".join(sql), args):
            items = decode_row(text)
            if query.newest_first:
                items.reverse()
            for item in items:
                seq, stamp, kind = item[0], item[1], item[2]
                if kind > max_kind or stamp < min_time:
                    continue
                if after is not None and (seq if after.by_seq else stamp) <= after.value:
                    continue
                if before is not None and (seq if before.by_seq else stamp) >= before.value:
                    continue
                found.append(_entry(target, item))
                if len(found) >= limit:
                    break
            else:
                continue
            break
        if query.newest_first:
            found.reverse()
        return found

    def _write(self, db: sqlite_utils.Database, entries: list[Entry]) -> None:
        """Writer thread: store a group of entries and keep every target bounded.

        Each target's entries of the group become one chunk row: SQLite inserts a row
        and an index entry per target and batch instead of per line.  A busy
        channel's lines share chunks; at chat rates a chunk holds a line or two.
        Chunks go in as multi-row INSERTs of CHUNKS_PER_INSERT: the writer takes the
        GIL back once per statement, not once per row (`executemany`) while the
        event loop wants it, and SQLite parses no JSON (`json_each` did, twice the
        CPU for chunks: benchmarks/README.md, session 6)."""
        chunks: dict[str, list[Entry]] = {}
        # The conversation list keeps only the latest of each (owner, conversation):
        # one upsert per pair a batch, not one per message.
        latest: dict[tuple[str, str], tuple[str, int]] = {}
        for e in entries:
            target = e.target
            items = chunks.get(target)
            if items is None:
                chunks[target] = [e]
            else:
                items.append(e)
            for owner, nick in e.peers:
                latest[(owner, target)] = (nick, e.time)
        rows: list[tuple[Any, ...]] = []
        for target, group in chunks.items():
            times = [e.time for e in group]
            row = (group[0].seq, target, group[-1].seq, min(times), max(times), len(group))
            rows.append((*row, "[" + ",".join([e.item or _item(e) for e in group]) + "]"))
        conn = db.conn
        history = self.config().history
        self._sweep_expired(conn, history.max_age_days)
        for start in range(0, len(rows), CHUNKS_PER_INSERT):
            part = rows[start : start + CHUNKS_PER_INSERT]
            conn.execute(_insert_chunks(len(part)), [value for row in part for value in row])
        # A conversation's row is written when it is new, its correspondent's nick
        # changed, or its time is DM_REFRESH old (for the age sweep): not for every
        # message.  Readers take the latest time from the conversation's newest chunk.
        written = self._dm_written
        if len(written) > DM_WRITTEN_KEPT:
            written.clear()
        conversations = []
        for key, (nick, stamp) in latest.items():
            last = written.get(key)
            if last is None or last[0] != nick or stamp - last[1] > DM_REFRESH_MS:
                written[key] = (nick, stamp)
                conversations.append((key[0], key[1], nick, casefold(nick), stamp))
        if conversations:
            conn.execute(_UPSERT_CONVERSATIONS, [encode_row(conversations)])
        self._bound(conn, chunks, history.max_per_channel)

    def _bound(self, conn: Any, chunks: dict[str, list[Entry]], keep: int) -> None:
        """Writer thread: keep each target of a batch at most `keep` lines, give or take
        a slack of `every`, so a trim deletes a few chunks at a time.

        A target is counted once (a trim scans its chunks); from then on its count is
        kept here, and a target under its bound costs no query at all.  Whatever else
        deletes lines (a redaction, a rename, the age sweep) forgets the counts it
        makes too high: a count too high would make a trim delete lines it must keep."""
        every = max(16, keep // 8)
        stored, since_start = self._stored, self._since_start
        if len(stored) > STORED_COUNTS_KEPT:
            stored.clear()
        if len(since_start) > STORED_COUNTS_KEPT:
            since_start.clear()  # a quiet target is then trimmed a little later
        for target, group in chunks.items():
            total = stored.get(target)
            if total is None:
                counted = since_start.get(target, 0) + len(group)
                if counted < every:
                    since_start[target] = counted
                    continue
                since_start.pop(target, None)
                stored[target] = _trim(conn, target, keep)
            elif total + len(group) >= keep + every:
                _drop_oldest(conn, target, total + len(group) - keep)
                stored[target] = keep
            else:
                stored[target] = total + len(group)

    def _forget_counts(self, *targets: str) -> None:
        """Writer thread: the stored counts of `targets` (all, when none) may be too high."""
        if not targets:
            self._stored.clear()
        for target in targets:
            self._stored.pop(target, None)

    def _sweep_expired(self, conn: Any, max_age_days: float) -> None:
        """Writer thread, every few minutes: delete what is older than max_age_days
        (before a batch is written, so the conversation rows it writes stay)."""
        now = time.monotonic()
        if max_age_days <= 0 or now - self._last_age_prune <= PRUNE_AGE_EVERY:
            return
        self._last_age_prune = now
        cutoff = self.cutoff()
        # Chunk ids follow arrival, and times follow ids within the skew a line's
        # origin time may have: most expired chunks are the oldest ids, deleted from
        # the start of the table without an index on time.
        conn.execute(
            "DELETE FROM history_chunks WHERE id < coalesce((SELECT id FROM history_chunks "
            "WHERE newest >= ? ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM history_chunks))",
            [cutoff],
        )
        # What is left holding expired lines: chunks that straddle the cutoff, and
        # whole ones past the first young chunk (lines queued during a split).  The
        # scan reads only their times; only those chunks' entries are decoded, and
        # they keep their ids (the `history` view shows no expired line).
        for chunk, text in conn.execute(_EXPIRED_IN, [cutoff]).fetchall():
            _rewrite_chunk(conn, chunk, [item for item in decode_row(text) if item[1] >= cutoff])
        conn.execute("DELETE FROM history_dm WHERE time < ?", [cutoff])
        self._dm_written.clear()  # a row the sweep took is written again
        self._forget_counts()


def _item(entry: Entry) -> str:
    """An entry's JSON in a chunk: [seq, time, kind, method, {"v": vars, "b": body}]."""
    source = entry.source
    return encode_row(
        [entry.seq, entry.time, entry.kind, source.method, {"v": source.vars, "b": source.body}]
    )


def _trim(conn: Any, target: str, keep: int) -> int:
    """Writer thread: delete all but the newest `keep` entries of `target`; how many
    it has now."""
    seen = 0
    for chunk, count in conn.execute(
        "SELECT id, count FROM history_chunks WHERE target = ? ORDER BY id DESC", [target]
    ).fetchall():
        if seen + count <= keep:
            seen += count
            continue
        if seen < keep:  # the oldest chunk kept loses its oldest entries
            _cut_chunk(conn, chunk, count - (keep - seen))
        else:
            conn.execute("DELETE FROM history_chunks WHERE id = ?", [chunk])
        conn.execute("DELETE FROM history_chunks WHERE target = ? AND id < ?", [target, chunk])
        return keep
    return seen


def _drop_oldest(conn: Any, target: str, excess: int) -> None:
    """Writer thread: delete the oldest `excess` entries of `target` (it has more).
    Only the chunks that go are read: at most `excess`, each holds a line or more."""
    last_whole = None
    for chunk, count in conn.execute(
        "SELECT id, count FROM history_chunks WHERE target = ? ORDER BY id LIMIT ?",
        [target, excess],
    ).fetchall():
        if count > excess:  # the oldest chunk kept loses its oldest entries
            _cut_chunk(conn, chunk, excess)
            break
        last_whole, excess = chunk, excess - count
        if not excess:
            break
    if last_whole is not None:
        conn.execute(
            "DELETE FROM history_chunks WHERE target = ? AND id <= ?", [target, last_whole]
        )


def _cut_chunk(conn: Any, chunk: int, count: int) -> None:
    """Writer thread: a chunk loses its oldest `count` entries."""
    (text,) = conn.execute("SELECT entries FROM history_chunks WHERE id = ?", [chunk]).fetchone()
    _rewrite_chunk(conn, chunk, decode_row(text)[count:])


def _rewrite_chunk(conn: Any, chunk: int, items: list[list[Any]]) -> None:
    """Writer thread: a chunk keeps only `items` (it keeps its id: still below them)."""
    if not items:
        conn.execute("DELETE FROM history_chunks WHERE id = ?", [chunk])
        return
    times = [item[1] for item in items]
    conn.execute(
        "UPDATE history_chunks SET last = ?, oldest = ?, newest = ?, count = ?, entries = ? "
        "WHERE id = ?",
        [items[-1][0], min(times), max(times), len(items), encode_row(items), chunk],
    )


def _items(count: int) -> str:
    """The first `count` items of each array of a `json_each` batch, as columns
    (`json_extract`, not `->>`: SQLite before 3.38 has the function only)."""
    return ", ".join(f"json_extract(value, '$[{i}]')" for i in range(count))


# A chunk whose id is already there (a batch written again after a failure) is
# overwritten, as INSERT OR REPLACE would; but REPLACE makes SQLite look every new id
# up before inserting it, while the upsert appends the ascending ids directly.
@lru_cache(maxsize=CHUNKS_PER_INSERT)
def _insert_chunks(count: int) -> str:
    """INSERT of `count` chunks.  A chunk whose id is already there (a batch written
    again after a failure) is overwritten, as INSERT OR REPLACE would; but REPLACE
    makes SQLite look every new id up before inserting it, while the upsert appends
    the ascending ids directly."""
    return (
        "INSERT INTO history_chunks (id, target, last, oldest, newest, count, entries) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * count)
        + " ON CONFLICT (id) DO UPDATE SET target = excluded.target, last = excluded.last, "
        "oldest = excluded.oldest, newest = excluded.newest, count = excluded.count, "
        "entries = excluded.entries"
    )


# A conversation's latest time: its row's, or its newest chunk's if later (the row is
# not rewritten for every message: History._write).
_LATEST = (
    "max(d.time, coalesce((SELECT c.newest FROM history_chunks AS c "
    "WHERE c.target = d.target ORDER BY c.id DESC LIMIT 1), 0))"
)
_CONVERSATIONS = f"SELECT target, peer_nick, {_LATEST} FROM history_dm AS d WHERE owner = ?"
# The chunks holding a line older than a cutoff, left by the age sweep's delete.
_EXPIRED_IN = "SELECT id, entries FROM history_chunks WHERE oldest < ? ORDER BY id"
# The chunks of a target that may hold a msgid (its JSON text), oldest first.
_CHUNKS_WITH = (
    "SELECT id, entries FROM history_chunks WHERE target = ? AND instr(entries, ?) > 0 ORDER BY id"
)
_UPSERT_CONVERSATIONS = (
    "INSERT INTO history_dm (owner, target, peer_nick, peer_fold, time) "
    f"SELECT {_items(5)} FROM json_each(?) WHERE true ON CONFLICT (owner, target) DO UPDATE "
    "SET peer_nick = excluded.peer_nick, peer_fold = excluded.peer_fold, time = excluded.time"
)


def _entry(target: str, item: list[Any]) -> Entry:
    """An entry from its item in a chunk: [seq, time, kind, method, {"v", "b"}]."""
    seq, stamp, kind, method, data = item
    return Entry(seq, target, kind, Packet(method, {}, data["v"], data["b"]), stamp)
