"""Contexts: one master casts numbered changes, slaves on other servers apply them.

PSYC's context is what places, the network roster, the channel directory and
the accounts share: the master of a context (`psyc://home/@chan`,
`psyc://server/$roster` ...) numbers each cast with a `_counter`, keeps a
bounded buffer of recent casts to replay, and answers with its whole state (the
snapshot) when a slave missed more than it keeps.  A slave applies the casts in
counter order only: a cast from the future waits (pending) while the slave asks
the master to resync, an old or repeated one is dropped.

Both halves are sans-IO: they decide, their users send and apply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from enum import Enum

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, number


class Order(Enum):
    """Where a cast's counter stands against the last one applied."""

    NEXT = "next"  # apply it
    OLD = "old"  # applied already (a replay overlapping what came live): drop it
    GAP = "gap"  # casts are missing before it (or no state yet): resync


def order(last: int | None, counter: int) -> Order:
    """`last`: the counter of the last cast applied, None before any state."""
    if last is None:
        return Order.GAP
    if counter <= last:
        return Order.OLD
    return Order.NEXT if counter == last + 1 else Order.GAP


def counter_of(packet: Packet, default: int = -1) -> int:
    return number(packet.routing.get(V.COUNTER, ""), default)


class ContextMaster:
    """The master side of a context: its counter and a bounded buffer of recent casts.

    `size` 0 keeps no buffer: every slave that missed a cast gets the snapshot."""

    __slots__ = ("buffer", "counter")

    def __init__(self, counter: int = 0, size: int = 0) -> None:
        self.counter = counter
        self.buffer: deque[Packet] | None = deque(maxlen=size) if size > 0 else None

    def stamp(self, packet: Packet) -> Packet:
        """Number a new cast (and keep it for replays)."""
        self.counter += 1
        packet.routing[V.COUNTER] = str(self.counter)
        self.keep(packet)
        return packet

    def keep(self, packet: Packet) -> None:
        """Keep a cast numbered elsewhere (a place numbers its own) for replays."""
        if self.buffer is not None:
            self.buffer.append(packet)

    def unchanged(self, since: int) -> bool:
        """A slave that has cast `since` has everything."""
        return since >= self.counter

    def replay(self, since: int) -> list[Packet] | None:
        """The kept casts after `since`, or None when the buffer does not reach back
        that far (or `since` is -1, no state): the slave needs the snapshot."""
        buffer = self.buffer
        if since < 0 or not buffer or counter_of(buffer[0], 0) > since + 1:
            return None
        return [cast for cast in buffer if counter_of(cast, 0) > since]


class ContextSlave:
    """The slave side of a context: the last counter applied and the casts waiting.

    `offer` says what to do with a cast; casts after a gap wait in `pending`
    (at most `max_pending`, the oldest arrival dropped first) until a snapshot
    (`reset`) or the replayed casts fill the gap; `drain` yields them in order."""

    __slots__ = ("last", "max_pending", "pending")

    def __init__(self, max_pending: int = 0) -> None:
        self.last: int | None = None  # None: no state yet
        self.pending: dict[int, Packet] = {}
        self.max_pending = max_pending  # 0: unbounded

    def offer(self, counter: int, packet: Packet) -> Order:
        """NEXT: apply `packet` now (it counts as applied); GAP: it waits, ask the
        master to resync from `last`; OLD: drop it."""
        found = order(self.last, counter)
        if found is Order.NEXT:
            self.last = counter
        elif found is Order.GAP and counter > (self.last or 0):
            if self.max_pending and len(self.pending) >= self.max_pending:
                del self.pending[next(iter(self.pending))]
            self.pending[counter] = packet
        return found

    def reset(self, counter: int) -> None:
        """A snapshot as of cast `counter` was applied: what waits from before it goes."""
        self.last = counter
        self.pending = {k: v for k, v in self.pending.items() if k > counter}

    def forget(self) -> None:
        """The master is gone: no state until the next snapshot."""
        self.last = None
        self.pending.clear()

    def drain(self) -> Iterator[Packet]:
        """The waiting casts that now follow in order (each counts as applied)."""
        pending = self.pending
        while self.last is not None and self.last + 1 in pending:
            self.last += 1
            yield pending.pop(self.last)
        if self.last is not None:
            for counter in [c for c in pending if c <= self.last]:
                del pending[counter]

    @property
    def gap(self) -> bool:
        """Casts wait that do not follow: the master must be asked again."""
        return bool(self.pending)
