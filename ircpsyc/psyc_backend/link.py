"""Server links: PSYC circuits between servers, sans-IO, with a thin asyncio adapter.

A `Peer` is one configured neighbour ([[links]]) and holds what must outlive a TCP
connection: the outbound stream (every data packet sent, kept until the peer
acknowledges it), the count of data packets received from the peer's current
boot, the reconnect back-off and the counters operators see.  A `Circuit` is one
TCP connection and does the PSYC circuit set-up (DESIGN.md 4):

1. both sides send an empty packet `|`, then `_notice_circuit_established` with
   `_source` = their root uniform `psyc://NAME/`, a random `_challenge` and their
   `_boot` (an id that changes at every start);
2. each answers the other's notice with `_status_circuit_authentication`
   carrying `_proof` = HMAC-SHA256(secret, peer_challenge + own_root + peer_root)
   and `_counter_received`, the number of data packets it already has from the
   peer's current boot; a wrong proof gets `_error_circuit_authentication`;
3. from then on every packet with content is a data packet, counted in order by
   both sides.  The receiver acknowledges with content-less packets carrying the
   routing variable `_acknowledge` = its count; the sender keeps what is not
   acknowledged and, on the next circuit, resends everything after the count
   the receiver announced.  So a link that breaks and comes back loses and
   duplicates nothing, and a circuit can replace another at any moment.

Empty packets are pings.  A peer that sends bytes the codec refuses gets
`_error_syntax` and is disconnected.  When both servers dial each other, the
circuit dialled by the server with the lower name is kept (the other side never
dials while a circuit exists, so this only decides a simultaneous start).

`Links` keeps the peers and circuits and reports to a `LinkHandler` (the
network layer): a peer came up or went down, a data packet arrived.  Time is
passed in.  `LinkService` is the asyncio adapter: listeners, dialling, TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import secrets
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from ircpsyc import __version__
from ircpsyc.psyc_backend.packet import Packet, number
from ircpsyc.psyc_backend.uniform import Uniform, UniformError, root
from ircpsyc.psyc_backend.wire import PacketError, Parser, render

log = logging.getLogger(__name__)

EMPTY = b"|\n"
MAX_LINK_PACKET = 16 << 20  # a full channel state may be large
HANDSHAKE_TIMEOUT = 20.0
ACK_EVERY = 256  # data packets between acknowledgements under load

# Link states, as operators see them.
DOWN = "down"
CONNECTING = "connecting"
HANDSHAKE = "handshake"
UP = "up"


def proof(secret: str, challenge: str, own_root: str, peer_root: str) -> str:
    """The HMAC a side sends to prove it knows the link secret."""
    message = (challenge + own_root + peer_root).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def is_control(method: str) -> bool:
    """Circuit-level packets: not counted, not kept for resending."""
    return method.startswith(
        (
            "_notice_circuit",
            "_status_circuit",
            "_error_circuit",
            "_request_circuit",
            "_error_syntax",
        )
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


class Peer:
    """One configured neighbour: the streams both ways and the dialling state."""

    def __init__(self, config: LinkConfig, settings: Settings) -> None:
        self.config = config
        self.name = config.name.lower()
        self.settings = settings
        self.circuit: Circuit | None = None
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
GREETING = "greeting"
AUTH = "auth"
CLOSED = "closed"


class Circuit:
    """One TCP connection to a peer: handshake, pings, acknowledgements, framing."""

    def __init__(
        self,
        links: Links,
        peer: Peer | None,
        write: Callable[[bytes], None],
        close: Callable[[bool], None],
        now: float,
        address: str = "",
    ) -> None:
        self.links = links
        self.outbound = peer is not None  # we dialled it
        self.expected = peer
        self.peer: Peer | None = None  # known once its notice named it
        self._write = write
        self._close = close
        self.address = address
        self.state = GREETING
        self.parser = Parser(max_packet=MAX_LINK_PACKET, max_name=128)
        self.challenge = secrets.token_hex(16)
        self.peer_challenge = ""
        self.peer_boot = ""
        self.got_empty = False
        self.opened = now
        self.last_recv = now
        self.last_sent = now
        self.now = now
        self.close_reason = ""
        self.was_up = False

    def __repr__(self) -> str:
        name = self.peer.name if self.peer else (self.expected.name if self.expected else "?")
        return f"<Circuit {name} {'out' if self.outbound else 'in'} {self.state}>"

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
        """Greet: the empty packet and our notice with a fresh challenge."""
        links = self.links
        routing = {"_source": root(links.me)}
        if self.expected is not None:
            routing["_target"] = root(self.expected.name)
        notice = Packet(
            "_notice_circuit_established",
            routing,
            {
                "_challenge": self.challenge,
                "_boot": links.boot,
                "_implementation": f"ircpsyc/{__version__}",
            },
        )
        self.write(EMPTY + render(notice))

    # -- input

    def data_received(self, data: bytes, now: float) -> None:
        if self.state == CLOSED:
            return
        self.now = now
        self.last_recv = now
        if self.peer is not None:
            self.peer.stats.bytes_in += len(data)
        try:
            packets = self.parser.feed(data)
        except PacketError as error:
            for packet in error.packets:
                if self.state == CLOSED:
                    return
                self._packet(packet)
            self.fail("_error_syntax", f"cannot parse your packets: {error.reason}")
            return
        for packet in packets:
            if self.state == CLOSED:
                return
            self._packet(packet)

    def _packet(self, packet: Packet) -> None:
        state = self.state
        if state == UP:
            method = packet.method
            if not method:
                ack = packet.routing.get("_acknowledge")
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
        if not self.got_empty:
            if packet.method or packet.routing:
                self.fail("_error_syntax_initialization", "a circuit starts with an empty packet")
                return
            self.got_empty = True
            return
        if not packet.method:
            return  # a ping during the handshake
        if state == GREETING and packet.method == "_notice_circuit_established":
            self._notice(packet)
        elif state == AUTH and packet.method == "_status_circuit_authentication":
            self._proof(packet)
        elif packet.method.startswith("_error"):
            self._control(packet)
        else:
            self.fail("_error_circuit_order", f"unexpected {packet.method} before authentication")

    def _control(self, packet: Packet) -> None:
        method = packet.method
        if method.startswith("_notice_circuit_topology") and self.peer is not None:
            self.links.handler.link_packet(self.peer, packet)  # not counted: link state
        elif method.startswith("_request_circuit_shutdown"):
            self.close("peer shut down")
        elif method.startswith("_error"):
            reason = packet.get("_reason") or method
            log.warning("link %s: peer refused us: %s %s", self._name(), method, reason)
            if self.peer is not None:
                self.peer.last_error = f"peer: {reason}"
            self.close(f"peer refused: {reason}")

    def _name(self) -> str:
        if self.peer is not None:
            return self.peer.name
        if self.expected is not None:
            return self.expected.name
        return self.address or "?"

    def _notice(self, packet: Packet) -> None:
        links = self.links
        try:
            uniform = Uniform.parse(packet.source)
        except UniformError:
            self.fail("_error_illegal_source", "_source must be your root uniform")
            return
        name = uniform.host
        peer = links.peers.get(name)
        if peer is None or not uniform.is_root:
            links.note_refused(name)
            self.fail("_error_illegal_source", f"{name} is not a configured link here")
            return
        if self.expected is not None and peer is not self.expected:
            self.fail("_error_illegal_source", f"expected {self.expected.name}, not {name}")
            return
        challenge = packet.get("_challenge")
        if len(challenge) < 16:
            self.fail("_error_circuit_authentication", "missing challenge")
            return
        if not links.claim(self, peer):
            self.fail("_error_circuit_duplicate", "a circuit between us exists already")
            return
        self.peer = peer
        self.peer_challenge = challenge
        self.peer_boot = packet.get("_boot")
        # What we have of the peer's stream; nothing if it restarted (new boot).
        have = peer.received if peer.boot == self.peer_boot else 0
        self._send(
            Packet(
                "_status_circuit_authentication",
                {"_source": root(links.me), "_target": root(peer.name)},
                {
                    "_proof": proof(peer.config.secret, challenge, root(links.me), root(name)),
                    "_counter_received": str(have),
                },
            )
        )
        self.state = AUTH

    def _proof(self, packet: Packet) -> None:
        peer = self.peer
        assert peer is not None
        links = self.links
        expected = proof(peer.config.secret, self.challenge, root(peer.name), root(links.me))
        if not hmac.compare_digest(expected, packet.get("_proof")):
            peer.stats.refused += 1
            peer.last_error = "authentication failed"
            log.warning("link %s: wrong proof, refused", peer.name)
            self.fail("_error_circuit_authentication", "wrong proof: check the link secret")
            return
        count_text = packet.get("_counter_received")
        count = max(0, number(count_text, 0))
        if peer.boot != self.peer_boot:
            if peer.boot:
                # It restarted: what its old boot may have had is not for the new one
                # (what was never written is: it waited for the link).
                peer.acknowledge(peer.written)
            peer.boot = self.peer_boot
            peer.received = 0
            peer.acked_sent = 0
        self.state = UP
        for data in links.handler.link_hello(peer):
            self.write(data)
        resend = peer.resume(count)
        peer.stats.resent += len(resend)
        for data in resend:
            self.write(data)
        peer.written = peer.sent
        links.established(self, peer)

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
            if now - self.opened > HANDSHAKE_TIMEOUT:
                self.close("handshake timeout")
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
        routing = {"_source": root(self.links.me)}
        self.write(render(Packet(method, routing, {"_reason": reason})))
        if self.peer is not None:
            self.peer.last_error = reason
        log.warning("link %s: %s (%s)", self._name(), reason, method)
        self.close(reason)

    def close(self, reason: str, abort: bool = False) -> None:
        if self.state == CLOSED:
            return
        self.was_up = self.state == UP
        self.state = CLOSED
        self.close_reason = reason
        self._close(abort)
        self.links.circuit_closed(self)

    def lost(self, reason: str = "connection lost") -> None:
        """The transport went away under us."""
        if self.state == CLOSED:
            return
        self.was_up = self.state == UP
        self.state = CLOSED
        self.close_reason = reason
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

    def open(
        self,
        peer: Peer | None,
        write: Callable[[bytes], None],
        close: Callable[[bool], None],
        now: float,
        address: str = "",
    ) -> Circuit:
        """A new TCP connection: dialled to `peer`, or accepted (peer None)."""
        circuit = Circuit(self, peer, write, close, now, address)
        self.circuits.add(circuit)
        if peer is not None:
            peer.stats.connects += 1
        circuit.start()
        return circuit

    def _preferred(self, circuit: Circuit, peer: Peer) -> bool:
        initiator = self.me if circuit.outbound else peer.name
        return initiator == min(self.me, peer.name)

    def claim(self, circuit: Circuit, peer: Peer) -> bool:
        """Make `circuit` the peer's circuit, or refuse it as a duplicate."""
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
                circuit.write(render(Packet("_request_circuit_shutdown", {})))
            circuit.close("shutting down")


