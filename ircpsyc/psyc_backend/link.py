"""Server links: PSYC circuits between servers, sans-IO (the asyncio adapter is link_io.py).

A `Peer` is one configured neighbour ([[links]]) and holds what must outlive a TCP
connection: the outbound stream (every data packet sent, kept until the peer
acknowledges it), the count of data packets received from the peer's current
boot, the reconnect back-off and the counters operators see.  A `Circuit` is one
TCP connection and does the PSYC circuit set-up (DESIGN.md 4).  The server that
dialled is the initiator I, the one that accepted the responder R; both know the
link's secret K.  The handshake is the three-pass mutual authentication of
ISO/IEC 9798-4 (a MAC over both nonces, both identities and the role), with a
fourth message that opens the data stream:

1. both sides send the empty packet `|`; I sends `_notice_circuit_established`
   with `_source` = root_I (`psyc://I/`), `_target` = root_R, a fresh random
   `_challenge` N_I and its `_boot` B_I (an id that changes at every start).
   R sends nothing else before this;
2. R answers `_status_circuit_challenge`: its own fresh `_challenge` N_R, its
   `_boot` B_R and `_proof` = MAC("responder"), where
   MAC(role) = HMAC-SHA256(K, "ircpsyc-link-v2", role, N_I, N_R, root_I,
   root_R, B_I, B_R), each field length-prefixed (`proof`);
3. I checks R's proof; only then it answers `_status_circuit_authentication`
   with `_proof` = MAC("initiator") and `_counter_received`, the number of data
   packets it already has from R's boot B_R;
4. R checks I's proof and answers `_status_circuit_established` with its
   `_counter_received`; a wrong proof anywhere gets
   `_error_circuit_authentication` and the circuit closes.  From then on every
   packet with content is a data packet, counted in order by both sides.  The
   receiver acknowledges with content-less packets carrying the routing variable
   `_acknowledge` = its count; the sender keeps what is not acknowledged and, on
   the next circuit, resends everything after the count the receiver announced.
   So a link that breaks and comes back loses and duplicates nothing, and a
   circuit can replace another at any moment.

Why it holds (the attacks of issue 18 and the classic ones):

* No oracle: R's proof covers N_R, which R chose fresh for this circuit, and I
  proves nothing before R has proven itself over I's own fresh N_I.  Whatever
  challenge a stranger sends, what comes back is a MAC over a nonce the
  stranger did not choose, useless anywhere else.
* No reflection: the role is inside the MAC, so a responder's proof is never an
  initiator's; a stranger who dials two servers (or the same one twice) makes
  both of them responders and only ever gets responder proofs, while each
  server, as responder, accepts only an initiator's proof.  Both identities
  are inside too (in a fixed order, initiator first), so a proof for the a-b
  circuit is worth nothing for a-c even where the secrets are the same.
* No replay: every proof covers the verifier's fresh 128-bit nonce.
* Relay: a stranger who forwards a whole honest handshake between I and R
  only connects I to R (I dials the configured address, and R's proof binds
  R's name).  Over plain TCP whoever sits on the path can still inject after
  the handshake: links across untrusted networks need `tls` with a
  `fingerprint` (the dialler pins the acceptor's certificate, so there is no
  path in the middle to sit on).
* Nothing said before authentication changes state: the claimed name, nonce
  and boot stay in the circuit; the peer's circuit (`Links.claim`), its boot,
  its counters and its error line change only once its proof verified.  So a
  stranger claiming a peer's name cannot knock the live link down.
* Before authentication a circuit may send only the handshake, in packets of
  at most `PRE_AUTH_PACKET` bytes and `PRE_AUTH_BYTES` in all, within
  `Settings.handshake_timeout` of the accept; `Links.admit` bounds such
  circuits per address and in all (`LinkService` counts them from accept(),
  before the TLS handshake, which has its own short timeout).

Empty packets are pings.  A peer that sends bytes the codec refuses gets
`_error_syntax` and is disconnected.  When both servers dial each other, the
circuit dialled by the server with the lower name is kept, decided when a
circuit authenticates (the other side never dials while a circuit is up, so
this only decides a simultaneous start).  A dialled circuit that closes before
it authenticated is dialled again after the back-off, like a refused dial.

`Links` keeps the peers and circuits and reports to a `LinkHandler` (the
network layer): a peer came up or went down, a data packet arrived.  Time is
passed in.  `LinkService` (ircpsyc.psyc_backend.link_io) is the asyncio adapter:
listeners, dialling, TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ircpsyc import __version__
from ircpsyc.netaddr import address_group
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, number
from ircpsyc.psyc_backend.uniform import Uniform, UniformError, root
from ircpsyc.psyc_backend.wire import PacketError, Parser, render

log = logging.getLogger(__name__)

EMPTY = b"|\n"
MAX_LINK_PACKET = 16 << 20  # a full channel state may be large
# Before authentication only the handshake: small packets, little in all.
PRE_AUTH_PACKET = 4096
PRE_AUTH_BYTES = 16384
PRE_AUTH_PER_ADDRESS = 8  # unauthenticated circuits from one address
PRE_AUTH_TOTAL = 64  # and from everywhere
HANDSHAKE_TIMEOUT = 10.0  # from accept() (or connect) to authenticated
ACK_EVERY = 256  # data packets between acknowledgements under load
PROTOCOL = "ircpsyc-link-v2"
PROTOCOL_FAMILY = "ircpsyc-link"  # any version of it: a link, told its version is wrong
INITIATOR = "initiator"
RESPONDER = "responder"
NONCE_MIN, NONCE_MAX = 32, 128  # hex digits of a challenge
IPV6_PREFIX = 64  # one IPv6 site is one address for the limits above
MAX_BOOT = 64

# Link states, as operators see them.
DOWN = "down"
CONNECTING = "connecting"
HANDSHAKE = "handshake"
UP = "up"


def proof(
    secret: str,
    role: str,
    nonce_i: str,
    nonce_r: str,
    root_i: str,
    root_r: str,
    boot_i: str = "",
    boot_r: str = "",
) -> str:
    """The HMAC a side sends to prove it knows the link secret: over the role
    (INITIATOR or RESPONDER), both nonces and both identities, initiator's first.

    Every field is length-prefixed, so no two different field lists give the same
    message."""
    fields = (PROTOCOL, role, nonce_i, nonce_r, root_i, root_r, boot_i, boot_r)
    message = "".join(f"{len(f)}:{f}" for f in fields).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def admission_key(host: str) -> str:
    """What the per-address limit counts: the address, or its /64 for IPv6 (one
    site has a whole /64), the IPv4 address of an IPv4-mapped one."""
    return address_group(host, IPV6_PREFIX)


def valid_nonce(text: str) -> bool:
    if not NONCE_MIN <= len(text) <= NONCE_MAX:
        return False
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def is_control(method: str) -> bool:
    """Circuit-level packets: not counted, not kept for resending."""
    return method.startswith(
        (
            V.NOTICE_CIRCUIT,
            V.STATUS_CIRCUIT,
            V.ERROR_CIRCUIT,
            V.REQUEST_CIRCUIT,
            V.ERROR_SYNTAX,
        )
    )


def link_greeting(packet: Packet) -> bool:
    """Whether a circuit's first packet is our link handshake's greeting (an ircpsyc
    server of the network, whatever its version), not a foreign PSYC server's.

    This only chooses which protocol serves the circuit: the link handshake still
    has the caller prove the link secret before it gets a link's powers."""
    return packet.method == V.NOTICE_CIRCUIT_ESTABLISHED and (
        packet.get(V.PROTOCOL).startswith(PROTOCOL_FAMILY) or bool(packet.get(V.CHALLENGE))
    )


