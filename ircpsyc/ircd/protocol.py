"""The thin asyncio adapter around `Session`: bytes from the socket in, bytes out.

It splits lines, enforces the line-length limit, delays lines for fake lag
(pausing the socket instead of buffering), and keeps each client's send queue
bounded: a reader that does not keep up is dropped with "SendQ exceeded" and
never slows anybody else.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol, cast

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.session import MAX_TAGS_TOTAL, Session, Traffic
from ircpsyc.psyc_backend import vocabulary as V

if TYPE_CHECKING:
    from ircpsyc.admission import Connection
    from ircpsyc.config import Config
    from ircpsyc.ircd.core import IRCServer

# Tags (8191) + space + the 512-byte message: anything longer is refused.
MAX_INPUT = MAX_TAGS_TOTAL + 1 + 512
# Unprocessed input a lagged client may have waiting before it is dropped.
RECVQ = 64 * 1024


class ConnectionHost(Protocol):
    """What the connection adapters (IRC here, WebSocket in ircpsyc.web) need of
    the server that accepted them: admission, the flush of pending output and
    the front-end core.  `ircpsyc.server.Server` is the one; the type lives here
    so that the adapters' imports point down, never at the composition root."""

    core: IRCServer
    config: Config
    dirty: list[IRCProtocol]  # connections with output to flush this turn

    def admit(self, ip: str, protocol: Connection, per_address: bool = True) -> str:
        """Count a new connection from `ip`; a reason to refuse it, or ""."""
        ...

    def readmit(self, protocol: IRCProtocol, ip: str) -> str:
        """WEBIRC: count it under the user's address instead of the gateway's."""
        ...

    def disconnected(self, protocol: Connection) -> None:
        """The connection is gone: give its admission back."""
        ...

    def schedule_flush(self) -> None:
        """Write the `dirty` connections' output at the end of this loop turn."""
        ...