def fingerprint_of(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text: str) -> str:
    return text.replace(":", "").lower()


# --------------------------------------------------------------------------- asyncio


class LinkProtocol(asyncio.Protocol):
    """Bytes between a transport and its circuit; writes coalesced per loop turn."""

    def __init__(self, service: LinkService, peer: Peer | None) -> None:
        self.service = service
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.circuit: Circuit | None = None
        self._out: list[bytes] = []
        self.reason = "closed before set-up"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        with contextlib.suppress(OSError, AttributeError):
            import socket

            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = self.peer
        if peer is not None and peer.config.tls and peer.config.fingerprint:
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            got = fingerprint_of(der) if der else ""
            if got != normalize_fingerprint(peer.config.fingerprint):
                log.warning("link %s: certificate fingerprint %s does not match", peer.name, got)
                self.reason = "certificate fingerprint mismatch"
                peer.stats.refused += 1
                transport.abort()
                return
        address = ""
        with contextlib.suppress(Exception):
            host, port = transport.get_extra_info("peername")[:2]
            address = f"{host}:{port}"
        self.circuit = self.service.links.open(
            peer, self._write, self._close, time.monotonic(), address
        )
        if peer is not None:
            peer.dialing = False

    def _write(self, data: bytes) -> None:
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        transport = self.transport
        if transport is not None and not transport.is_closing() and out:
            transport.write(b"".join(out))

    def _close(self, abort: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        if abort:
            self._out.clear()
            transport.abort()
        else:
            self._flush()
            transport.close()

    def data_received(self, data: bytes) -> None:
        circuit = self.circuit
        if circuit is None:
            return
        try:
            circuit.data_received(data, time.monotonic())
        except Exception:  # a bug must not take the server down: drop this link
            log.exception("link %s: error handling input", circuit.peer or circuit.address)
            circuit.close("internal error", abort=True)

    def connection_lost(self, exc: Exception | None) -> None:
        circuit = self.circuit
        if circuit is not None:
            circuit.lost(str(exc) if exc else "connection closed")
        elif self.peer is not None:
            self.service.links.dial_failed(self.peer, self.reason, time.monotonic())


@dataclass
class LinkService:
    """Listeners and dialling for `Links`, on the running asyncio loop."""

    links: Links
    listen: str = ""
    listen_tls: str = ""
    server_ssl: ssl.SSLContext | None = None
    servers: list[asyncio.Server] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        from ircpsyc.config import parse_hostport

        loop = asyncio.get_running_loop()
        if self.listen:
            host, port = parse_hostport(self.listen)
            self.servers.append(
                await loop.create_server(
                    lambda: LinkProtocol(self, None), host, port, reuse_address=True
                )
            )
        if self.listen_tls:
            host, port = parse_hostport(self.listen_tls)
            self.servers.append(
                await loop.create_server(
                    lambda: LinkProtocol(self, None),
                    host,
                    port,
                    ssl=self.server_ssl,
                    reuse_address=True,
                )
            )

    def addresses(self) -> list[str]:
        out = []
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                out.append(f"{host}:{port}")
        return out

    def tick(self, now: float) -> None:
        for peer in self.links.tick(now):
            self.dial(peer)

    def dial(self, peer: Peer) -> None:
        peer.dialing = True
        task = asyncio.get_running_loop().create_task(self._dial(peer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _dial(self, peer: Peer) -> None:
        from ircpsyc.config import parse_hostport

        loop = asyncio.get_running_loop()
        host, port = parse_hostport(peer.config.address)
        context: ssl.SSLContext | None = None
        if peer.config.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the fingerprint (and the secret) decide
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: LinkProtocol(self, peer),
                    host,
                    port,
                    ssl=context,
                    server_hostname=peer.name if context else None,
                ),
                HANDSHAKE_TIMEOUT,
            )
        except (OSError, TimeoutError, ssl.SSLError) as error:
            self.links.dial_failed(peer, f"dial: {error}", time.monotonic())

    async def stop(self) -> None:
        self.links.shutdown()
        for server in self.servers:
            server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0)
