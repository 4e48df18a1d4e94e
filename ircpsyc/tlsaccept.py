"""TLS listeners that admit a connection at accept(), before its handshake.

asyncio's ``create_server(ssl=...)`` calls ``connection_made`` only after the TLS
handshake, and gives the handshake 60 seconds: until then no limit of the server
sees the connection, and one address could hold thousands of half-open handshakes
(issue #18).  A `TLSListener` accepts the sockets itself, asks `admit` first (a
refused socket is closed at once, before any TLS work), then runs the handshake
with ``loop.connect_accepted_socket`` under a short timeout; the protocol's
``connection_made`` comes when the handshake is done.  A handshake that fails,
times out or is cancelled is reported to `released` once its socket is closed.

(``loop.start_tls`` from a plain protocol's ``connection_made`` would be shorter,
but under uvloop the ClientHello reaches the plain protocol before the task that
starts TLS runs.)  Works with asyncio's loops and with uvloop.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

P = TypeVar("P", bound=asyncio.BaseProtocol)

# Connections accepted per wake-up; more wait for the next round of the loop.
ACCEPT_BATCH = 64
# accept() failed for want of descriptors or memory: seconds before trying again.
ACCEPT_RETRY = 0.1
_PAUSE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass
class _Handshake:
    conn: socket.socket
    task: asyncio.Task[None] = field(init=False)
    started: bool = False  # its task runs: the socket belongs to the event loop


class TLSListener(Generic[P]):
    """Listening sockets whose connections are admitted before their TLS handshake.

    `factory` makes the protocol of a new connection; `admit(ip, protocol)` says
    why to refuse it ("" lets it in); `released(protocol)` is told when a
    handshake ended without a connection and its socket is closed; `drop(protocol)`
    closes a protocol that was connected when its handshake was cancelled;
    `timeout()` is the handshake timeout in seconds.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        factory: Callable[[], P],
        admit: Callable[[str, P], str],
        released: Callable[[P], None],
        drop: Callable[[P], object],
        timeout: Callable[[], float],
    ) -> None:
        self.context = context
        self.factory = factory
        self.admit = admit
        self.released = released
        self.drop = drop
        self.timeout = timeout
        self.sockets: list[socket.socket] = []
        self._handshakes: dict[P, _Handshake] = {}

    def listen(self, host: str, port: int, backlog: int = 4096) -> None:
        loop = asyncio.get_running_loop()
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, _, _, _, address in dict.fromkeys(infos):
            sock = socket.create_server(address, family=family, backlog=backlog)
            sock.setblocking(False)
            self.sockets.append(sock)
            loop.add_reader(sock.fileno(), self._accept, sock)

    def addresses(self) -> list[str]:
        return [":".join(str(part) for part in s.getsockname()[:2]) for s in self.sockets]

    def in_handshake(self, protocol: P) -> bool:
        return protocol in self._handshakes

    def cancel(self, protocol: P) -> bool:
        """End `protocol`'s handshake: True if its socket is closed now (nothing
        follows), False if the loop closes it at its next turn (then `released`)."""
        handshake = self._handshakes.get(protocol)
        if handshake is None:
            return False
        handshake.task.cancel()
        if handshake.started:
            return False
        # Its task has not run yet: the socket is still ours to close, at once.
        del self._handshakes[protocol]
        handshake.conn.close()
        return True

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.sockets:
            loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()
        for protocol in list(self._handshakes):
            self.cancel(protocol)

    # -- the loop's callbacks

    def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno not in _PAUSE_ERRORS:
                    continue  # e.g. ECONNABORTED: that client is gone already
                log.warning("accept() failed: %s; retrying in %.1fs", error, ACCEPT_RETRY)
                loop.remove_reader(listener.fileno())
                loop.call_later(ACCEPT_RETRY, self._resume, listener)
                return
            conn.setblocking(False)
            protocol = self.factory()
            ip = str(peer[0])
            if ip.startswith("::ffff:"):
                ip = ip[7:]
            if self.admit(ip, protocol):
                conn.close()  # no goodbye: the client expects a TLS handshake
                continue
            handshake = _Handshake(conn)
            handshake.task = loop.create_task(self._handshake(handshake, protocol))
            self._handshakes[protocol] = handshake

    def _resume(self, listener: socket.socket) -> None:
        if listener in self.sockets and listener.fileno() >= 0:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept, listener)

    async def _handshake(self, handshake: _Handshake, protocol: P) -> None:
        handshake.started = True  # from here on the loop owns the socket
        loop = asyncio.get_running_loop()
        connected = False
        try:
            await loop.connect_accepted_socket(
                lambda: protocol,
                handshake.conn,
                ssl=self.context,
                ssl_handshake_timeout=self.timeout(),
            )
            connected = True
        except asyncio.CancelledError:
            self.drop(protocol)  # in case it was connected just before the cancel
        except Exception:  # the handshake failed or timed out
            pass
        finally:
            del self._handshakes[protocol]
            if not connected:  # the loop closes the socket at its next turn
                loop.call_soon(self.released, protocol)
