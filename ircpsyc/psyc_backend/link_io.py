"""The asyncio adapter of server links (ircpsyc.psyc_backend.link): listeners, dialling, TLS.

`LinkProtocol` moves bytes between a transport and its sans-IO `Circuit`;
`LinkService` listens, dials the peers `Links` asks for and counts accepted
connections at accept(), before any TLS handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

from ircpsyc.psyc_backend.link import (
    CLOSED,
    Circuit,
    Links,
    Peer,
    admission_key,
    fingerprint_of,
    normalize_fingerprint,
)
from ircpsyc.psyc_backend.wire import Parser
from ircpsyc.tlsaccept import TLSListener

log = logging.getLogger(__name__)

TLS_HANDSHAKE_TIMEOUT = 5.0  # of an accepted TLS link, within the link's handshake timeout
DIAL_TIMEOUT = 20.0  # TCP connect and TLS handshake of a dialled link


class LinkProtocol(asyncio.Protocol):
    """Bytes between a transport and its circuit; writes coalesced per loop turn.

    An accepted connection comes counted by `Links.admit` (`admitted`: its
    host), from accept() on; the circuit takes the count over."""

    def __init__(
        self,
        service: LinkService,
        peer: Peer | None,
        admitted: str | None = None,
        accepted: float = 0.0,
    ) -> None:
        self.service = service
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.circuit: Circuit | None = None
        self._out: list[bytes] = []
        self.admitted = admitted
        self.accepted = accepted  # when accept() returned it (0: now, or dialled)
        self.reason = "closed before set-up"
        self.foreign: Any = None  # a psyced that called: its ForeignProtocol takes over

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        with contextlib.suppress(OSError, AttributeError):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = self.peer
        now = time.monotonic()
        if peer is None and self.admitted is None:  # the plain listener: count it now
            host = _host_of(transport)
            if not self.service.links.admit(host):
                log.debug("link listener: %s is over the unauthenticated limits", host)
                transport.abort()
                return
            self.admitted = host
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
        admitted, self.admitted = self.admitted, None  # the circuit counts it from now
        self.circuit = self.service.links.open(
            peer, self._write, self._close, self.accepted or now, address, admitted
        )
        if peer is not None:
            peer.dialing = False
        elif self.service.foreign is not None:
            # Who calls shows in its first packet: our link handshake, or a foreign
            # PSYC server (psyced's 0.9 `.`, or 1.0 without our handshake).
            self.circuit.head = bytearray()

    def abort(self) -> None:
        """Drop the connection at once (its TLS handshake was cancelled)."""
        if self.transport is not None:
            self.transport.abort()

    def release(self) -> None:
        """Give the admission back if no circuit took it (TLS failed, aborted)."""
        if self.admitted is not None:
            self.service.links.release(self.admitted)
            self.admitted = None

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
        if self.foreign is not None:
            self.foreign.data_received(data)
            return
        circuit = self.circuit
        if circuit is None:
            return
        if data[:1] == b"." and circuit.head is not None and not circuit.head:
            # PSYC 0.9 (psyced): a foreign circuit, not a link of the network.
            self._hand_over(circuit, data, answered=False)
            return
        try:
            circuit.data_received(data, time.monotonic())
        except Exception:  # a bug must not take the server down: drop this link
            log.exception("link %s: error handling input", circuit.peer or circuit.address)
            circuit.close("internal error", abort=True)
            return
        if circuit.foreign_call and circuit.head is not None:
            # PSYC 1.0 without our link handshake: a foreign server, with no link powers.
            self._hand_over(circuit, bytes(circuit.head), answered=True)

    def _hand_over(self, circuit: Circuit, first: bytes, answered: bool) -> None:
        """The connection is a foreign server's: its `ForeignProtocol` takes over with
        every byte received (`answered`: our `|` opening went out already)."""
        self._flush()  # our opening goes before what the foreign circuit writes
        circuit.state = CLOSED
        circuit.release()
        circuit.parser = Parser(max_packet=1)
        self.service.links.circuits.discard(circuit)
        self.circuit = None
        assert self.transport is not None and self.service.foreign is not None
        self.foreign = self.service.foreign.adopt(self.transport, first, answered)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.foreign is not None:
            self.foreign.connection_lost(exc)
            return
        circuit = self.circuit
        if circuit is not None:
            circuit.lost(str(exc) if exc else "connection closed")
        elif self.peer is not None:
            self.service.links.dial_failed(self.peer, self.reason, time.monotonic())
        self.release()


def _host_of(transport: asyncio.BaseTransport) -> str:
    """What an accepted connection counts as (`admission_key` of its address)."""
    with contextlib.suppress(Exception):
        return admission_key(str(transport.get_extra_info("peername")[0]))
    return "?"


@dataclass
class LinkService:
    """Listeners and dialling for `Links`, on the running asyncio loop.

    The TLS listener is a `TLSListener`, so that a connection is counted by
    `Links.admit` at accept(), before its TLS handshake, which gets
    `TLS_HANDSHAKE_TIMEOUT` (asyncio's `create_server(ssl=...)` would only show
    it after the handshake, and waits 60 s for it)."""

    links: Links
    listen: str = ""
    listen_tls: str = ""
    server_ssl: ssl.SSLContext | None = None
    servers: list[asyncio.Server] = field(default_factory=list)
    tls_listener: TLSListener[LinkProtocol] | None = None
    foreign: Any = None  # ircpsyc.psyc_backend.foreign.ForeignService, for psyced's calls
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
            if self.server_ssl is None:
                raise ValueError("listen.psyc_tls needs a TLS context")
            self.tls_listener = TLSListener(
                self.server_ssl,
                lambda: LinkProtocol(self, None, accepted=time.monotonic()),
                self._admit,
                LinkProtocol.release,
                lambda protocol: protocol.abort(),
                lambda: TLS_HANDSHAKE_TIMEOUT,
            )
            self.tls_listener.listen(*parse_hostport(self.listen_tls), backlog=100)

    def _admit(self, ip: str, protocol: LinkProtocol) -> str:
        """A TLS connection at accept(): counted from now, or refused at once."""
        host = admission_key(ip)
        if not self.links.admit(host):
            log.debug("link listener: %s is over the unauthenticated limits", host)
            return "over the unauthenticated limits"
        protocol.admitted = host
        return ""

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def addresses(self) -> list[str]:
        sockets = [sock for server in self.servers for sock in server.sockets]
        out = []
        for sock in sockets:
            host, port = sock.getsockname()[:2]
            out.append(f"{host}:{port}")
        if self.tls_listener is not None:
            out += self.tls_listener.addresses()
        return out

    def tick(self, now: float) -> None:
        for peer in self.links.tick(now):
            self.dial(peer)

    def dial(self, peer: Peer) -> None:
        peer.dialing = True
        self.spawn(self._dial(peer))

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
                DIAL_TIMEOUT,
            )
        except (OSError, TimeoutError, ssl.SSLError) as error:
            self.links.dial_failed(peer, f"dial: {error}", time.monotonic())

    async def stop(self) -> None:
        self.links.shutdown()
        for server in self.servers:
            server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tls_listener is not None:
            self.tls_listener.close()
        await asyncio.sleep(0)
