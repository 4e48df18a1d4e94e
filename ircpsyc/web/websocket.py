"""The asyncio adapter for a web listener: HTTP, then IRC over WebSocket.

The WebSocket protocol itself is `websockets`' sans-IO core (handshake, framing,
masking, control frames, close handshake); this module feeds it bytes and acts
on its events. An upgraded connection becomes an ordinary ircd connection: an
`IRCProtocol` whose transport is a `WebSocketTransport`, which turns the lines
IRCProtocol writes into one WebSocket message each, and hands every message
received to IRCProtocol as one line. So flood control, fake lag, SendQ, limits
per address, D-lines, cloaks, CAP and SASL are the very code a TCP client runs.

IRCv3 websocket: subprotocols binary.ircv3.net and text.ircv3.net (text when
the client names none); one line per message, without CR LF; a text message
that is not UTF-8 fails the connection (close code 1007) as RFC 6455 requires,
and lines sent in text mode are made valid UTF-8 (U+FFFD) first.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import os
from typing import Any, cast

from websockets.exceptions import InvalidOrigin
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import SEND_EOF, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ircpsyc.ircd.protocol import MAX_INPUT, ConnectionHost, IRCProtocol
from ircpsyc.web import pages
from ircpsyc.web.forwarded import Network, client_address, is_trusted, normal_ip, parse_networks

# websockets logs every connection opened, refused or closed at INFO: for a server
# with many browsers that is noise. Its warnings and errors still show.
_CORE_LOG = logging.getLogger("ircpsyc.web.connections")
_CORE_LOG.setLevel(logging.WARNING)

BINARY = Subprotocol("binary.ircv3.net")
TEXT = Subprotocol("text.ircv3.net")
# A message is one IRC line: the input limit, plus a CR LF a client may add anyway.
MAX_MESSAGE = MAX_INPUT + 2
# Seconds a connection may take to send its HTTP request.
HANDSHAKE_TIMEOUT = 10.0
# Seconds we wait for the client's close frame before dropping the TCP connection.
CLOSE_TIMEOUT = 2.0


@functools.lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """[web] trusted_proxies as networks, parsed once per configuration."""
    return parse_networks(entries)


def _select_subprotocol(
    protocol: ServerProtocol, offered: Any
) -> Subprotocol | None:  # the client's order of preference wins (IRCv3 websocket)
    for name in offered:
        if name in (BINARY, TEXT):
            return Subprotocol(name)
    return None


class WebProtocol(asyncio.Protocol):
    """One TCP (or TLS) connection to a web listener: a page request or an IRC session."""

    def __init__(self, server: ConnectionHost, tls: bool) -> None:
        self._server = server
        self._tls = tls
        self._raw: asyncio.Transport | None = None
        self._peer = ("", 0)
        self._ws = ServerProtocol(
            subprotocols=[BINARY, TEXT],
            select_subprotocol=_select_subprotocol,
            max_size=MAX_MESSAGE,
            logger=_CORE_LOG,
        )
        self._binary = False
        self._irc: IRCProtocol | None = None
        self._shim: WebSocketTransport | None = None
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_pong = False
        self._closing = False
        self._admitted = False  # counted by the server's admission (until handed to IRC)

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._raw = raw
        peer = raw.get_extra_info("peername") or ("unknown", 0)
        self._peer = (normal_ip(str(peer[0])) or str(peer[0]), int(peer[1]))
        if not self._admitted:
            refusal = self.admit(self._peer[0])
            if refusal:  # over the limits: said in HTTP, before reading the request
                body = f"{refusal}\n".encode()
                raw.write(
                    b"HTTP/1.1 503 Service Unavailable\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\n"
                    + f"Content-Length: {len(body)}\r\n".encode()
                    + b"Connection: close\r\n\r\n"
                    + body
                )
                raw.close()
                return
        self._timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._expired)

    def admit(self, ip: str) -> str:
        """Counted by the server's limits from accept() (the TLS listener asks before
        the handshake); the reason to refuse, or "". Connections from a trusted proxy
        are not limited per address: their users' addresses come with the request."""
        ip = normal_ip(ip) or ip
        proxy = is_trusted(ip, _trusted(self._server.config.web.trusted_proxies))
        refusal = self._server.admit(ip, self, per_address=not proxy)
        self._admitted = not refusal
        return refusal

    def drop(self, reason: str) -> bool:
        """Admission displaces this connection (it never became an IRC one): hang up."""
        if self._raw is None:
            return False
        self._raw.abort()
        return True

    def data_received(self, data: bytes) -> None:
        if self._awaiting_pong:
            self._awaiting_pong = False  # anything from the client shows it is alive
        try:
            self._ws.receive_data(data)
        except EOFError:
            return  # data after the end of the stream: nothing to read any more
        self._pump()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._pump()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        self._server.disconnected(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._raw = None
        if self._shim is not None:
            self._shim.lost()
        irc = self._irc
        if irc is not None:
            self._irc = None
            irc.connection_lost(exc)

    # -- the sans-IO core's events and output

    def _pump(self) -> None:
        for event in self._ws.events_received():
            if isinstance(event, Request):
                self._request(event)
            elif not isinstance(event, Frame):
                continue
            elif event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self._frame(event.opcode, bytes(event.data), event.fin)
            elif event.opcode is Opcode.PONG:
                self._awaiting_pong = False
        if self._shim is not None and self._ws.state is not State.OPEN:
            self._shim.open = False  # the client closed, or broke the protocol
        self.send_pending()

    def send_pending(self) -> None:
        raw = self._raw
        if raw is None:
            return
        chunks = self._ws.data_to_send()
        if not chunks:
            return
        eof = chunks[-1] == SEND_EOF
        data = b"".join(chunks)
        if data and not raw.is_closing():
            raw.write(data)
        if eof:
            # The server closes the TCP connection once the WebSocket one is closed.
            raw.close()

    # -- the opening handshake

    def _uncount(self) -> None:
        """The IRC connection counts itself from here on (under the user's address)."""
        if self._admitted:
            self._admitted = False
            self._server.disconnected(self)

    def _request(self, request: Request) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        config = self._server.config
        trusted = _trusted(config.web.trusted_proxies)
        ip, secure = client_address(self._peer[0], request.headers.raw_items(), trusted)
        tls = self._tls if secure is None else secure
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if not upgrade:
            self._ws.send_response(pages.respond(request, config.web.client, tls))
            return
        origin = request.headers.get("Origin")
        if origin is not None and not _origin_allowed(origin, request, config.web.origins, tls):
            self._ws.handshake_exc = InvalidOrigin(origin)
            response = pages.plain(http.HTTPStatus.FORBIDDEN, "Origin not allowed.\n")
            self._ws.send_response(response)
            return
        response = self._ws.accept(request)
        self._ws.send_response(response)
        if response.status_code != 101:
            return
        self._binary = self._ws.subprotocol == BINARY
        self._shim = WebSocketTransport(self, (ip, self._peer[1]))
        self.send_pending()  # the 101 goes out before IRC says anything
        self._uncount()
        self._irc = IRCProtocol(self._server, tls)
        self._irc.connection_made(self._shim)
        self._schedule_ping()

    # -- messages in

    def _frame(self, opcode: Opcode, data: bytes, fin: bool) -> None:
        if opcode is not Opcode.CONT:
            self._fragment_text = opcode is Opcode.TEXT
        if not fin:
            self._fragments.append(data)  # the core bounds the whole message's size
            return
        if self._fragments:
            self._fragments.append(data)
            data = b"".join(self._fragments)
            self._fragments = []
        if self._fragment_text:
            try:
                data.decode()
            except UnicodeDecodeError:
                self.close(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
                return
        irc = self._irc
        if irc is None:
            return
        if data.endswith(b"\n"):  # tolerated, though the spec says no CR LF
            data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
        if b"\n" in data or b"\r" in data:
            # One message, one line: a message smuggling several is dropped, and its
            # empty line still costs a flood token.
            data = b""
        irc.data_received(data + b"\n")

    # -- lines out (through WebSocketTransport)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; drop the connection if the client does not answer."""
        if self._closing:
            return
        self._closing = True
        if self._shim is not None:
            self._shim.open = False
        if self._ws.state is State.OPEN:
            self._ws.send_close(code, reason)
            self.send_pending()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._expired)

    def abort(self) -> None:
        if self._raw is not None:
            self._raw.abort()

    def extra(self, name: str, default: Any = None) -> Any:
        return self._raw.get_extra_info(name, default) if self._raw is not None else default

    # -- timers

    def _expired(self) -> None:
        """No HTTP request in time, or no answer to our close frame: hang up."""
        self._timer = None
        if self._raw is not None:
            self._raw.abort()

    def _schedule_ping(self) -> None:
        interval = self._server.config.web.ping_interval
        self._timer = asyncio.get_running_loop().call_later(interval, self._ping)

    def _ping(self) -> None:
        self._timer = None
        if self._closing or self._ws.state is not State.OPEN:
            return
        if self._awaiting_pong:
            self.close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            return
        self._awaiting_pong = True
        self._ws.send_ping(os.urandom(4))
        self.send_pending()
        self._schedule_ping()


# A channel message reaches every member as the same bytes object (its hash is cached
# in it), so its frames are serialized once, not once per member.
_FRAMED: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
FRAME_CACHE_ENTRIES = 1024
FRAME_CACHE_MAX_BYTES = 4096  # bigger writes (a history replay) are framed each time


def framed(data: bytes, binary: bool) -> bytes:
    """CR LF terminated IRC lines as server-to-client WebSocket messages, one per line.

    Text messages must be UTF-8: a line that is not is sent with U+FFFD in its place
    (the IRCv3 websocket spec; binary.ircv3.net carries the bytes as they are)."""
    cache = _FRAMED[binary]
    out = cache.get(data)
    if out is not None:
        return out
    lines = data.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    opcode = Opcode.BINARY if binary else Opcode.TEXT
    if not binary:
        try:
            data.decode()
        except UnicodeDecodeError:
            lines = [one.decode("utf-8", "replace").encode() for one in lines]
    out = b"".join(Frame(opcode, one).serialize(mask=False, extensions=[]) for one in lines)
    if len(data) <= FRAME_CACHE_MAX_BYTES:
        if len(cache) >= FRAME_CACHE_ENTRIES:
            cache.clear()
        cache[data] = out
    return out


class WebSocketTransport(asyncio.Transport):
    """What IRCProtocol sees of a WebSocket connection: a transport whose writes are
    lines, each sent as one WebSocket message."""

    def __init__(self, owner: WebProtocol, peer: tuple[str, int]) -> None:
        super().__init__()
        self._owner = owner
        self._peer = peer
        self._ws = owner._ws
        self._raw = owner._raw
        self._binary = owner._binary
        # Kept here rather than asked of the owner: IRCProtocol checks it on every flush.
        self.open = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer  # the client's, when a trusted proxy told us
        return self._owner.extra(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        # Every line sent to a web client passes here: kept to the bare minimum.
        raw = self._raw
        if raw is None or not self.open:
            return
        if self._ws.writes:
            self._owner.send_pending()  # a pong the core owes goes first
        raw.write(framed(bytes(data), self._binary))

    def get_write_buffer_size(self) -> int:
        raw = self._raw
        return raw.get_write_buffer_size() if raw is not None else 0

    def lost(self) -> None:
        self._raw = None
        self.open = False

    def is_closing(self) -> bool:
        raw = self._raw
        return not self.open or raw is None or raw.is_closing()

    def can_write_eof(self) -> bool:
        return False  # the close frame is the WebSocket's half-close

    def close(self) -> None:
        self._owner.close()

    def abort(self) -> None:
        self._owner.abort()


def _origin_allowed(origin: str, request: Request, allowed: tuple[str, ...], tls: bool) -> bool:
    """The page's own origin, a configured one, or any with "*"."""
    origin = origin.rstrip("/").lower()
    host = request.headers.get("Host", "").lower()
    own = f"{'https' if tls else 'http'}://{host}"
    if origin == own or "*" in allowed:
        return True
    return origin in (entry.rstrip("/").lower() for entry in allowed)