@dataclass(slots=True)
class LinkStats:
    """Per-link counters, shown by STATS l / STATS L and read by tests.

    `casts_*` count the casts of places (channel messages and events);
    `service_casts_*` those of the servers' own contexts (rosters, the channel
    directory, accounts), which come and go with people, not with messages."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    casts_in: int = 0
    casts_out: int = 0
    service_casts_in: int = 0
    service_casts_out: int = 0
    resent: int = 0
    dropped: int = 0
    connects: int = 0
    refused: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class LinkConfig:
    name: str
    secret: str
    address: str = ""
    tls: bool = False
    fingerprint: str = ""


@dataclass(slots=True)
class Settings:
    ping_interval: float = 15.0
    ping_timeout: float = 60.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    queue_max: int = 100000
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    pre_auth_per_address: int = PRE_AUTH_PER_ADDRESS
    pre_auth_total: int = PRE_AUTH_TOTAL


class Peer:
    """One configured neighbour: the streams both ways and the dialling state."""

    def __init__(self, config: LinkConfig, settings: Settings) -> None:
        self.config = config
        self.name = config.name.lower()
        self.settings = settings
        self.circuit: Circuit | None = None  # authenticated (or confirming)
        self.dialled: Circuit | None = None  # ours, still in the handshake
        self.stats = LinkStats()
        self.boot = ""  # the peer boot whose packets `received` counts
        self.received = 0
        self.acked_sent = 0
        # Outbound data packets not yet acknowledged; unacked[0] has number `base`.
        self.unacked: deque[bytes] = deque()
        self.base = 1
        self.written = 0  # the highest number ever written to a circuit
        self.dialing = False
        self.next_dial = 0.0
        self.delay = settings.reconnect_min
        self.up_since = 0.0
        self.last_error = ""
        self.last_change = 0.0

    @property
    def state(self) -> str:
        circuit = self.circuit
        if circuit is None:
            if self.dialled is not None:
                return HANDSHAKE
            return CONNECTING if self.dialing else DOWN
        return UP if circuit.state == UP else HANDSHAKE

    @property
    def up(self) -> bool:
        circuit = self.circuit
        return circuit is not None and circuit.state == UP

    @property
    def sent(self) -> int:
        """Data packets numbered so far on the outbound stream."""
        return self.base + len(self.unacked) - 1

    def queue(self, data: bytes, cast: str = "") -> None:
        """Number a rendered data packet and send it now or when the link is back;
        `cast`: "place" or "service" for a cast (counted apart)."""
        unacked = self.unacked
        unacked.append(data)
        if len(unacked) > self.settings.queue_max:
            unacked.popleft()
            self.base += 1
            self.stats.dropped += 1
        stats = self.stats
        stats.packets_out += 1
        if cast == "place":
            stats.casts_out += 1
        elif cast:
            stats.service_casts_out += 1
        circuit = self.circuit
        if circuit is not None and circuit.state == UP:
            circuit.write(data)
            self.written = self.sent

    def acknowledge(self, count: int) -> None:
        drop = min(count - self.base + 1, len(self.unacked))
        for _ in range(drop):
            self.unacked.popleft()
        if drop > 0:
            self.base += drop

    def resume(self, count: int) -> list[bytes]:
        """The peer has `count` packets of our stream: drop those, renumber the rest."""
        self.acknowledge(count)
        self.base = count + 1  # a peer that lost our stream (it restarted) starts over
        return list(self.unacked)

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "address": self.config.address,
            "tls": self.config.tls,
            "queue": len(self.unacked),
            "up_for": round(now - self.up_since, 1) if self.up else 0,
            "last_error": self.last_error,
            **self.stats.as_dict(),
        }


class LinkHandler(Protocol):
    """What the network layer hears from the links."""

    def link_hello(self, peer: Peer) -> list[bytes]:
        """Control packets (topology) to send on a new circuit before anything else."""
        ...

    def link_up(self, peer: Peer) -> None: ...

    def link_down(self, peer: Peer) -> None: ...

    def link_packet(self, peer: Peer, packet: Packet) -> None: ...


# Circuit states besides UP.
GREETING = "greeting"  # I: waiting for R's proof; R: waiting for I's notice
AUTH = "auth"  # R: proved itself, waiting for I's proof
CONFIRM = "confirm"  # I: authenticated both ways, waiting for R's counter
CLOSED = "closed"

# What each side may receive in each handshake state (by role: outbound or not).
_HANDSHAKE_STEPS = {
    (False, GREETING): V.NOTICE_CIRCUIT_ESTABLISHED,
    (False, AUTH): V.STATUS_CIRCUIT_AUTHENTICATION,
    (True, GREETING): V.STATUS_CIRCUIT_CHALLENGE,
    (True, CONFIRM): V.STATUS_CIRCUIT_ESTABLISHED,
}


class Circuit:
    """One TCP connection to a peer: handshake, pings, acknowledgements, framing.

    Until the peer has proven itself, what it claims (`candidate`, `peer_nonce`,
    `peer_boot`) stays here; `peer` is set, and the `Peer` touched, only after."""

    def __init__(
        self,
        links: Links,
        peer: Peer | None,
        write: Callable[[bytes], None],
        close: Callable[[bool], None],
        now: float,
        address: str = "",
        admitted: str | None = None,
    ) -> None:
        self.links = links
        self.outbound = peer is not None  # we dialled it: the initiator
        self.expected = peer
        self.candidate: Peer | None = peer  # who it claims (or we expect) to be
        self.peer: Peer | None = None  # known once it proved it
        self._write = write
        self._close = close
        self.address = address
        self.admitted = admitted  # counted in Links.admit until authenticated or closed
        self.state = GREETING
        self.parser = Parser(max_packet=PRE_AUTH_PACKET, max_name=128)
        self.pre_auth_bytes = 0
        self.nonce = secrets.token_hex(16)
        self.peer_nonce = ""
        self.peer_boot = ""
        self.got_empty = False
        self.opened = now
        self.last_recv = now
        self.last_sent = now
        self.now = now
        self.close_reason = ""
        self.was_up = False
        # A responder answers the peer's first line: psyced (0.9) would take our `|`
        # for its own and close, so we wait to see which syntax calls.
        self.greet_due = False
        # A responder that may also serve foreign PSYC 1.0 servers keeps what the
        # caller sent until its first packet shows who calls (`link_greeting`): our
        # link handshake, or anything else, handed whole to a foreign circuit.
        self.head: bytearray | None = None
        self.foreign_call = False

    def __repr__(self) -> str:
        return f"<Circuit {self._name()} {'out' if self.outbound else 'in'} {self.state}>"

    # -- output

    def write(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        self.last_sent = self.now
        peer = self.peer
        if peer is not None:
            peer.stats.bytes_out += len(data)
        self._write(data)

    def _send(self, packet: Packet) -> None:
        self.write(render(packet))

    def start(self) -> None:
        """Greet: the empty packet; the initiator adds its notice with a fresh nonce."""
        expected = self.expected
        if expected is None:
            self.greet_due = True  # the responder speaks when it knows who calls
            return
        links = self.links
        notice = Packet(
            V.NOTICE_CIRCUIT_ESTABLISHED,
            {V.SOURCE: root(links.me), V.TARGET: root(expected.name)},
            {
                V.CHALLENGE: self.nonce,
                V.BOOT: links.boot,
                V.PROTOCOL: PROTOCOL,
                V.IMPLEMENTATION: f"ircpsyc/{__version__}",
            },
        )
        self.write(EMPTY + render(notice))

    # -- input

    def data_received(self, data: bytes, now: float) -> None:
        if self.state == CLOSED:
            return
        self.now = now
        self.last_recv = now
        if self.greet_due:
            self.greet_due = False
            self.write(EMPTY)
        if self.peer is not None:
            self.peer.stats.bytes_in += len(data)
        if self.peer is None:  # not authenticated: only the handshake may come
            self.pre_auth_bytes += len(data)
            if self.pre_auth_bytes > PRE_AUTH_BYTES:
                self.fail(V.ERROR_CIRCUIT_AUTHENTICATION, "too much before authentication")
                return
        if self.head is not None:
            self.head += data
        try:
            packets = self.parser.feed(data)
        except PacketError as error:
            for packet in error.packets:
                if self.state == CLOSED or self.foreign_call:
                    return
                self._packet(packet)
            if self.head is not None and not self.foreign_call:
                self.foreign_call = True  # not our handshake: a foreign circuit says why
                return
            self.fail(V.ERROR_SYNTAX, f"cannot parse your packets: {error.reason}")
            return
        for packet in packets:
            if self.state == CLOSED or self.foreign_call:
                return
            self._packet(packet)

    def _packet(self, packet: Packet) -> None:
        state = self.state
        if state == UP:
            method = packet.method
            if not method:
                ack = packet.routing.get(V.ACKNOWLEDGE)
                count = number(ack, -1) if ack else -1
                if count >= 0:
                    assert self.peer is not None
                    self.peer.acknowledge(count)
                return
            if is_control(method):
                self._control(packet)
                return
            peer = self.peer
            assert peer is not None
            peer.received += 1
            peer.stats.packets_in += 1
            if peer.received - peer.acked_sent >= ACK_EVERY:
                self.acknowledge()
            self.links.handler.link_packet(peer, packet)
            return
        if self.head is not None and (packet.method or packet.routing):
            if not link_greeting(packet):
                self.foreign_call = True  # a foreign server's circuit, never a link
                return
            self.head = None  # our handshake: the link's rules from here
        if not self.got_empty:
            if packet.method or packet.routing:
                self.fail(V.ERROR_SYNTAX_INITIALIZATION, "a circuit starts with an empty packet")
                return
            self.got_empty = True
            return
        method = packet.method
        if not method:
            return  # a ping during the handshake
        if method == _HANDSHAKE_STEPS.get((self.outbound, state)):
            if method == V.NOTICE_CIRCUIT_ESTABLISHED:
                self._notice(packet)
            elif method == V.STATUS_CIRCUIT_CHALLENGE:
                self._challenge(packet)
            elif method == V.STATUS_CIRCUIT_AUTHENTICATION:
                self._authentication(packet)
            else:
                self._established(packet)
        elif method.startswith(V.ERROR):
            self._control(packet)
        else:
            self.fail(V.ERROR_CIRCUIT_ORDER, f"unexpected {method} before authentication")

    def _control(self, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.NOTICE_CIRCUIT_TOPOLOGY) and self.peer is not None:
            self.links.handler.link_packet(self.peer, packet)  # not counted: link state
        elif method.startswith(V.REQUEST_CIRCUIT_SHUTDOWN):
            self.close("peer shut down")
        elif method.startswith(V.ERROR):
            reason = packet.get(V.REASON)[:200] or method
            log.warning("link %s: peer refused us: %s %s", self._name(), method, reason)
            self.close(f"peer refused: {reason}")

    def _name(self) -> str:
        if self.peer is not None:
            return self.peer.name
        if self.candidate is not None:
            return self.candidate.name if self.outbound else f"{self.candidate.name}?"
        return self.address or "?"

    # -- the handshake (module docstring)

    def _identity(self, packet: Packet, expected: Peer | None) -> Peer | None:
        """The configured peer whose root `_source` names, addressed to us; or fail."""
        links = self.links
        try:
            uniform = Uniform.parse(packet.source)
        except UniformError:
            self.fail(V.ERROR_ILLEGAL_SOURCE, "_source must be your root uniform")
            return None
        name = uniform.host
        peer = links.peers.get(name)
        if peer is None or not uniform.is_root:
            if not self.outbound:
                links.note_refused(name)
            self.fail(V.ERROR_ILLEGAL_SOURCE, f"{name} is not a configured link here")
            return None
        if expected is not None and peer is not expected:
            self.fail(V.ERROR_ILLEGAL_SOURCE, f"expected {expected.name}, not {name}")
            return None
        target = packet.routing.get(V.TARGET)
        if target is not None and target != root(links.me):
            self.fail(V.ERROR_ILLEGAL_TARGET, f"this is {root(links.me)}, not {target}")
            return None
        nonce, boot = packet.get(V.CHALLENGE), packet.get(V.BOOT)
        if not valid_nonce(nonce) or len(boot) > MAX_BOOT:
            self.fail(V.ERROR_CIRCUIT_AUTHENTICATION, "missing or malformed challenge")
            return None
        return peer

    def _notice(self, packet: Packet) -> None:
        """R, pass 1 received: prove ourselves over I's nonce and our own fresh one."""
        if packet.get(V.PROTOCOL) != PROTOCOL:
            self.fail(V.ERROR_CIRCUIT_VERSION, f"this server speaks {PROTOCOL}")
            return
        candidate = self._identity(packet, None)
        if candidate is None:
            return
        links = self.links
        self.candidate = candidate
        self.peer_nonce = packet.get(V.CHALLENGE)
        self.peer_boot = packet.get(V.BOOT)
        me, them = root(links.me), root(candidate.name)
        answer = proof(
            candidate.config.secret,
            RESPONDER,
            self.peer_nonce,
            self.nonce,
            them,
            me,
            self.peer_boot,
            links.boot,
        )
        self._send(
            Packet(
                V.STATUS_CIRCUIT_CHALLENGE,
                {V.SOURCE: me, V.TARGET: them},
                {
                    V.CHALLENGE: self.nonce,
                    V.BOOT: links.boot,
                    V.PROOF: answer,
                    V.IMPLEMENTATION: f"ircpsyc/{__version__}",
                },
            )
        )
        self.state = AUTH

    def _challenge(self, packet: Packet) -> None:
        """I, pass 2 received: check R's proof; only then prove ourselves."""
        expected = self.expected
        assert expected is not None
        if self._identity(packet, expected) is None:
            return
        links = self.links
        self.peer_nonce = packet.get(V.CHALLENGE)
        self.peer_boot = packet.get(V.BOOT)
        me, them = root(links.me), root(expected.name)
        secret = expected.config.secret
        want = proof(
            secret, RESPONDER, self.nonce, self.peer_nonce, me, them, links.boot, self.peer_boot
        )
        if not hmac.compare_digest(want, packet.get(V.PROOF)):
            expected.stats.refused += 1
            self.fail(V.ERROR_CIRCUIT_AUTHENTICATION, "wrong proof: check the link secret")
            return
        if not self._authenticated(expected):
            return
        answer = proof(
            secret, INITIATOR, self.nonce, self.peer_nonce, me, them, links.boot, self.peer_boot
        )
        self._send(
            Packet(
                V.STATUS_CIRCUIT_AUTHENTICATION,
                {V.SOURCE: me, V.TARGET: them},
                {V.PROOF: answer, V.COUNTER_RECEIVED: str(expected.received)},
            )
        )
        self.state = CONFIRM

    def _authentication(self, packet: Packet) -> None:
        """R, pass 3 received: check I's proof; then the circuit is up."""
        candidate = self.candidate
        assert candidate is not None
        links = self.links
        if links.peers.get(candidate.name) is not candidate:
            self.fail(V.ERROR_ILLEGAL_SOURCE, f"{candidate.name} is not a configured link here")
            return
        want = proof(
            candidate.config.secret,
            INITIATOR,
            self.peer_nonce,
            self.nonce,
            root(candidate.name),
            root(links.me),
            self.peer_boot,
            links.boot,
        )
        if not hmac.compare_digest(want, packet.get(V.PROOF)):
            links.auth_failures += 1
            self.fail(V.ERROR_CIRCUIT_AUTHENTICATION, "wrong proof: check the link secret")
            return
        if not self._authenticated(candidate):
            return
        self._send(
            Packet(
                V.STATUS_CIRCUIT_ESTABLISHED,
                {V.SOURCE: root(links.me), V.TARGET: root(candidate.name)},
                {V.COUNTER_RECEIVED: str(candidate.received)},
            )
        )
        self._up(packet.get(V.COUNTER_RECEIVED))

    def _established(self, packet: Packet) -> None:
        """I, pass 4 received: R's counter; the circuit is up."""
        self._up(packet.get(V.COUNTER_RECEIVED))

    def _authenticated(self, peer: Peer) -> bool:
        """The peer proved itself: the circuit becomes its circuit (or is a duplicate),
        and what it said about its boot counts from now on."""
        links = self.links
        self.release()
        if not links.claim(self, peer):
            self.fail(V.ERROR_CIRCUIT_DUPLICATE, "a circuit between us exists already")
            return False
        self.peer = peer
        self.parser.max_packet = MAX_LINK_PACKET
        if peer.boot != self.peer_boot:
            if peer.boot:
                # It restarted: what its old boot may have had is not for the new one
                # (what was never written is: it waited for the link).
                peer.acknowledge(peer.written)
            peer.boot = self.peer_boot
            peer.received = 0
            peer.acked_sent = 0
        return True

    def _up(self, count_text: str) -> None:
        peer = self.peer
        assert peer is not None
        links = self.links
        count = max(0, number(count_text, 0))
        self.state = UP
        for data in links.handler.link_hello(peer):
            self.write(data)
        resend = peer.resume(count)
        peer.stats.resent += len(resend)
        for data in resend:
            self.write(data)
        peer.written = peer.sent
        links.established(self, peer)

    def release(self) -> None:
        """Leave the count of unauthenticated circuits (once)."""
        if self.admitted is not None:
            self.links.release(self.admitted)
            self.admitted = None

    # -- time

    def acknowledge(self) -> None:
        peer = self.peer
        if peer is None or self.state != UP:
            return
        peer.acked_sent = peer.received
        self.write(f":_acknowledge\t{peer.received}\n|\n".encode())

    def tick(self, now: float) -> None:
        self.now = now
        settings = self.links.settings
        if self.state != UP:
            if now - self.opened > settings.handshake_timeout:
                self.close("handshake timeout", abort=True)
            return
        if now - self.last_recv > settings.ping_timeout:
            self.close(f"ping timeout: {int(now - self.last_recv)} seconds")
            return
        peer = self.peer
        if peer is not None and peer.received != peer.acked_sent:
            self.acknowledge()
        elif now - self.last_sent >= settings.ping_interval:
            self.write(EMPTY)

    # -- ending

    def fail(self, method: str, reason: str) -> None:
        """Tell the peer what is wrong, then close."""
        if self.state == CLOSED:
            return
        routing = {V.SOURCE: root(self.links.me)}
        self.write(render(Packet(method, routing, {V.REASON: reason})))
        peer = self.peer or self.expected  # ours to tell about: never a stranger's claim
        if peer is not None:
            peer.last_error = reason
        log.warning("link %s: %s (%s)", self._name(), reason, method)
        self.close(reason)

    def close(self, reason: str, abort: bool = False) -> None:
        if self.state == CLOSED:
            return
        self.was_up = self.state == UP
        self.state = CLOSED
        self.close_reason = reason
        self._close(abort)
        self._closed()

    def lost(self, reason: str = "connection lost") -> None:
        """The transport went away under us."""
        if self.state == CLOSED:
            return
        self.was_up = self.state == UP
        self.state = CLOSED
        self.close_reason = reason
        self._closed()

    def _closed(self) -> None:
        self.release()
        self.parser = Parser(max_packet=1)  # its buffer goes now, not with the circuit
        self.links.circuit_closed(self)


