"""Acknowledgements follow the commit: the sender's echo of a channel line waits for
the history batch that holds the line (group commit).

History writes are grouped and committed by the store's writer thread every
~100 ms (`ircpsyc.store.Store.write_later`).  A client that negotiated
echo-message takes its echo as the server's acknowledgement, so the echo must
not go out before the line is on disk: a kill -9 in between would lose a line
its sender was told was sent (DESIGN 6).  Delivery to the other members does
not wait.

How: when a local place casts a line whose echo goes to the sender's sessions,
those sessions' output is held (`HeldSink` takes the place of their sink) in a
segment; once the line's history entry is queued, the segment is bound to the
store ticket of that entry's write job; when the writer reports that ticket
committed, the segment goes out (for a channel homed on another server, when
that home says the cast is committed: `_notice_history_committed`, see
ircpsyc.services.history_net; if the home is lost first, the echo is dropped,
since nobody can say the line was kept).  The writer is asked to commit that batch
soon (`Store.hurry`: 10 ms after its first write rather than 100 ms), so an
echo waits about a hundredth of a second and lines still share commits.
Everything the session gets meanwhile waits behind the echo, so the order a
client sees never changes, and a close waits for what is held.  The input of
the connection is not held: a client that streams lines gets its echoes a
batch at a time, and the writer still groups them.

Sans-IO: `schedule` runs a callable soon on the event loop (after the current
line is handled, so its history entry exists), and `committed()` is called
on the event loop whenever the writer committed (the server wires
`Store.on_commit` to it through `call_soon_threadsafe`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.packet import number

if TYPE_CHECKING:
    from ircpsyc.ircd.ports import Sink, SinkHolder
    from ircpsyc.psyc_backend.packet import Packet
    from ircpsyc.services.history import History

log = logging.getLogger(__name__)

REMOTE_TIMEOUT = 5.0  # network.request_timeout's default: an echo waits 3 x that at most


class Segment:
    """Bytes held for one session until store ticket `ticket` is committed (None: the
    ticket is not known yet: the line's history entry is being queued), or, for a
    channel homed elsewhere, until its home says cast `counter` of `place` is
    committed (or `deadline` passes)."""

    __slots__ = ("counter", "data", "deadline", "lost", "place", "ticket")

    def __init__(self, place: str = "", counter: int = 0, deadline: float = 0.0) -> None:
        self.ticket: int | None = None
        self.place = place
        self.counter = counter
        self.deadline = deadline
        self.lost = False  # the home went away unconfirmed: the echo (data[0]) is dropped
        self.data: list[bytes] = []


class HeldSink:
    """A session's sink while its output waits for a commit: holds, in order."""

    __slots__ = ("closing", "inner", "segments")

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.segments: deque[Segment] = deque()
        self.closing = False

    def write(self, data: bytes) -> None:
        self.segments[-1].data.append(data)

    def close(self) -> None:
        self.closing = True  # after what is held

    # Input holds (`Session.later`) are about input: they go to the real sink.
    def hold(self) -> None:
        hold = getattr(self.inner, "hold", None)
        if hold is not None:
            hold()

    def release(self) -> None:
        release = getattr(self.inner, "release", None)
        if release is not None:
            release()


class DurableEcho:
    """Holds echoes of channel lines until their history batch is committed."""

    def __init__(
        self,
        history: History,
        committed: Callable[[], int],
        schedule: Callable[[Callable[[], None]], object],
        host: str,
        hurry: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.history = history
        self.store_committed = committed
        self.schedule = schedule
        self.hurry = hurry
        self.clock = clock
        self.hurried = 0  # the last ticket the writer was asked to commit soon
        # Host names are case-insensitive: the network writes them folded.
        self.local_places = f"psyc://{host.lower()}/@"
        self.held: dict[SinkHolder, HeldSink] = {}
        self.unbound: list[Segment] = []
        self.bind_scheduled = False
        # Linked servers: whether a host is a server of our network (its places
        # confirm commits: ircpsyc.services.history_net), and how long to wait at most.
        self.in_network: Callable[[str], bool] | None = None
        self.timeout: Callable[[], float] = lambda: REMOTE_TIMEOUT * 3
        self.safe: dict[str, int] = {}  # place homed elsewhere -> counter committed there

    def hold_echo(self, packet: Packet, sessions: Sequence[SinkHolder]) -> None:
        """The echo of `packet` is about to go to `sessions`: hold it if the line is
        kept in a history that has not committed it yet."""
        context = packet.routing.get(V.CONTEXT, "")
        if context[: len(self.local_places)].lower() == self.local_places:
            if self.history.will_log(packet):
                self.hold(sessions)
            return
        in_network = self.in_network
        if in_network is None or not self.history.config().history.enabled:
            return
        if not in_network(host_of(context)):
            return  # a foreign place (psyced) confirms nothing
        counter = number(packet.routing.get(V.COUNTER, ""), -1)
        if counter < 0 or self.safe.get(context, -1) >= counter:
            return
        self.hold(sessions, Segment(context, counter, self.clock() + self.timeout()))

    def hold(self, sessions: Sequence[SinkHolder], remote: Segment | None = None) -> None:
        """Hold these sessions' output from now on until the line being cast is
        committed (call before the echo is written)."""
        for session in sessions:
            if session.closed:
                continue
            sink = self.held.get(session)
            if sink is None:
                sink = HeldSink(session.sink)
                session.sink = sink
                self.held[session] = sink
            segments = sink.segments
            if remote is not None:
                last = segments[-1] if segments else None
                if last is None or last.place != remote.place or last.data:
                    last = Segment(remote.place, remote.counter, remote.deadline)
                    segments.append(last)
                last.counter = remote.counter
            elif not segments or segments[-1].ticket is not None or segments[-1].place:
                segment = Segment()
                segments.append(segment)
                self.unbound.append(segment)
        if self.unbound and not self.bind_scheduled:
            self.bind_scheduled = True
            self.schedule(self.bind)

    def bind(self) -> None:
        """The lines cast so far are queued for the writer: their segments wait for the
        latest ticket handed out (the job that holds them, or a later one)."""
        self.bind_scheduled = False
        ticket = self.history.writes.last_ticket
        for segment in self.unbound:
            segment.ticket = ticket
        self.unbound.clear()
        if ticket > self.hurried and ticket > self.store_committed():
            self.hurried = ticket  # once per batch: an echo waits for it
            self.hurry()
        self.committed()

    def committed(self) -> None:
        """The writer committed: send what waited for it."""
        if not self.held:
            return
        done = self.store_committed()
        for session, sink in list(self.held.items()):
            segments = sink.segments
            inner = sink.inner
            while segments:
                first = segments[0]
                if first.place:
                    if self.safe.get(first.place, -1) < first.counter and first.deadline:
                        break
                    if first.lost and self.safe.get(first.place, -1) < first.counter:
                        del first.data[:1]  # never confirmed: no acknowledgement
                elif first.ticket is None or first.ticket > done:
                    break
                for data in segments.popleft().data:
                    inner.write(data)
            if segments:
                continue
            del self.held[session]
            if session.sink is sink:
                session.sink = inner
            if sink.closing:
                inner.close()

    def committed_there(self, place: str, counter: int) -> None:
        """The home of `place` committed its casts up to `counter` (our persons' lines)."""
        if counter > self.safe.get(place, -1):
            self.safe[place] = counter
            self.committed()

    def tick(self, now: float) -> None:
        """A home that is there but does not confirm in time (a stuck writer, an older
        server): the echo goes anyway, as it did before homes confirmed."""
        expired = False
        clock = self.clock()
        for sink in self.held.values():
            for segment in sink.segments:
                if segment.place and segment.deadline and segment.deadline <= clock:
                    segment.deadline = 0.0
                    expired = True
        if expired:
            log.warning("a channel's home did not confirm a commit in time: echoes sent")
            self.committed()

    # A network listener: a home lost with lines unconfirmed (it restarted, or stayed
    # away past the grace) may not have kept them, so their echoes are not sent.

    def server_lost(self, name: str, boot: str) -> None:
        lost = False
        for sink in self.held.values():
            for segment in sink.segments:
                if segment.place and segment.deadline and host_of(segment.place) == name:
                    segment.deadline = 0.0
                    segment.lost = True
                    lost = True
        if lost:
            log.info("%s went away before confirming lines: their echoes are dropped", name)
            self.committed()

    def server_reachable(self, name: str, how: str) -> None:
        pass

    def release_all(self) -> None:
        """Shutting down (the store is flushed): send everything held."""
        self.unbound.clear()
        for sink in self.held.values():
            for segment in sink.segments:
                segment.ticket = 0
                segment.deadline = 0.0
        self.committed()
