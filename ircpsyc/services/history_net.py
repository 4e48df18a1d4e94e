"""History across the network: reading the history of a channel homed on another server.

A channel's history is kept at its home only (`History` observes the places
there).  Every linked server has a history service, `psyc://SERVER/$history`;
to read a channel homed elsewhere for a local member (CHATHISTORY, the replay
on JOIN) a server asks the home's service with psyced's `_request_history`,
carrying our CHATHISTORY selector, and gets the entries as the packets the
place cast, followed by `_echo_history`.  The front-ends render the answer:
IRC (CHATHISTORY, the replay on JOIN) and the XMPP gateway (the MUC history of
a joining occupant).

    _request_history      psyc://B/$history -> psyc://A/$history, routing _tag
        _nick_place           the channel
        _uniform_requester    the member who asks (a person of B: the home checks
                              that it is a member, B that it is its own)
        _selector             LATEST, BEFORE, AFTER, AROUND or BETWEEN
        _list_references      "*", "msgid=ID" or "timestamp=MS" (two for BETWEEN)
        _amount               the limit (the home caps it to its chathistory_limit)
        _kind                 the highest history kind wanted (events or not)
    the entries, oldest first, each as cast (method, vars, body), routing _tag_relay
    _echo_history         routing _tag_relay, _amount: how many entries were sent
    _error_necessary_membership   (routing _tag_relay) not a member: nothing sent
    _failure_history              (routing _tag_relay) no history there

A line said by a person of another server of the network is kept here, at the
home; its echo (echo-message) is its sender's acknowledgement, so the sender's
server holds the echo until the home says the line is committed:

    _notice_history_committed   psyc://A/$history -> psyc://B/$history
        _uniform_place            the place (the cast's _context)
        _counter                  the cast counter up to which B's persons' lines
                                  are committed (or were not to be kept)

sent once a commit covers them (the home hurries that commit), one per place
and commit (`committed`); the sender's server releases what waited
(`on_committed`, ircpsyc.ircd.durable).

Unicasts between two servers keep their order, so the entries arrive before
their `_echo_history`.  A request is answered by `done(packets)`, or by
`done(None)` when the home refused it, bounced it, or did not answer within
network.request_timeout seconds; whatever arrives for it after that is dropped.
The service is sans-IO: `tick` expires requests with the time it is given.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ircpsyc.channels.place import PlaceObserver
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import MAX_SECONDS, Packet, Value, number
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.uniform import host_of, normalize
from ircpsyc.services.history import (
    KIND_EVENT,
    SELECTORS,
    History,
    Reference,
    parse_wire_reference,
    select_refs,
)

if TYPE_CHECKING:
    from ircpsyc.channels.place import Place, PlaceRegistry
    from ircpsyc.config import Config
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.router import Router

log = logging.getLogger(__name__)

SERVICE = "$history"
COMMITTED = V.NOTICE_HISTORY_COMMITTED
Done = Callable[[list[Packet] | None], None]


@dataclass(slots=True)
class Asked:
    """What a request keeps: whom to tell, how many entries it wants, and those so far."""

    limit: int
    done: Done
    entries: list[Packet] = field(default_factory=list)


class NetHistory(PlaceObserver):
    """The history service of this server: asks homes, and answers as a home; tells
    the servers of the senders of lines when those lines are committed."""

    def __init__(
        self,
        network: Network,
        router: Router,
        registry: PlaceRegistry,
        history: Callable[[], History | None],
        config: Callable[[], Config],
        clock: Callable[[], float],
    ) -> None:
        self.network = network
        self.router = router
        self.registry = registry
        self.history = history
        self.config = config
        self.clock = clock
        self.me = network.me
        self.uniform = f"psyc://{self.me}/{SERVICE}"
        self.local = f"psyc://{self.me}/"  # the uniforms of this server's persons
        self.requests: Requests[Asked] = Requests(
            "h", clock, lambda: config().network.request_timeout, self._failed, network
        )
        # Lines of other servers' persons not yet known committed: (store ticket,
        # their server, place, cast counter), in ticket order.
        self.uncommitted: deque[tuple[int, str, str, int]] = deque()
        self.hurried = 0
        # Told when a home committed lines of our persons: (place, counter).
        self.on_committed: list[Callable[[str, int], None]] = []
        router.register(self)
        registry.observers.append(self)  # after History: the entry is queued by now

    # -- commits of lines of other servers' persons (their echoes wait for them)

    def place_cast(self, place: Place, packet: Packet) -> None:
        relay = packet.routing.get(V.SOURCE_RELAY, "")
        if not relay or relay.startswith(self.local):  # ours are committed here
            return
        if not packet.method.startswith(V.MESSAGE_PUBLIC):
            return
        server = host_of(relay)
        if server == self.me or not self.network.in_network(server):
            return
        history = self.history()
        store = history.store if history is not None else None
        counter = number(packet.routing.get(V.COUNTER, ""), -1)
        if counter < 0:
            return
        ticket = 0
        if history is not None and store is not None and history.will_log(packet):
            ticket = history.writes.last_ticket
            if ticket > self.hurried and ticket > store.committed:
                self.hurried = ticket
                store.hurry()
        self.uncommitted.append((ticket, server, place.uniform, counter))
        if ticket == 0 or store is None:
            self.committed()  # nothing to wait for

    def committed(self) -> None:
        """The store committed (or nothing was to be kept): tell each server up to
        which counter of each place its persons' lines are safe."""
        pending = self.uncommitted
        if not pending:
            return
        history = self.history()
        store = history.store if history is not None else None
        done = store.committed if store is not None else 0
        safe: dict[tuple[str, str], int] = {}
        while pending and (pending[0][0] == 0 or pending[0][0] <= done):
            _ticket, server, place, counter = pending.popleft()
            safe[(server, place)] = max(counter, safe.get((server, place), -1))
        for (server, place), counter in safe.items():
            self.router.send(
                Packet(
                    COMMITTED,
                    {V.SOURCE: self.uniform, V.TARGET: f"psyc://{server}/{SERVICE}"},
                    {V.UNIFORM_PLACE: place, V.COUNTER: str(counter)},
                )
            )

    def _committed_there(self, packet: Packet) -> None:
        """A home committed lines of our persons: their echoes may go."""
        place = packet.get(V.UNIFORM_PLACE)
        counter = number(packet.get(V.COUNTER), -1)
        if counter < 0 or host_of(place) != host_of(packet.source):
            return  # a server speaks for its own places only
        for hook in self.on_committed:
            hook(place, counter)

    # -- asking a home

    def elsewhere(self, place_uniform: str) -> str:
        """The server a channel's history lives on when it is not this one ("" if here):
        its home, the host of its place's uniform."""
        home = host_of(place_uniform)
        return home if home and home != self.me else ""

    def can_ask(self, home: str) -> bool:
        return self.requests.can_ask(home)

    def ask(
        self,
        home: str,
        channel: str,
        requester: str,
        selector: str,
        refs: list[str],
        limit: int,
        max_kind: int,
        done: Done,
    ) -> bool:
        """Ask `home` for entries of `channel` on behalf of the local member `requester`;
        `done` is called later, once.  False (and `done` never called) when the home
        cannot be asked now."""
        if not self.can_ask(home):
            return False
        tag = self.requests.tag()
        vars: dict[str, Value] = {
            V.NICK_PLACE: channel,
            V.UNIFORM_REQUESTER: requester,
            V.SELECTOR: selector,
            V.LIST_REFERENCES: refs,
            V.AMOUNT: str(limit),
            V.KIND: str(max_kind),
        }
        packet = Packet(
            V.REQUEST_HISTORY,
            {V.SOURCE: self.uniform, V.TARGET: f"psyc://{home}/{SERVICE}", V.TAG: tag},
            vars,
        )
        if not self.router.send(packet):
            return False
        self.requests.add(tag, home, Asked(max(0, limit), done))
        return True

    def receive(self, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.REQUEST_HISTORY):
            self._answer(packet)
            return
        if method == COMMITTED:
            self._committed_there(packet)
            return
        request = self.requests.get(packet)
        if request is None:
            return  # late (it timed out), or not ours: dropped
        asked = request.data
        if method.startswith(V.ECHO_HISTORY):
            self._answered(request, asked.entries)
        elif method.startswith((V.ERROR, V.FAILURE)):
            self._answered(request, None)
        elif len(asked.entries) < asked.limit:
            asked.entries.append(Packet(method, {}, packet.vars, packet.body))

    def _answered(self, request: Request[Asked], entries: list[Packet] | None) -> None:
        self.requests.answered_by(request)
        self._finish(request, entries)

    def _failed(self, request: Request[Asked], why: Failure) -> None:
        if why == "timeout":
            log.info("history request %s to %s timed out", request.tag, request.home)
        self._finish(request, None)

    def _finish(self, request: Request[Asked], entries: list[Packet] | None) -> None:
        try:
            request.data.done(entries)
        except Exception:
            log.exception("history answer from %s failed", request.home)

    # -- answering as the home

    def _answer(self, packet: Packet) -> None:
        source = packet.source
        server = host_of(source)
        tag = packet.routing.get(V.TAG, "")
        routing = {V.SOURCE: self.uniform, V.TARGET: source, V.TAG_RELAY: tag}
        name = packet.get(V.NICK_PLACE)
        requester = packet.get(V.UNIFORM_REQUESTER)
        history = self.history()
        place = self.registry.place(name)
        selector = packet.get(V.SELECTOR).upper()
        refs = [_reference(r) for r in packet.get_list(V.LIST_REFERENCES)]
        wanted = 2 if selector == "BETWEEN" else 1
        if (
            history is None
            or not self.network.in_network(server)
            or selector not in SELECTORS
            or len(refs) != wanted
        ):
            self.router.send(Packet(V.FAILURE_HISTORY, routing, {V.NICK_PLACE: name}))
            return
        if (
            place is None
            or host_of(requester) != server  # a server asks for its own persons only
            or normalize(requester) not in place.members
        ):
            self.router.send(Packet(V.ERROR_NECESSARY_MEMBERSHIP, routing, {V.NICK_PLACE: name}))
            return
        valid = [r for r in refs if r is not None]
        if len(valid) != wanted or (valid[0][0] == "*" and selector != "LATEST"):
            self.router.send(Packet(V.FAILURE_HISTORY, routing, {V.NICK_PLACE: name}))
            return
        limit = min(_int(packet.get(V.AMOUNT)), int(self.config().history.chathistory_limit))
        max_kind = min(_int(packet.get(V.KIND)), KIND_EVENT)
        entries = select_refs(history, selector, place.folded, valid, limit, max_kind, 0)
        for entry in entries:
            source_packet = entry.source
            self.router.send(
                Packet(source_packet.method, dict(routing), source_packet.vars, source_packet.body)
            )
        self.router.send(Packet(V.ECHO_HISTORY, routing, {V.AMOUNT: str(len(entries))}))

    def snapshot(self) -> dict[str, Any]:
        requests = self.requests
        # "answered" has always counted every request settled, failed ones too.
        settled = requests.answered + requests.expired + requests.lost
        return {"pending": len(requests), "answered": settled, "expired": requests.expired}


def _int(text: str) -> int:
    return max(0, number(text, 0))


def _reference(text: str) -> Reference | None:
    """A reference from another server; None when malformed (a timestamp that is not
    a time in ms: `isdigit` takes "²", and a huge one does not fit the store)."""
    if text.startswith("timestamp="):
        ms = number(text[10:], -1, 15)
        if not 0 <= ms <= int(MAX_SECONDS * 1000):
            return None
    return parse_wire_reference(text)