class Links:
    """The configured peers and their circuits; reports to the network layer."""

    def __init__(
        self,
        me: str,
        boot: str,
        configs: Iterable[LinkConfig],
        settings: Settings,
        handler: LinkHandler,
    ) -> None:
        self.me = me.lower()
        self.boot = boot
        self.settings = settings
        self.handler = handler
        self.peers: dict[str, Peer] = {}
        self.circuits: set[Circuit] = set()
        self.refused: dict[str, int] = {}  # unknown names that tried to link
        # Accepted circuits not yet authenticated, per address (Links.admit).
        self.unauthenticated: dict[str, int] = {}
        self.unauthenticated_total = 0
        self.turned_away = 0  # connections refused by those limits
        self.auth_failures = 0  # wrong proofs from whoever dialled us
        for config in configs:
            self.add(config)

    def add(self, config: LinkConfig) -> Peer:
        peer = Peer(config, self.settings)
        self.peers[peer.name] = peer
        return peer

    def up_peers(self) -> list[Peer]:
        return [p for p in self.peers.values() if p.up]

    def reconfigure(self, configs: Iterable[LinkConfig], settings: Settings) -> list[str]:
        """REHASH: take the new [[links]] and timers; what changed, one line each.

        A new peer is dialled at the next tick; a removed one is disconnected (its
        queue goes with it); a peer whose secret, TLS or fingerprint changed is
        disconnected so that it authenticates again with the new ones; a new
        address is used from the next dial on."""
        for name in Settings.__slots__:
            setattr(self.settings, name, getattr(settings, name))
        wanted = {config.name.lower(): config for config in configs}
        changes: list[str] = []
        for name in [n for n in self.peers if n not in wanted]:
            gone = self.peers.pop(name)
            if gone.circuit is not None:
                gone.circuit.close("link removed from the configuration")
            if gone.dialled is not None:
                gone.dialled.close("link removed from the configuration", abort=True)
            changes.append(f"link {name} removed")
        for name, config in wanted.items():
            peer = self.peers.get(name)
            if peer is None:
                self.add(config)
                changes.append(f"link {name} added")
                continue
            if peer.config == config:
                continue
            old, peer.config = peer.config, config
            if (old.secret, old.tls, old.fingerprint) != (
                config.secret,
                config.tls,
                config.fingerprint,
            ):
                if peer.circuit is not None:
                    peer.circuit.close("link credentials changed", abort=True)
                if peer.dialled is not None:
                    peer.dialled.close("link credentials changed", abort=True)
                peer.next_dial = 0.0
                changes.append(f"link {name} credentials changed: it links again")
            if old.address != config.address:
                peer.next_dial = 0.0
                peer.delay = self.settings.reconnect_min
                changes.append(f"link {name} address is now {config.address or '(none)'}")
        return changes

    def send(self, name: str, data: bytes, cast: str = "") -> bool:
        peer = self.peers.get(name)
        if peer is None:
            return False
        peer.queue(data, cast)
        return True

    # -- circuits

    def admit(self, host: str) -> bool:
        """An accepted connection from `host`, not yet authenticated: within the
        limits per address and in all?  If so it counts until `release`."""
        settings = self.settings
        held = self.unauthenticated.get(host, 0)
        if held >= settings.pre_auth_per_address or (
            self.unauthenticated_total >= settings.pre_auth_total
        ):
            self.turned_away += 1
            return False
        self.unauthenticated[host] = held + 1
        self.unauthenticated_total += 1
        return True

    def release(self, host: str) -> None:
        held = self.unauthenticated.get(host, 0)
        if held <= 0:
            return
        if held == 1:
            del self.unauthenticated[host]
        else:
            self.unauthenticated[host] = held - 1
        self.unauthenticated_total -= 1

    def open(
        self,
        peer: Peer | None,
        write: Callable[[bytes], None],
        close: Callable[[bool], None],
        now: float,
        address: str = "",
        admitted: str | None = None,
    ) -> Circuit:
        """A new TCP connection: dialled to `peer`, or accepted (peer None).

        `admitted`: the host an accepted circuit was counted for by `admit`;
        the circuit leaves that count when it authenticates or closes."""
        circuit = Circuit(self, peer, write, close, now, address, admitted)
        self.circuits.add(circuit)
        if peer is not None:
            peer.stats.connects += 1
            if peer.dialled is not None:
                peer.dialled.close("dialled again", abort=True)
            peer.dialled = circuit
        circuit.start()
        return circuit

    def _preferred(self, circuit: Circuit, peer: Peer) -> bool:
        initiator = self.me if circuit.outbound else peer.name
        return initiator == min(self.me, peer.name)

    def claim(self, circuit: Circuit, peer: Peer) -> bool:
        """Make the authenticated `circuit` the peer's circuit, or refuse it as a
        duplicate (only a circuit whose peer proved itself may replace another)."""
        if peer.dialled is circuit:
            peer.dialled = None
        old = peer.circuit
        if old is not None and old is not circuit and old.state != CLOSED:
            new_pref, old_pref = self._preferred(circuit, peer), self._preferred(old, peer)
            if old_pref and not new_pref:
                return False
            old.close("replaced by another circuit", abort=True)
        peer.circuit = circuit
        return True

    def established(self, circuit: Circuit, peer: Peer) -> None:
        peer.up_since = circuit.now
        peer.last_change = circuit.now
        peer.delay = self.settings.reconnect_min
        peer.last_error = ""
        log.info("link %s is up (%s)", peer.name, "dialled" if circuit.outbound else "accepted")
        self.handler.link_up(peer)

    def circuit_closed(self, circuit: Circuit) -> None:
        self.circuits.discard(circuit)
        expected = circuit.expected
        if expected is not None and expected.dialled is circuit:
            # Ours, and it never authenticated: dial again after the back-off, not
            # at the next tick (a peer that accepts TCP and fails the handshake).
            expected.dialled = None
            delay = self._backoff(expected)
            expected.next_dial = circuit.now + delay
            if circuit.close_reason and not expected.last_error:
                expected.last_error = circuit.close_reason
            log.warning(
                "link %s: handshake failed: %s (next try in %.0fs)",
                expected.name,
                circuit.close_reason or "closed",
                delay,
            )
            return
        peer = circuit.peer
        if peer is None or peer.circuit is not circuit:
            return
        peer.circuit = None
        peer.next_dial = circuit.now + self._backoff(peer)
        if circuit.close_reason and not peer.last_error:
            peer.last_error = circuit.close_reason
        if circuit.was_up:
            peer.last_change = circuit.now
            log.info("link %s is down: %s", peer.name, circuit.close_reason)
            self.handler.link_down(peer)

    def _backoff(self, peer: Peer) -> float:
        delay = peer.delay
        peer.delay = min(peer.delay * 2, self.settings.reconnect_max)
        return delay * random.uniform(0.8, 1.2)

    def note_refused(self, name: str) -> None:
        if len(self.refused) < 1000 or name in self.refused:
            self.refused[name] = self.refused.get(name, 0) + 1

    def drop(self, name: str, reason: str) -> bool:
        """SQUIT: break the circuit now (it is dialled again after the back-off)."""
        peer = self.peers.get(name.lower())
        if peer is None or peer.circuit is None:
            return False
        peer.circuit.close(reason, abort=True)
        return True

    def redial(self, name: str) -> bool:
        """CONNECT: dial at the next tick instead of waiting for the back-off."""
        peer = self.peers.get(name.lower())
        if peer is None or not peer.config.address:
            return False
        peer.next_dial = 0.0
        peer.delay = self.settings.reconnect_min
        return True

    # -- time

    def tick(self, now: float) -> list[Peer]:
        """Pings, acknowledgements and timeouts; the peers that should be dialled now."""
        for circuit in list(self.circuits):
            circuit.tick(now)
        due = []
        for peer in self.peers.values():
            if (
                peer.config.address
                and peer.circuit is None
                and peer.dialled is None
                and not peer.dialing
                and now >= peer.next_dial
            ):
                due.append(peer)
        return due

    def dial_failed(self, peer: Peer, reason: str, now: float) -> None:
        peer.dialing = False
        peer.last_error = reason
        peer.next_dial = now + self._backoff(peer)

    def shutdown(self) -> None:
        """Say goodbye on every circuit (the peers keep our stream for nothing: we stop)."""
        for circuit in list(self.circuits):
            if circuit.state == UP:
                circuit.write(render(Packet(V.REQUEST_CIRCUIT_SHUTDOWN, {})))
            circuit.close("shutting down")


def fingerprint_of(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text: str) -> str:
    return text.replace(":", "").lower()
