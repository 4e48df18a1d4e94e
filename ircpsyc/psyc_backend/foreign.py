"""Foreign circuits: plain PSYC with servers outside the network (psyced), on demand.

Inside the network servers link with `[[links]]` (HMAC, topology, acknowledgements,
ircpsyc.psyc_backend.link).  Any other PSYC server is reached the way psyced reaches
it (DESIGN.md 2 and 4, shared/psyced/README.md): a packet for `psyc://HOST[:PORT]/...`
opens a TCP circuit to HOST, port 4404 unless the uniform names one, and a psyced
that dials our PSYC port is taken the same way (`ForeignService.adopt`, from the link
listener, which sees the first line).  Such a circuit is plain PSYC:

* in the peer's syntax: we open with psyced's 0.9 (`.`), and switch to 1.0 if the
  peer's first line is `|` (ircpsyc.psyc_backend.wire09.detect_syntax); an accepted
  circuit answers in the syntax of the peer's first line;
* no secret, topology, acknowledgements or end-to-end numbering: nothing is resent,
  and only the routing variables psyced accepts go out (`_source _target _context
  _source_relay _tag _tag_reply`);
* a peer speaks only for its own host, as psyced checks: the host of a packet's
  `_source` (or `_context`) must resolve to the peer's address, must not be a
  server of the network (or a configured link), and the `_target` must be ours;
  anything else is dropped and counted;
* bounded: packet size (small until the peer greeted), packets queued while a
  circuit opens, packets waiting for a name to resolve, circuits per peer address
  and in all; a circuit that does not open within `HANDSHAKE_TIMEOUT` or stays
  silent for `IDLE_TIMEOUT` is closed; a failed dial or handshake is logged and
  the host is dialled again only after a doubling back-off.

psyced's dialect is translated at the border (`Foreign.incoming`): its
`_echo_place_enter` comes from the place with no `_context` and its casts carry no
`_counter`, so the echo gets `_context` and the casts of each foreign context get
counters in arrival order (one TCP stream, nothing resent: the order is the
home's); psyced matches the `_echo_place_enter` of our places by `_tag_reply`, so
the `_tag` of each foreign enter request is kept for the echo.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ircpsyc import __version__
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.hostpolicy import HostPolicy
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.router import RemoteEntity
from ircpsyc.psyc_backend.uniform import (
    Uniform,
    UniformError,
    is_person,
    is_place,
    is_service,
    nick_of,
    normalize,
    root,
)
from ircpsyc.psyc_backend.wire import PacketError, Parser, render
from ircpsyc.psyc_backend.wire09 import (
    OPENING,
    SYNTAX_09,
    SYNTAX_10,
    Parser09,
    detect_syntax,
    render09,
)

if TYPE_CHECKING:
    from ircpsyc.psyc_backend.network import Network

log = logging.getLogger(__name__)

DEFAULT_PORT: Final = 4404
TLS_TRANSPORT: Final = "s"  # after a uniform's port: the circuit speaks TLS (libpsyc)
HANDSHAKE_TIMEOUT: Final = 15.0  # seconds from connect/accept to the peer's greeting
IDLE_TIMEOUT: Final = 600.0  # seconds without a packet either way before closing
DIAL_TIMEOUT: Final = 10.0
BACKOFF_MIN: Final = 2.0
BACKOFF_MAX: Final = 300.0
MAX_PACKET: Final = 64 << 10  # bytes of one packet from a greeted foreign peer
PRE_GREETING_PACKET: Final = 4096  # and before its greeting
QUEUE_MAX: Final = 256  # packets waiting for a circuit to open
HELD_MAX: Final = 64  # packets waiting for their host's name to resolve
WRITE_BUFFER_MAX: Final = 1 << 20  # bytes unsent to a peer that does not read
PER_ADDRESS: Final = 4  # circuits with one peer address
TOTAL: Final = 256  # foreign circuits in all
RESOLVE_TTL: Final = 300.0
MAX_TAGS: Final = 4096  # enter requests whose `_tag` waits for our echo
MAX_AUTHORITIES: Final = 4096
REFUSED_MAX: Final = 100  # refused packets before a circuit is closed
REFUSED_LOGGED: Final = 10  # of which logged one by one
MAX_DIALING: Final = 16  # dials under way at once (users name the hosts)
MAX_QUEUES: Final = 256  # hosts with packets waiting for a circuit
PONG_EVERY: Final = 120.0  # seconds between our answers to a peer's pings (psyced's rule)
ENTER_HOLD: Final = 64  # casts of a place kept while our enter request awaits its echo
MAX_ENTERING: Final = 256
KICK_ANSWER: Final = 5.0  # seconds a foreign place has to act on our kick (psyced: owners)

# The routing variables psyced accepts (it refuses packets with any other).
FOREIGN_ROUTING: Final = frozenset(
    {V.SOURCE, V.TARGET, V.CONTEXT, V.SOURCE_RELAY, V.TAG, V.TAG_RELAY}
)

OPENING_STATE: Final = "opening"  # waiting for the peer's first line / greeting
OPEN: Final = "open"
CLOSED: Final = "closed"


def authority_of(uniform: str) -> str:
    """`host[:port[s]]` of a uniform, lower-cased, without the default port; "" if none.

    A port may end in a transport letter (libpsyc's `uniform.h`): `s` is TLS (kept:
    the circuit is dialled with TLS), `c` plain TCP (dropped: the default)."""
    try:
        parsed = Uniform.parse(uniform)
    except UniformError:
        return ""
    port = parsed.port.lower()
    if port.endswith("c"):
        port = port[:-1]
    digits = port[:-1] if port.endswith(TLS_TRANSPORT) else port
    if port == str(DEFAULT_PORT):
        port = ""
    if port and not (digits.isascii() and digits.isdigit() and 0 < int(digits) < 65536):
        return ""  # no such port: nothing to dial
    return f"{parsed.host}:{port}" if port else parsed.host


def split_authority(authority: str) -> tuple[str, int]:
    host, _, port = authority.partition(":")
    port = port.removesuffix(TLS_TRANSPORT)
    return host, int(port) if port.isdigit() else DEFAULT_PORT


def is_tls(authority: str) -> bool:
    """Whether a circuit to `authority` is TLS (`psyc://host:9404s/`)."""
    return authority.endswith(TLS_TRANSPORT) and ":" in authority


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def bind_address(listen: str) -> str:
    """The address to dial from: our PSYC listener's, when it is one specific address
    (psyced checks that our uniforms' host is where our circuits come from)."""
    host = listen.rpartition(":")[0].strip("[]") if ":" in listen else ""
    literal = _literal(host) if host else None
    if literal is None or ipaddress.ip_address(literal).is_unspecified:
        return ""
    return literal


_PLACEHOLDER: Final = re.compile(r"\[(_[A-Za-z0-9_]+)\]")


def psyctext(template: str, packet: Packet) -> str:
    """A PSYC text template with its `[_var]` placeholders filled from the packet."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return packet.get(name) or packet.routing.get(name) or match.group(0)

    return _PLACEHOLDER.sub(fill, template)[:400].replace("\n", " ")


class ForeignCircuit:
    """One TCP connection with a foreign PSYC server (sans-IO: bytes in, bytes out)."""

    def __init__(
        self,
        foreign: Foreign,
        address: str,
        outbound: str,
        write: Callable[[bytes], None],
        close: Callable[[], None],
        now: float,
        answered: bool = False,
    ) -> None:
        self.foreign = foreign
        self.address = address  # the peer's IP address
        self.outbound = outbound  # the authority we dialled ("" if it dialled us)
        self.authority = outbound  # whose uniforms it carries, once known
        self._write = write
        self._close = close
        self.state = OPENING_STATE
        self.syntax = SYNTAX_09 if outbound else ""
        self.parser: Parser09 | Parser = Parser09(
            max_packet=PRE_GREETING_PACKET, circuit_state=True
        )
        self.head = b""  # the peer's first bytes, until its syntax is known
        self.detected = False
        self.greeted = False
        self.opened = self.last_recv = self.last_sent = now
        self.last_pong = now
        self.held: deque[Packet] = deque()  # waiting for a name to resolve
        self.reason = ""
        self.peer_error = ""  # what the peer said was wrong with us, if it did
        self.refused = 0
        self.opening_sent = answered  # the link listener sent our `|` already
        # Our root towards this peer: with our TLS port when it called that listener,
        # so that our answers name us as it named us.
        self.me_root = foreign.me_root
        if outbound:
            self._greet()

    def __repr__(self) -> str:
        return f"<ForeignCircuit {self.authority or self.address} {self.state}>"

    def _greet(self) -> None:
        me = self.me_root
        hello = Packet(
            V.NOTICE_CIRCUIT_ESTABLISHED,
            {V.SOURCE: me},
            {V.IMPLEMENTATION: f"ircpsyc/{__version__}"},
        )
        opening = b"" if self.opening_sent else OPENING if self.syntax == SYNTAX_09 else b"|\n"
        self.opening_sent = True
        self._write(opening + self.encode(hello))

    def encode(self, packet: Packet) -> bytes:
        return render09(packet) if self.syntax == SYNTAX_09 else render(packet)

    def send(self, packet: Packet, now: float) -> None:
        if self.state == CLOSED:
            return
        self.last_sent = now
        self._write(self.encode(packet))

    def data_received(self, data: bytes, now: float) -> None:
        if self.state == CLOSED:
            return
        self.last_recv = now
        if not self.detected:
            self.head += data
            try:
                syntax = detect_syntax(self.head)
            except PacketError as error:
                # psyced's answer to a circuit that starts with neither `.` nor `|`.
                self._write(
                    render09(
                        Packet(
                            V.ERROR_SYNTAX_INITIALIZATION,
                            {V.SOURCE: self.me_root},
                            {V.REASON: error.reason},
                        )
                    )
                )
                self.fail(f"bad first line: {error.reason}", "")
                return
            if syntax is None:
                return
            data, self.head, self.detected = self.head, b"", True
            if syntax != self.syntax:
                self.syntax = syntax
                if syntax == SYNTAX_10:
                    self.parser = Parser(max_packet=PRE_GREETING_PACKET, max_name=64)
            if not self.outbound:
                self._greet()
        try:
            packets = self.parser.feed(data)
        except PacketError as error:
            for packet in error.packets:
                self._packet(packet, now)
            self.fail(f"cannot parse its packets: {error.reason}", V.ERROR_SYNTAX)
            return
        for packet in packets:
            if self.state == CLOSED:
                return
            self._packet(packet, now)

    def _packet(self, packet: Packet, now: float) -> None:
        if not packet.method and not packet.vars and not packet.routing:
            if self.greeted and now - self.last_pong >= PONG_EVERY:
                self.last_pong = now  # a ping: psyced answers one per 120 s at most
                self.send(Packet(""), now)
            return  # the opening line, or a ping
        if not self.greeted:
            self.greeted = True
            self.parser.max_packet = MAX_PACKET
        method = packet.method
        if method == V.NOTICE_CIRCUIT_ESTABLISHED or method.startswith(V.STATUS_CIRCUIT):
            self.foreign.greeting(self, packet, now)
            return
        if method == V.REQUEST_CIRCUIT_SHUTDOWN:
            self.close("the peer shut the circuit down")
            return
        if not packet.routing.get(V.TARGET) and not packet.routing.get(V.CONTEXT):
            if method.startswith((V.ERROR, V.FAILURE)):
                said = (packet.get(V.REASON) or packet.body)[:200]
                log.info("foreign %s says %s: %s", self, method, said)
                self.peer_error = f"it says {method}: {said}" if said else f"it says {method}"
            return  # a circuit-level packet we have no use for
        self.foreign.incoming(self, packet)

    def tick(self, now: float) -> None:
        if self.state == CLOSED:
            return
        if self.state == OPENING_STATE and now - self.opened > HANDSHAKE_TIMEOUT:
            self.fail("no greeting within the handshake timeout")
        elif now - max(self.last_recv, self.last_sent) > IDLE_TIMEOUT:
            host = split_authority(self.authority)[0]
            if self.state == OPEN and self.foreign.in_use(host):
                # psyced drops the members behind a closed circuit: keep it, and alive.
                self.send(Packet(""), now)
            else:
                self.close("idle", idle=True)

    def fail(self, reason: str, error: str = V.ERROR_CIRCUIT) -> None:
        """Close the circuit for `reason`, telling the peer first with `error` (as
        psyced's `croak` does) once its syntax is known; "" tells it nothing."""
        log.warning("foreign circuit %s: %s", self.authority or self.address, reason)
        if error and self.state != CLOSED and (self.detected or self.outbound):
            said = Packet(error, {V.SOURCE: self.me_root}, {V.REASON: reason[:200]})
            with contextlib.suppress(PacketError):
                self._write(self.encode(said))
        self.close(reason)

    def close(self, reason: str, idle: bool = False) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.reason = reason
        self.held.clear()
        self.parser = Parser09(max_packet=1)
        self._close()
        self.foreign.closed(self, idle)

    def lost(self, reason: str) -> None:
        """The transport went away under us."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.reason = reason
        self.held.clear()
        self.foreign.closed(self, False)


class Foreign:
    """All foreign circuits of this server, and the translation at the border.

    `dial(authority)` and `resolve(host)` are installed by the asyncio adapter
    (`ForeignService`); tests can install their own."""

    def __init__(self, network: Network, clock: Callable[[], float] = time.monotonic) -> None:
        self.network = network
        self.clock = clock
        self.me_root = root(network.me)
        self.local_root = self.me_root  # our uniforms inside the server
        self.tls_root = ""  # and towards those that call our TLS listener
        self.history_amount = 0  # lines a foreign place should replay when we enter
        self.authority = network.me  # and towards foreign servers (with our port)
        self.circuits: set[ForeignCircuit] = set()
        self.by_authority: dict[str, ForeignCircuit] = {}  # open circuits we may send on
        self.queues: dict[str, deque[Packet]] = {}  # packets for circuits being opened
        self.dialing: set[str] = set()
        self.next_dial: dict[str, float] = {}
        self.delay: dict[str, float] = {}
        self.authorities: OrderedDict[str, None] = OrderedDict()  # every peer we talked to
        self.addresses: dict[str, tuple[set[str], float]] = {}  # resolved host names
        self.counters: dict[str, int] = {}  # per foreign context: casts seen
        self.tags: OrderedDict[tuple[str, str], str] = OrderedDict()  # (person, place) -> _tag
        # Places we asked to enter, with their casts that overtook the echo: psyced
        # sends the echo to our person's host (a circuit it may still be opening) and
        # its casts along the circuit the request came on.
        self.entering: OrderedDict[str, deque[Packet]] = OrderedDict()
        # And the requests themselves, answered with an error if the circuit goes
        # (or the peer refuses us) before the echo: a JOIN never waits for ever.
        self.requests: OrderedDict[str, Packet] = OrderedDict()
        # Kicks sent to foreign places, until the place acts on them: psyced answers
        # its owners' with `_status_place_banned` and nobody else's at all, so after
        # KICK_ANSWER seconds the kicker hears that the place would not.
        self.kicks: OrderedDict[tuple[str, str], tuple[float, Packet]] = OrderedDict()
        self.refused = 0
        self.refused_dials = 0  # packets for hosts [federation] keeps us from dialling
        self.dropped = 0
        # Which hosts we federate with ([federation]); linking installs the configured
        # one (whose default keeps users from making us dial non-public addresses).
        self.policy = HostPolicy(dial_private=True)
        self.dial: Callable[[str], None] = lambda authority: None
        # Whether members of a place sit behind `host` (ours in its places, or its
        # persons in ours): such a circuit is kept when idle (ircpsyc.linking).
        self.in_use: Callable[[str], bool] = lambda host: False
        self.resolve: Callable[[str], None] = lambda host: None

    def set_port(self, port: int) -> None:
        """Our PSYC listener's port: when it is not 4404 our uniforms carry it towards
        foreign servers, as psyced's do (`psyc://host:port/~nick`), so they dial it."""
        me = self.network.me
        self.authority = me if port in (0, DEFAULT_PORT) else f"{me}:{port}"
        self.me_root = root(self.authority)

    def set_tls_port(self, port: int) -> None:
        """Our TLS PSYC listener's port: a foreign server that calls it names us
        `psyc://host:PORTs/`, and is answered so."""
        self.tls_root = root(f"{self.network.me}:{port}{TLS_TRANSPORT}")

    def _translate(self, packet: Packet, old: str, new: str) -> Packet:
        """Our uniforms from one form to the other, in routing and entity variables."""
        if old == new:
            return packet

        def fix(text: str) -> str:
            return new + text[len(old) :] if text.lower().startswith(old) else text

        routing = {k: fix(v) for k, v in packet.routing.items()}
        vars: dict[str, Value] = {
            k: [fix(x) for x in v] if isinstance(v, list) else fix(v)
            for k, v in packet.vars.items()
        }
        return Packet(packet.method, routing, vars, packet.body, packet.modifiers)

    # -- who is foreign

    def is_foreign(self, host: str) -> bool:
        network = self.network
        return bool(host) and not (
            host == network.me
            or host in network.hash_servers
            or host in network.links.peers
            or host in network.known  # behind a link: another network's server we reach
            or host in network.topology.lsdb
        )

    def count_address(self, address: str) -> int:
        return sum(1 for c in self.circuits if c.address == address)

    def admit(self, address: str) -> bool:
        return len(self.circuits) < TOTAL and self.count_address(address) < PER_ADDRESS

    # -- circuits

    def opened(self, circuit: ForeignCircuit) -> None:
        self.circuits.add(circuit)

    def greeting(self, circuit: ForeignCircuit, packet: Packet, now: float) -> None:
        """The peer's `_notice_circuit_established` (or `_status_circuit`)."""
        if circuit.state != OPENING_STATE:
            return
        source = packet.routing.get(V.SOURCE, "")
        authority = authority_of(source) if source else circuit.outbound
        if not authority:
            return
        if circuit.outbound and authority != circuit.outbound:
            log.info("foreign %s greets as %s", circuit.outbound, authority)
        if not self.is_foreign(split_authority(authority)[0]):
            circuit.fail(f"greets as {authority}, a server of our network", V.ERROR_ILLEGAL_SOURCE)
            return
        ok = self._vouch(circuit, split_authority(authority)[0])
        if ok is None:  # resolving: the greeting comes back through `resolved`
            circuit.held.append(packet)
            return
        if not ok or not self.is_foreign(split_authority(authority)[0]):
            circuit.fail(
                f"greets as {authority}, which is not its address {circuit.address}",
                V.ERROR_INVALID_HOST,
            )
            return
        refusal = self.policy.caller_refusal(split_authority(authority)[0], circuit.address)
        if refusal:  # psyced's answer to a peer it blocks
            circuit.fail(refusal, V.ERROR_ILLEGAL_SOURCE)
            return
        circuit.authority = authority
        circuit.state = "open"
        self._remember(authority)
        self.delay.pop(authority, None)
        old = self.by_authority.get(authority)
        if old is None or old.state != OPEN:
            self.by_authority[authority] = circuit
        log.info(
            "foreign circuit with %s open (%s, PSYC %s)",
            authority,
            "dialled" if circuit.outbound else "accepted",
            circuit.syntax,
        )
        queue = self.queues.pop(authority, None)
        if circuit.outbound and circuit.outbound != authority:
            queue = self.queues.pop(circuit.outbound, queue)
            self.by_authority.setdefault(circuit.outbound, circuit)
        for waiting in queue or ():
            circuit.send(self._outgoing(waiting, circuit.me_root), now)

    def _remember(self, authority: str) -> None:
        self.authorities[authority] = None
        self.authorities.move_to_end(authority)
        while len(self.authorities) > MAX_AUTHORITIES:
            self.authorities.popitem(last=False)

    def closed(self, circuit: ForeignCircuit, idle: bool) -> None:
        self.circuits.discard(circuit)
        for authority, held in list(self.by_authority.items()):
            if held is circuit:
                del self.by_authority[authority]
                other = next(
                    (c for c in self.circuits if c.authority == authority and c.state == OPEN),
                    None,
                )
                if other is not None:
                    self.by_authority[authority] = other
        authority = circuit.authority
        if circuit.outbound:
            self.dialing.discard(circuit.outbound)
            if circuit.state != OPEN and not idle and not circuit.greeted:
                reason = circuit.peer_error or circuit.reason or "closed before its greeting"
                self.dial_failed(circuit.outbound, reason)
        if idle or not authority or authority in self.by_authority:
            return
        host = split_authority(authority)[0]
        # Enter requests it will never answer now: the user hears why.
        why = circuit.peer_error or f"lost the circuit: {circuit.reason or 'closed'}"
        self._unanswered(authority, f"cannot federate with {authority}: {why}")
        if self.queues.get(authority):
            self.next_dial.setdefault(authority, self.clock())
        if any(split_authority(a)[0] == host for a in self.by_authority):
            return
        # A circuit lost under its members: psyced calls this a netburp.  Places make
        # the persons of that host leave, replicas of its places lose its members.
        log.info("foreign circuit with %s lost: %s", authority, circuit.reason)
        self.network.tell_lost(host, "")

    def _failed(self, authority: str, reason: str) -> None:
        delay = self.delay.get(authority, BACKOFF_MIN)
        self.delay[authority] = min(delay * 2, BACKOFF_MAX)
        self.next_dial[authority] = self.clock() + delay
        log.warning(
            "foreign circuit to %s failed: %s (next try in %.0fs)", authority, reason, delay
        )

    def dial_failed(self, authority: str, reason: str) -> None:
        self.dialing.discard(authority)
        self._failed(authority, reason)
        # Nobody there: what waited is answered with an error (a JOIN gets its 403, a
        # PRIVMSG its 401) instead of waiting for a server that may never come.
        queue = self.queues.pop(authority, None) or ()
        self.dropped += len(queue)
        why = f"cannot federate with {authority}: {reason}"
        for packet in queue:
            self.network.router.bounce(packet, why)
        self._unanswered(authority, why, bounce=False)

    def _unanswered(self, authority: str, why: str, bounce: bool = True) -> None:
        """Forget the enter requests to `authority` (answered with `why`, unless the
        caller bounced them with the queue they waited in)."""
        for place in [p for p in self.requests if authority_of(p) == authority]:
            self.entering.pop(place, None)
            request = self.requests.pop(place)
            if bounce:
                self.network.router.bounce(request, why)

    def tick(self, now: float) -> None:
        for circuit in list(self.circuits):
            circuit.tick(now)
        if self.kicks:
            self._kicks_due(now)
        for authority, queue in list(self.queues.items()):
            if not queue:
                del self.queues[authority]
            elif (
                authority not in self.dialing
                and len(self.dialing) < MAX_DIALING
                and now >= self.next_dial.get(authority, 0.0)
            ):
                self._open(authority)

    def _open(self, authority: str) -> None:
        self.dialing.add(authority)
        self.next_dial[authority] = self.clock() + BACKOFF_MIN
        self.dial(authority)

    def snapshot(self, now: float) -> dict[str, Any]:
        """For operators (STATS L): the foreign circuits and what was refused."""
        return {
            "circuits": [
                {
                    "peer": c.authority or c.address,
                    "address": c.address,
                    "state": c.state,
                    "syntax": c.syntax,
                    "dialled": bool(c.outbound),
                    "idle": int(now - max(c.last_recv, c.last_sent)),
                }
                for c in sorted(self.circuits, key=lambda c: c.authority or c.address)
            ],
            "queued": sum(len(q) for q in self.queues.values()),
            "refused": self.refused,
            "refused_dials": self.refused_dials,
            "dropped": self.dropped,
        }

    # -- sending

    def send(self, packet: Packet, authority: str = "") -> bool:
        """A packet for a foreign host: on its open circuit, or queued while it opens."""
        if not authority:
            target = packet.routing.get(V.TARGET, "")
            authority = authority_of(target)
        if not authority:
            return False
        circuit = self.by_authority.get(authority)
        if circuit is not None and circuit.state != OPEN:
            circuit = None
        refusal = "" if circuit else self.policy.name_refusal(split_authority(authority)[0])
        if refusal:  # never dialled: the user hears why at once
            self.refused_dials += 1
            self.network.router.bounce(packet, refusal)
            return True
        method = packet.method
        if method.startswith(V.REQUEST_KICK) and V.SOURCE in packet.routing:
            key = (normalize(packet.routing[V.TARGET]), normalize(packet.routing[V.SOURCE]))
            self.kicks[key] = (self.clock() + KICK_ANSWER, packet)
            while len(self.kicks) > MAX_ENTERING:
                self.kicks.popitem(last=False)
        if method.startswith((V.REQUEST_ENTER, V.REQUEST_CONTEXT_ENTER)):
            place = normalize(packet.routing.get(V.TARGET, ""))
            if place not in self.entering:
                self.entering[place] = deque(maxlen=ENTER_HOLD)
                while len(self.entering) > MAX_ENTERING:
                    self.entering.popitem(last=False)
            self.requests[place] = packet
            while len(self.requests) > MAX_ENTERING:
                self.requests.popitem(last=False)
        if circuit is not None:
            circuit.send(self._outgoing(packet, circuit.me_root), self.clock())
            return True
        queue = self.queues.get(authority)
        if queue is None:
            if len(self.queues) >= MAX_QUEUES:
                return False  # the sender hears it cannot be routed now
            queue = self.queues[authority] = deque()
        if len(queue) >= QUEUE_MAX:
            self.dropped += 1
            return True  # sent into the void like a full link queue: never blocks
        queue.append(packet)
        if (
            authority not in self.dialing
            and len(self.dialing) < MAX_DIALING
            and self.clock() >= self.next_dial.get(authority, 0.0)
        ):
            self._open(authority)
        return True

    def cast(self, packet: Packet, host: str) -> None:
        """One copy of a local cast for the members behind a foreign `host`."""
        copy = Packet(
            packet.method,
            {k: v for k, v in packet.routing.items() if k not in (V.SOURCE, V.TARGET)},
            packet.vars,
            packet.body,
            packet.modifiers,
        )
        sent = False
        for authority in list(self.authorities):
            if split_authority(authority)[0] == host:
                self.send(copy, authority)
                sent = True
        if not sent:
            self.dropped += 1

    def _outgoing(self, packet: Packet, me_root: str) -> Packet:
        routing = {k: v for k, v in packet.routing.items() if k in FOREIGN_ROUTING}
        vars = packet.vars
        if packet.method.startswith(V.ECHO) and V.CONTEXT in routing and V.TARGET in routing:
            # psyced: a place answers from itself (`_source`), not as a context.
            routing[V.SOURCE] = routing.pop(V.CONTEXT)
            routing.pop(V.SOURCE_RELAY, None)
        nick = packet.get(V.NICK)
        if packet.method.startswith(V.REQUEST_SET_TOPIC) and V.SOURCE in routing:
            # psyced names the setter in its topic notice by this `_nick`: our person's
            # uniform, or it would pass for one of its own.
            vars = dict(vars)
            vars[V.NICK] = routing[V.SOURCE]
        elif nick.startswith("psyc://") and is_person(nick):  # psyced wants the nick itself
            vars = dict(vars)
            vars[V.NICK] = nick_of(nick)
        place = packet.get(V.NICK_PLACE)
        if place.startswith("#") and not place.startswith("#psyc:"):
            vars = dict(vars)
            vars[V.NICK_PLACE] = place[1:]
        if packet.method.startswith(V.ECHO_PLACE_ENTER) and V.TAG_RELAY not in routing:
            tag = self.tags.pop((routing.get(V.TARGET, ""), routing.get(V.SOURCE, "")), "")
            if tag:
                routing[V.TAG_RELAY] = tag
        if packet.method.startswith(V.REQUEST_ENTER) and self.history_amount:
            vars = dict(vars)  # psyced replays that many lines (3 at most) to the newcomer
            vars.setdefault(V.AMOUNT_HISTORY, str(self.history_amount))
        if packet.method.startswith(V.REQUEST_KICK) and V.PERSON not in vars:
            vars = dict(vars)
            vars[V.PERSON] = self._kicked(packet)
        if any(k.startswith("_INTERNAL") for k in vars):
            vars = {k: v for k, v in vars.items() if not k.startswith("_INTERNAL")}
        out = Packet(packet.method, routing, vars, packet.body, packet.modifiers)
        return self._translate(out, self.local_root, me_root)

    def _kicked(self, packet: Packet) -> str:
        """psyced's `_person` for a kick: the nick of one of the place's host, else the
        uniform (IRC names foreign persons by their uniforms, ours by their nicks)."""
        nick = packet.get(V.NICK_TARGET)
        place = packet.routing.get(V.TARGET, "")
        if not nick.startswith("psyc://"):
            return f"{self.local_root}~{nick}"
        if authority_of(nick) == authority_of(place) and is_person(nick):
            return nick_of(nick)
        return nick

    def _kick_answered(self, packet: Packet) -> None:
        """The place acted on a kick: psyced's `_status_place_banned` to its owner, an
        error to the kicker (an ircpsyc place: not an operator), or someone left."""
        routing, method = packet.routing, packet.method
        if method.startswith((V.STATUS_PLACE_BANNED, V.ERROR)):
            key = (normalize(routing.get(V.SOURCE, "")), normalize(routing.get(V.TARGET, "")))
            self.kicks.pop(key, None)
        elif method.startswith(V.NOTICE_PLACE_LEAVE) and V.CONTEXT in routing:
            place = normalize(routing[V.CONTEXT])
            for key in [k for k in self.kicks if k[0] == place]:
                del self.kicks[key]

    def _kicks_due(self, now: float) -> None:
        for key, (deadline, packet) in list(self.kicks.items()):
            if deadline > now:
                break
            del self.kicks[key]
            place, kicker = packet.routing[V.TARGET], packet.routing[V.SOURCE]
            error = Packet(
                V.ERROR_UNAVAILABLE_FUNCTION_PLACE_KICK,
                {V.SOURCE: place, V.TARGET: kicker},
                {V.NICK_PLACE: packet.get(V.NICK_PLACE) or "#" + place,
                 V.NICK_TARGET: packet.get(V.NICK_TARGET)},
                f"{place} did not act on the kick: only its owners may kick there",
            )  # fmt: skip
            self.network.router.link_in(error)

    # -- receiving

    def _vouch(self, circuit: ForeignCircuit, host: str) -> bool | None:
        """Whether `host` resolves to the circuit's peer address (None: still resolving)."""
        literal = _literal(host)
        if literal is not None:
            return literal == circuit.address
        known = self.addresses.get(host)
        if known is not None and self.clock() - known[1] < RESOLVE_TTL:
            return circuit.address in known[0]
        self.resolve(host)
        return None

    def resolved(self, host: str, addresses: set[str]) -> None:
        """The adapter resolved `host`: the packets that waited for it go on."""
        self.addresses[host] = (addresses, self.clock())
        if len(self.addresses) > MAX_AUTHORITIES:
            self.addresses.pop(next(iter(self.addresses)))
        now = self.clock()
        for circuit in list(self.circuits):
            held, circuit.held = circuit.held, deque()
            for packet in held:
                if circuit.state == CLOSED:
                    break
                if packet.method == V.NOTICE_CIRCUIT_ESTABLISHED or packet.method.startswith(
                    V.STATUS_CIRCUIT
                ):
                    self.greeting(circuit, packet, now)
                else:
                    self.incoming(circuit, packet)

    def incoming(self, circuit: ForeignCircuit, packet: Packet) -> None:
        """A packet from a foreign peer: checked, translated, delivered."""
        packet = self._translate(packet, self.me_root, self.local_root)
        if circuit.me_root != self.me_root:
            packet = self._translate(packet, circuit.me_root, self.local_root)
        routing = packet.routing
        origin = routing.get(V.SOURCE) or routing.get(V.CONTEXT, "")
        host = split_authority(authority_of(origin))[0]
        target = routing.get(V.TARGET, "")
        network = self.network
        if not host or not self.is_foreign(host):
            return self._refuse(circuit, packet, f"speaks for {host or 'nobody'}")
        if target and authority_of(target) != network.me.lower():
            return self._refuse(circuit, packet, f"relays to {target}", V.FAILURE_UNSUPPORTED_RELAY)
        if V.CONTEXT in routing and V.SOURCE in routing and not target:
            return self._refuse(circuit, packet, "a cast with a _source")
        ok = self._vouch(circuit, host)
        if ok is None:
            if len(circuit.held) >= HELD_MAX:
                circuit.fail("too many packets while its name resolves")
                return
            circuit.held.append(packet)
            return
        if not ok:
            return self._refuse(circuit, packet, f"{host} is not its address {circuit.address}")
        refusal = self.policy.caller_refusal(host, circuit.address)
        if refusal:
            return self._refuse(circuit, packet, refusal)
        if circuit.state != OPEN:  # no greeting: its first packet vouches for its host
            self.greeting(circuit, Packet("", {V.SOURCE: root(host)}), self.clock())
        for name in [k for k in routing if k.startswith("_route") or k == V.COUNTER]:
            del routing[name]  # nothing numbered or routed end to end from outside
        self._deliver(packet)

    def _refuse(
        self, circuit: ForeignCircuit, packet: Packet, why: str, error: str = V.ERROR_INVALID_HOST
    ) -> None:
        """Drop a packet the peer may not send; say so (to the peer, as psyced does,
        and in the log) for the first few, close the circuit after many."""
        self.refused += 1
        circuit.refused += 1
        if circuit.refused <= REFUSED_LOGGED:
            log.warning("foreign %s: refused %s (%s)", circuit.authority or circuit.address,
                        packet.method, why)  # fmt: skip
            answer = Packet(  # circuit-level (no `_target`): never routed, never answered
                error,
                {V.SOURCE: circuit.me_root},
                {V.REASON: why[:200], V.METHOD_RELAY: packet.method},
                f"Refused {packet.method}: {why[:200]}",
            )
            circuit.send(answer, self.clock())
        if circuit.refused >= REFUSED_MAX:
            circuit.fail(f"{circuit.refused} packets refused")

    def _deliver(self, packet: Packet) -> None:
        network = self.network
        routing = packet.routing
        method = packet.method
        target = routing.get(V.TARGET, "")
        if method.startswith(V.REQUEST_ENTER) or method.startswith(V.REQUEST_CONTEXT_ENTER):
            tag = routing.get(V.TAG)
            if tag and target:
                self.tags[(routing.get(V.SOURCE, ""), target)] = tag
                while len(self.tags) > MAX_TAGS:
                    self.tags.popitem(last=False)
        if method.startswith(V.ECHO_PLACE_LEAVE_INVALID) and routing.get(V.SOURCE) in self.counters:
            # psyced forgot our member (it restarted): make it leave as if cast.
            packet = Packet(
                V.NOTICE_PLACE_LEAVE,
                {V.CONTEXT: routing[V.SOURCE], V.SOURCE_RELAY: target},
                {V.NICK: nick_of(target)},
            )
            routing, target = packet.routing, ""
        elif method.startswith(V.ECHO_PLACE) and V.CONTEXT not in routing and target:
            # psyced: from the place itself.  Our replicas want the context (and state).
            context = routing[V.CONTEXT] = routing.get(V.SOURCE, "")
            if method.startswith(V.ECHO_PLACE_ENTER):
                packet.vars.setdefault(V.TIME_CREATED, "0")
                routing[V.COUNTER] = str(self.counters.setdefault(context, 0))
        if (
            method.startswith(V.FAILURE)
            and is_person(target)
            and is_person(routing.get(V.SOURCE, ""))
        ):
            # psyced's refusals (`_failure_filter_strangers`, ...) have no IRC form:
            # its own words, as a NOTICE from whoever refused.
            packet = Packet(
                V.MESSAGE_PRIVATE_NOTICE,
                {V.SOURCE: routing[V.SOURCE], V.TARGET: target},
                {V.NICK: packet.get(V.NICK)},
                psyctext(packet.body, packet) or method,
            )
            routing, method = packet.routing, packet.method
        if (
            method.startswith(V.MESSAGE_PUBLIC)
            and target
            and routing.get(V.CONTEXT)
            and packet.get(V.TIME_PLACE).isdigit()
        ):
            # psyced's history on entering: its own lines, with their time, for the
            # newcomer (a state sync: `_context` and `_target`), never live lines.
            vars = dict(packet.vars)
            vars[V.TIME] = str(int(packet.get(V.TIME_PLACE)) * 1000)
            vars[V.NICK_PLACE] = "#" + routing[V.CONTEXT]
            packet = Packet(V.MESSAGE_PUBLIC_HISTORY, routing, vars, packet.body)
            method = packet.method
        if self.kicks:
            self._kick_answered(packet)
        named = packet.get(V.NICK_TARGET)
        if is_person(named) and normalize(named).startswith(self.local_root):
            # One of ours, named by uniform (how a foreign user sees her): her nick.
            packet.vars[V.NICK_TARGET] = nick_of(named)
        if method.startswith(V.ERROR) and is_person(target):
            source = routing.get(V.SOURCE, "")
            if is_place(source):  # the channel as our users name it, not as its host does
                packet.vars[V.NICK_PLACE] = "#" + source
            packet.body = psyctext(packet.body, packet)
        if method.startswith(V.MESSAGE) and is_person(target) and V.NICK_TARGET not in packet.vars:
            packet.vars[V.NICK_TARGET] = nick_of(target)
        relay = routing.get(V.SOURCE_RELAY, "")
        nick = packet.get(V.NICK)
        if relay and relay == routing.get(V.CONTEXT) and nick and "/" not in nick:
            # psyced's place relays its own topic notice, naming the person by `_nick`.
            routing[V.SOURCE_RELAY] = relay = relay[: relay.index("/", 7) + 1] + "~" + nick
        elif relay and relay == routing.get(V.CONTEXT) and nick.startswith("psyc://"):
            routing[V.SOURCE_RELAY] = relay = nick  # a setter of another host, by uniform
        if not relay and not target and packet.get(V.NICK):
            # psyced leaves `_source_relay` out of a cast to the speaker's own host.
            mine = f"psyc://{network.me}/~{packet.get(V.NICK)}"
            entity = network.router.lookup(mine)
            if entity is not None and entity.__class__ is not RemoteEntity:
                routing[V.SOURCE_RELAY] = relay = mine
        if is_person(relay) and V.PREFIX not in packet.vars:
            relay_host = split_authority(authority_of(relay))[0]
            if self.is_foreign(relay_host):  # psyced's casts name the speaker only so
                nick = packet.get(V.NICK) or nick_of(relay)
                packet.vars[V.PREFIX] = f"{relay}!{nick}@{relay_host}"
            else:  # one of ours (its topic, say): as our places show it
                prefix = getattr(network.router.lookup(relay), "prefix", None)
                if isinstance(prefix, str):
                    packet.vars[V.PREFIX] = prefix
        network.router.foreign_in(packet)
        if not target:
            context = routing.get(V.CONTEXT, "")
            if is_service(context):
                return  # no services of foreign servers
            count = self.counters.get(context)
            if count is None:
                held = self.entering.get(normalize(context))
                if held is not None:  # before the echo of our request: wait for it
                    held.append(packet)
                return  # else not a context any of ours entered
            self.counters[context] = count + 1
            routing[V.COUNTER] = str(count + 1)
            network.router.cast_in(packet)
            return
        if target.endswith("/"):
            return  # nothing for our root from outside (roster, states: network only)
        network.router.link_in(packet)
        if packet.method.startswith(V.ECHO_PLACE_ENTER):
            self.requests.pop(normalize(routing.get(V.CONTEXT, "")), None)
            for cast in self.entering.pop(normalize(routing.get(V.CONTEXT, "")), ()):
                self._deliver(cast)

    def forget_context(self, context: str) -> None:
        self.counters.pop(context, None)


# --------------------------------------------------------------------------- asyncio


class ForeignProtocol(asyncio.Protocol):
    """Bytes between a transport and its `ForeignCircuit`."""

    def __init__(self, service: ForeignService, authority: str) -> None:
        self.service = service
        self.authority = authority
        self.transport: asyncio.Transport | None = None
        self.circuit: ForeignCircuit | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        address = ""
        with contextlib.suppress(Exception):
            address = str(transport.get_extra_info("peername")[0])
        self.circuit = self.service.start_circuit(self, address, self.authority, b"")

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > WRITE_BUFFER_MAX and self.circuit is not None:
            self.circuit.fail("does not read what we send", "")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.circuit is None:
            return
        try:
            self.circuit.data_received(data, time.monotonic())
        except Exception:  # a bug must not take the server down: drop this circuit
            log.exception("foreign circuit %s: error handling input", self.circuit)
            self.circuit.close("internal error")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.circuit is not None:
            self.circuit.lost(str(exc) if exc else "connection closed")


class ForeignService:
    """The asyncio side of `Foreign`: dialling, name resolution, adopted connections."""

    def __init__(self, foreign: Foreign, bind: str = "", verify_tls: bool = True) -> None:
        self.foreign = foreign
        self.bind = bind  # our PSYC listener's address: psyced checks where we come from
        self.verify_tls = verify_tls  # check the certificates of servers dialled with TLS
        self.tasks: set[asyncio.Task[None]] = set()
        self.resolving: set[str] = set()
        foreign.dial = self._dial
        foreign.resolve = self._resolve

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def start_circuit(
        self,
        protocol: ForeignProtocol,
        address: str,
        authority: str,
        first: bytes,
        answered: bool = False,
        tls: bool = False,
    ) -> ForeignCircuit | None:
        foreign = self.foreign
        if not foreign.admit(address):
            log.warning("foreign circuit from %s refused: too many circuits", address)
            protocol.close()
            if authority:
                foreign.dial_failed(authority, "too many circuits with its address")
            return None
        circuit = ForeignCircuit(
            foreign, address, authority, protocol.write, protocol.close, time.monotonic(), answered
        )
        if tls and not authority and foreign.tls_root:
            circuit.me_root = foreign.tls_root  # it called our TLS listener
        foreign.opened(circuit)
        if first:
            circuit.data_received(first, time.monotonic())
        return circuit

    def _dial(self, authority: str) -> None:
        self._spawn(self._connect(authority))

    async def _connect(self, authority: str) -> None:
        host, port = split_authority(authority)
        loop = asyncio.get_running_loop()
        local = (self.bind, 0) if self.bind else None
        try:
            # Resolved here and checked against [federation]; the connection goes to an
            # address checked, never to the name again (which could resolve elsewhere).
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DIAL_TIMEOUT
            )
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
            addresses, refusal = self.foreign.policy.dial_addresses(host, found)
            if refusal:
                self.foreign.refused_dials += 1
                self.foreign.dial_failed(authority, refusal)
                return
            context = self._tls_context() if is_tls(authority) else None
            error: Exception | None = None
            for address in addresses:
                try:
                    await asyncio.wait_for(
                        loop.create_connection(
                            lambda: ForeignProtocol(self, authority),
                            address,
                            port,
                            local_addr=local,
                            ssl=context,
                            server_hostname=host if context else None,
                        ),
                        DIAL_TIMEOUT,
                    )
                    return
                except (OSError, TimeoutError) as failed:
                    error = failed
            raise error or OSError(f"{host} does not resolve")
        except (OSError, TimeoutError, ValueError) as error:
            self.foreign.dial_failed(authority, f"dial: {error or type(error).__name__}")

    def _tls_context(self) -> ssl.SSLContext:
        """For `psyc://host:PORTs/`: the system's authorities and the host name, unless
        [federation] verify_tls is off (the peer is still trusted for its own host's
        uniforms only, by its address)."""
        context = ssl.create_default_context()
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _resolve(self, host: str) -> None:
        if host in self.resolving or len(self.resolving) > 64:
            return
        self.resolving.add(host)
        self._spawn(self._lookup(host))

    async def _lookup(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        found: set[str] = set()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), DIAL_TIMEOUT
            )
            found = {str(info[4][0]) for info in infos}
        except (OSError, TimeoutError) as error:
            log.info("foreign host %s does not resolve: %s", host, error)
        finally:
            self.resolving.discard(host)
        self.foreign.resolved(host, found)

    def adopt(
        self, transport: asyncio.Transport, first: bytes, answered: bool = False
    ) -> ForeignProtocol:
        """A connection to our PSYC listener from a foreign server (psyced's `.`, or
        PSYC 1.0 without our link handshake): the link listener hands it over with
        what it received (ircpsyc.psyc_backend.link_io.LinkProtocol); `answered`: it
        sent our `|` opening already."""
        protocol = ForeignProtocol(self, "")
        protocol.transport = transport
        address = ""
        with contextlib.suppress(Exception):
            address = str(transport.get_extra_info("peername")[0])
        tls = transport.get_extra_info("ssl_object") is not None
        protocol.circuit = self.start_circuit(protocol, address, "", first, answered, tls)
        return protocol

    async def stop(self) -> None:
        for circuit in list(self.foreign.circuits):
            with contextlib.suppress(Exception):
                circuit.send(Packet(V.REQUEST_CIRCUIT_SHUTDOWN), time.monotonic())
            circuit.close("shutting down")
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0)
