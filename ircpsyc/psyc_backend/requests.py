"""Requests to another server's entity that wait for its answer.

Several entities ask another server something and wait (the history and the
away log at a home, NAMES/WHO of a channel homed elsewhere, an operator's KILL
or SA*, a change to an account kept elsewhere).  They share one shape: each
request carries a routing `_tag`, the answer brings it back as `_tag_relay`
and counts only when it comes from the server that was asked; a request
without an answer by its deadline, or whose server is lost, fails at once, and
whatever arrives for it later is dropped.

`Requests` keeps that bookkeeping and nothing else: its owner builds and sends
the packets, reads the answers, and is told of each failure by one callback.
It is sans-IO: deadlines come from the clock it is given.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.uniform import host_of

if TYPE_CHECKING:
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.packet import Packet

T = TypeVar("T")
# Why a request failed: no answer in time, or its server was lost.
Failure = Literal["timeout", "lost"]


@dataclass(slots=True)
class Request(Generic[T]):
    """One request on its way: its tag, the server asked, until when, and `data`, what
    the owner keeps for it (a callback, entries so far, ...)."""

    tag: str
    home: str
    deadline: float
    data: T


class Requests(Generic[T]):
    """The requests an entity has made of other servers, by tag.

    `prefix` starts every tag (`make_tag`, when given, makes them instead);
    `timeout()` is read when a request is added; `fail(request, why)` is called
    once for each request that expires or whose server is lost, after it was
    forgotten.  `network` (settable later) is what `can_ask` looks at.
    """

    def __init__(
        self,
        prefix: str,
        clock: Callable[[], float],
        timeout: Callable[[], float],
        fail: Callable[[Request[T], Failure], None],
        network: Network | None = None,
        make_tag: Callable[[], str] | None = None,
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self.fail = fail
        self.network = network
        self.pending: dict[str, Request[T]] = {}
        self.answered = 0
        self.expired = 0
        self.lost = 0
        counter = itertools.count(1)
        self._make_tag = make_tag or (lambda: f"{prefix}{next(counter)}")

    def __len__(self) -> int:
        return len(self.pending)

    def __contains__(self, tag: object) -> bool:
        return tag in self.pending

    def can_ask(self, home: str) -> bool:
        """Whether `home` is another server of the network that we can reach now."""
        network = self.network
        return (
            network is not None
            and home != network.me
            and network.in_network(home)
            and network.is_reachable(home)
        )

    def tag(self) -> str:
        """A new tag, for the packet of a request (then `add` it, once sent)."""
        return self._make_tag()

    def add(self, tag: str, home: str, data: T) -> Request[T]:
        """Wait for the answer of `home` to the request tagged `tag`."""
        request = Request(tag, home, self.clock() + float(self.timeout()), data)
        self.pending[tag] = request
        return request

    def get(self, packet: Packet) -> Request[T] | None:
        """The request `packet` answers (by its `_tag_relay`), if it came from the server
        that was asked; None for a late answer (the request failed) or a stray one."""
        request = self.pending.get(packet.routing.get(V.TAG_RELAY, ""))
        if request is None or host_of(packet.source) != request.home:
            return None
        return request

    def answered_by(self, request: Request[T]) -> bool:
        """Forget `request`, answered at last; False if it was gone already."""
        if self.pending.pop(request.tag, None) is None:
            return False
        self.answered += 1
        return True

    def tick(self, now: float) -> None:
        """A timer sweep: `expire`.  (A `Requests` can be a ticker and a network
        listener of its own, for owners that have nothing else to do then.)"""
        self.expire()

    def expire(self) -> None:
        """Fail the requests past their deadline (by our own clock: the tickers that call
        this may run on another one)."""
        if not self.pending:
            return
        now = self.clock()
        for tag in [t for t, r in self.pending.items() if now >= r.deadline]:
            request = self.pending.pop(tag, None)
            if request is not None:  # a failure before may have settled it
                self.expired += 1
                self.fail(request, "timeout")

    def server_reachable(self, name: str, how: str) -> None:
        pass  # what was asked before is answered, or expires

    def server_lost(self, name: str, boot: str = "") -> None:
        """A server that split off will not answer: fail what was asked of it now."""
        for tag in [t for t, r in self.pending.items() if r.home == name]:
            request = self.pending.pop(tag, None)
            if request is not None:
                self.lost += 1
                self.fail(request, "lost")
