"""Contexts: one master casts numbered changes, slaves on other servers apply them.

PSYC's context is what places, the network roster, the channel directory and
the accounts share: the master of a context (`psyc://home/@chan`,
`psyc://server/$roster` ...) numbers each cast with a `_counter`, keeps a
bounded buffer of recent casts to replay, and answers with its whole state (the
snapshot) when a slave missed more than it keeps.  A slave applies the casts in
counter order only: a cast from the future waits (pending) while the slave asks
the master to resync, an old or repeated one is dropped.

Both halves are sans-IO: they decide, their users send and apply.

The per-server contexts of a network (the roster `psyc://SERVER/$roster`, the
channel directory `$directory`) add `ServerContext`: each server is the master
of its own, answers `_request_<name>` with `_status_<name>`, its whole copy, and
asks the others for theirs when it first hears of a server, when one comes
back, or when a cast shows a gap (`-1`: no copy yet); its copy of each other
server's context follows that server's casts with a `ContextSlave`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from enum import Enum
from typing import TYPE_CHECKING

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value, number
from ircpsyc.psyc_backend.uniform import root

if TYPE_CHECKING:
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.router import Router

ASK_AGAIN = 2.0  # seconds before the same server is asked for its copy again


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


class ServerContext:
    """This server's `$name` context and the asking for the others' copies."""

    def __init__(
        self,
        network: Network,
        router: Router,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.network = network
        self.router = router
        self.name = name
        self.clock = clock
        self.me = network.me
        self.uniform = f"psyc://{self.me}/${name}"
        self.asked: dict[str, float] = {}

    def is_peer(self, server: str) -> bool:
        """Another server of the network (the only ones whose copies we keep or ask)."""
        return server != self.me and self.network.in_network(server)

    def ask(self, server: str, counter: int = -1, again: bool = False) -> None:
        """`_request_<name>` to `server` (not twice within ASK_AGAIN unless `again`);
        `counter`: the last cast we have, or -1 for the whole copy."""
        now = self.clock()
        if not again and now - self.asked.get(server, -ASK_AGAIN) < ASK_AGAIN:
            return
        self.asked[server] = now
        self.router.send(
            Packet(
                V.REQUEST_PREFIX + self.name,
                {V.SOURCE: root(self.me), V.TARGET: f"psyc://{server}/${self.name}"},
                {V.COUNTER: str(counter)},
            )
        )

    def send_copy(self, server: str, counter: int, vars: dict[str, Value]) -> None:
        """`_status_<name>`: our whole copy, as of cast `counter`, to `server`."""
        self.router.send(
            Packet(
                V.STATUS_PREFIX + self.name,
                {V.CONTEXT: self.uniform, V.TARGET: root(server), V.COUNTER: str(counter)},
                vars,
            )
        )

    def got_copy(self, server: str) -> None:
        self.asked.pop(server, None)

    def offer(self, server: str, slave: ContextSlave, packet: Packet) -> list[Packet]:
        """A cast of `server`'s context, which `slave` follows: the casts to apply now,
        in order (it, and those that waited for it).  On a gap it waits and the whole
        copy is asked for, since the last cast applied; an old or repeated cast is
        dropped."""
        found = slave.offer(counter_of(packet), packet)
        if found is Order.GAP:
            self.ask(server, -1 if slave.last is None else slave.last)
            return []
        if found is Order.OLD:
            return []
        return [packet, *slave.drain()]

    def copy_in(self, server: str, slave: ContextSlave, counter: int) -> list[Packet]:
        """`server`'s whole copy, as of cast `counter`, was applied: the casts that
        waited for it and follow it, to apply now in order (and if some still do not
        follow, the copy is asked for again)."""
        self.got_copy(server)
        slave.reset(counter)
        casts = list(slave.drain())
        if slave.gap:
            self.ask(server, counter if slave.last is None else slave.last)
        return casts
