"""A fair queue for password hashing: per source, logins first (sans-IO).

argon2 is slow and memory-hard on purpose, so the server runs it on a couple of
threads.  With one shared first-come queue, a flood of registrations from many
addresses (each within its own limit) fills the threads for a minute and a real
login waits behind all of it, past the registration timeout.  This queue decides
which job a free thread runs next:

- Two classes with strict priority: `Work.VERIFY` (a login or OPER waits for it)
  before `Work.HASH` (a new password: REGISTER, SET PASSWORD).  Verifications are
  few by construction (every one is counted by the login limits before it is
  queued), so they cannot starve registrations for long.
- Within a class, start-time fair queuing between sources (an address, IPv6
  grouped by /64): each job gets a virtual start tag, max(V, the source's last
  finish tag), and the smallest tag runs next.  A backlogged source advances by
  one per job, so sources take turns; a source that was idle starts at the
  current virtual time V and is served within one round, whatever the others
  have queued.
- A bounded queue per source (`per_source` jobs, running ones included) and in
  all (`total`): `push` refuses beyond them and the caller answers with an error
  instead of queueing without end.

Nothing here runs a job or knows a clock: `push` queues, `pop` says what to run
next, `done` says a job of that source finished.  `ircpsyc.server` is the thin
adapter that feeds the thread pool.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

PER_SOURCE = 4  # jobs queued or running per source
TOTAL = 2048  # jobs queued or running in all


class Work(enum.IntEnum):
    """What a job is; lower runs first."""

    VERIFY = 0  # check a password somebody is logging in with
    HASH = 1  # hash a new password (a registration or a change)


@dataclass(slots=True)
class _Source(Generic[T]):
    """One source's jobs of one class: (start tag, arrival, job), in arrival order."""

    queue: deque[tuple[float, int, T]] = field(default_factory=deque)
    finish: float = 0.0  # the finish tag of its latest job


class FairQueue(Generic[T]):
    """Jobs of many sources; see the module docstring for the order."""

    def __init__(self, per_source: int = PER_SOURCE, total: int = TOTAL) -> None:
        self.per_source = per_source
        self.total = total
        self._classes: dict[Work, dict[str, _Source[T]]] = {kind: {} for kind in Work}
        self._vtime: dict[Work, float] = dict.fromkeys(Work, 0.0)
        self._load: dict[str, int] = {}  # source -> jobs queued or running
        self._busy = 0  # jobs queued or running in all
        self._arrivals = 0

    def __len__(self) -> int:
        """Jobs queued (not running)."""
        return sum(len(s.queue) for sources in self._classes.values() for s in sources.values())

    def load(self, source: str) -> int:
        """Jobs of `source` queued or running."""
        return self._load.get(source, 0)

    def push(self, source: str, kind: Work, job: T) -> bool:
        """Queue `job` for `source`; False (nothing queued) when its share is full."""
        if self.load(source) >= self.per_source or self._busy >= self.total:
            return False
        sources = self._classes[kind]
        state = sources.get(source)
        if state is None:
            state = sources[source] = _Source()
        start = max(self._vtime[kind], state.finish)
        state.finish = start + 1.0
        self._arrivals += 1
        state.queue.append((start, self._arrivals, job))
        self._load[source] = self.load(source) + 1
        self._busy += 1
        return True

    def pop(self) -> tuple[str, T] | None:
        """The next job to run and its source (it counts for the source until `done`)."""
        for kind in Work:
            sources = self._classes[kind]
            best: tuple[float, int, str] | None = None
            for name, state in sources.items():
                if state.queue:
                    start, arrival, _ = state.queue[0]
                    if best is None or (start, arrival) < best[:2]:
                        best = (start, arrival, name)
            if best is None:
                continue
            start, _, name = best
            state = sources[name]
            job = state.queue.popleft()[2]
            self._vtime[kind] = start
            self._forget_idle(kind)
            return name, job
        return None

    def done(self, source: str) -> None:
        """A job of `source` that `pop` handed out has finished."""
        if source not in self._load:
            return
        self._busy -= 1
        left = self._load[source] - 1
        if left > 0:
            self._load[source] = left
        else:
            self._load.pop(source, None)

    def _forget_idle(self, kind: Work) -> None:
        """Drop sources with nothing queued whose tags are behind V: a new job of theirs
        starts at V anyway, so their state says nothing any more (bounded memory).
        With nothing queued at all, every source starts afresh."""
        sources, now = self._classes[kind], self._vtime[kind]
        if not any(s.queue for s in sources.values()):
            sources.clear()
            return
        for name in [n for n, s in sources.items() if not s.queue and s.finish <= now]:
            del sources[name]
