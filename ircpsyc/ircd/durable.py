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
committed, the segment goes out.  The writer is asked to commit that batch
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

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ircpsyc.ircd.session import Session, Sink
    from ircpsyc.psyc_backend.packet import Packet
    from ircpsyc.services.history import History


class Segment:
    """Bytes held for one session until store ticket `ticket` is committed (None: the
    ticket is not known yet: the line's history entry is being queued)."""

    __slots__ = ("data", "ticket")

    def __init__(self) -> None:
        self.ticket: int | None = None
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
    ) -> None:
        self.history = history
        self.store_committed = committed
        self.schedule = schedule
        self.hurry = hurry
        self.hurried = 0  # the last ticket the writer was asked to commit soon
        self.local_places = f"psyc://{host}/@"
        self.held: dict[Session, HeldSink] = {}
        self.unbound: list[Segment] = []
        self.bind_scheduled = False

    def wanted(self, packet: Packet) -> bool:
        """Whether the echo of this cast must wait: a place of this server that keeps
        the line in its history."""
        return packet.routing.get("_context", "").startswith(
            self.local_places
        ) and self.history.will_log(packet)

    def hold(self, sessions: list[Session]) -> None:
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
            if not segments or segments[-1].ticket is not None:
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
                ticket = segments[0].ticket
                if ticket is None or ticket > done:
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

    def release_all(self) -> None:
        """Shutting down (the store is flushed): send everything held."""
        self.unbound.clear()
        for sink in self.held.values():
            for segment in sink.segments:
                segment.ticket = 0
        self.committed()