class IRCProtocol(asyncio.Protocol):
    """One client connection."""

    __slots__ = (
        "_buffer",
        "_bytes_in",
        "_bytes_out",
        "_discarding",
        "_holds",
        "_lines_in",
        "_lines_out",
        "_out",
        "_paused",
        "_processing",
        V.SERVER,
        "_tls",
        "_transport",
        "session",
    )

    def __init__(self, server: ConnectionHost, tls: bool) -> None:
        self._server = server
        self._tls = tls
        self._buffer = b""
        self._discarding = False
        self._paused = False  # fake lag: a timer will process the next line
        self._holds = 0  # slow work for this client is running: its next line waits
        self._processing = False  # _process is on the stack: a nested call leaves it to it
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] | None = None
        self.session: Session | None = None
        # STATS l: what this connection carried (lines counted by their LF).
        self._lines_in = self._bytes_in = self._lines_out = self._bytes_out = 0

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Plain connections are admitted here, at accept(); TLS ones were admitted by
        # the server at accept() already and arrive after their handshake.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("unknown", 0)
        ip = str(peer[0])
        if ip.startswith("::ffff:"):
            ip = ip[7:]
        core = self._server.core
        refusal = self._server.admit(ip, self)
        session = Session(core, self, ip, self._tls, time.monotonic())
        self.session = session
        if refusal:
            session.closed = True
            self._transport.write(line(None, "ERROR", f"Closing Link: {ip} ({refusal})"))
            self._transport.close()
            return
        core.sessions[session] = None
        core.hostnames.start(session, session.connected_at)  # reverse DNS, if configured
        if self._tls:
            session.certfp = _certfp(transport)

    def data_received(self, data: bytes) -> None:
        # Keep reading while lagged (so a hang-up is seen at once), but only so much.
        session = self.session
        if session is not None and session.closed:
            return  # draining after a half-close
        self._bytes_in += len(data)
        self._lines_in += data.count(b"\n")
        self._buffer += data
        if self._paused or self._holds:
            if len(self._buffer) > RECVQ and self.session is not None:
                self._buffer = b""
                self.session.close("Excess Flood")
            return
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.disconnected(self)  # also after a TLS handshake that failed
        session = self.session
        if session is None:
            return
        if not session.closed or session in self._server.core.sessions:
            session.lost("Connection reset by peer" if exc else "Connection closed")
        self._transport = None
        self._buffer = b""

    def drop(self, reason: str) -> bool:
        """Close at once, without the goodbye (admission needs the descriptor back);
        False when there is no connection yet (a TLS handshake under way)."""
        session = self.session
        if session is not None and not session.closed:
            session.closed = True
            self._server.core.session_gone(session, reason)
        transport = self._transport
        if transport is None:
            return False
        transport.abort()
        return True

    # -- the Sink interface used by Session

    def write(self, data: bytes) -> None:
        # Lines are collected and written once per loop iteration: a member who gets
        # ten lines in one iteration costs one send() system call, not ten.
        out = self._out
        if out is None:
            if self._transport is None:
                return
            self._out = [data]
            dirty = self._server.dirty
            if not dirty:
                self._server.schedule_flush()
            dirty.append(self)
        else:
            out.append(data)

    def flush(self, sendq: int = 0) -> None:
        out = self._out
        if out is None:
            return
        self._out = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        self._bytes_out += len(data)
        self._lines_out += data.count(b"\n")
        transport.write(data)
        if transport.get_write_buffer_size() > (
            sendq or self._server.core.config.limits.sendq_bytes
        ):
            session = self.session
            if session is not None and not session.closed:
                session.closed = True
                self._server.core.session_gone(session, "SendQ exceeded")
            transport.abort()

    def close(self) -> None:
        self.flush()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            # Half-close and keep draining input for a moment: closing a socket with
            # unread input sends a reset, and the client would lose our ERROR line.
            self._holds += 1
            self._buffer = b""
            transport.write_eof()
            asyncio.get_running_loop().call_later(2.0, transport.close)
        else:
            transport.close()

    def traffic(self) -> Traffic:
        """STATS l: bytes queued (written, not yet sent) and what went each way."""
        transport = self._transport
        sendq = sum(map(len, self._out or ()))
        if transport is not None:
            sendq += transport.get_write_buffer_size()
        return Traffic(sendq, self._lines_out, self._bytes_out, self._lines_in, self._bytes_in)

    # -- line handling

    def _process(self) -> None:
        # Never re-entered: a command answered at once from `Session.later()` calls
        # release() from inside handle_line; processing there again would run lines
        # twice or out of order.  The running loop below sees the hold gone and goes on.
        if self._processing:
            return
        session = self.session
        if session is None or self._transport is None:
            return
        self._processing = True
        try:
            self._process_lines(session)
        finally:
            self._processing = False

    def _process_lines(self, session: Session) -> None:
        loop_time = time.monotonic
        while not session.closed and not self._holds and not self._paused:
            # Each line leaves the buffer before it is handled: whatever the handler
            # does (close, hold, release), it cannot be read a second time.
            buffer = self._buffer
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > MAX_INPUT:
                    if not self._discarding:
                        session.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")
                    self._discarding = True
                    self._buffer = b""
                break
            raw = buffer[:end]
            if self._discarding:  # the tail of a line that was too long
                self._discarding = False
                self._buffer = buffer[end + 1 :]
                continue
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > MAX_INPUT:
                self._buffer = buffer[end + 1 :]
                session.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")
                continue
            now = loop_time()
            delay = session.flood_delay(now)
            if delay > 0:
                # Fake lag: the line stays in the buffer; come back when the bucket
                # has a token.
                self._paused = True
                asyncio.get_running_loop().call_later(delay, self._resume)
                break
            self._buffer = buffer[end + 1 :]
            session.handle_line(raw, now)

    def readdress(self, ip: str) -> str:
        """WEBIRC: this connection is really `ip`'s. The limits per address move to it;
        the reason it is refused (too many from `ip`, a D-line), or ""."""
        return self._server.readmit(self, ip)

    def hold(self) -> None:
        """Process no further input until `release` (a SASL or NickServ password check)."""
        self._holds += 1

    def release(self) -> None:
        """End a hold; the waiting input is processed (by the running loop, if inside it)."""
        self._holds = max(0, self._holds - 1)
        if not self._holds and not self._paused and self._transport is not None:
            self._process()

    def _resume(self) -> None:
        self._paused = False
        if self._transport is None or self._transport.is_closing() or self._holds:
            return
        self._process()


def _certfp(transport: asyncio.BaseTransport) -> str:
    """SHA-256 fingerprint of the client certificate, if one was presented."""
    import hashlib

    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return ""
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else ""
