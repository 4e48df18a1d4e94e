"""Raw-socket IRC clients for the loopback tests (asyncio streams, irctokens parsing).

Every wait is bounded: `expect` fails with the lines it saw instead of hanging.
Tests are plain functions decorated with `aio`, which runs the coroutine in a
fresh event loop with an overall deadline and closes every client it opened.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec

import irctokens
from irctokens.line import Line

HOST = "127.0.0.1"
TEST_DEADLINE = 90.0  # seconds for one whole test coroutine
WAIT = 5.0  # default bound for one expected reply

P = ParamSpec("P")

_OPEN: list[RawClient] = []
_counter = itertools.count(1)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw")[-2:].replace("w", "")


def unique(prefix: str) -> str:
    """A nick or channel suffix unique within this test process."""
    return f"{prefix}{_WORKER}x{next(_counter)}"


def aio(fn: Callable[P, Awaitable[None]]) -> Callable[P, None]:
    """Run an async test function to completion with a deadline; close its clients."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        async def main() -> None:
            try:
                await asyncio.wait_for(fn(*args, **kwargs), TEST_DEADLINE)
            finally:
                clients = list(_OPEN)
                _OPEN.clear()
                for client in clients:
                    client.abort()
                await asyncio.sleep(0)

        asyncio.run(main())

    return wrapper


def show(lines: Iterable[Line]) -> str:
    return "\n".join("    " + line.format() for line in lines) or "    (nothing)"


class Closed(AssertionError):
    """The server closed the connection while a reply was still expected."""


class RawClient:
    """One IRC connection; lines are parsed with irctokens as they arrive."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = "*"
        self.eof = False
        self.history: list[Line] = []  # everything received, in order
        self.raw: list[bytes] = []  # the same lines as bytes, CR LF removed
        self.skipped: list[Line] = []  # lines `expect` passed over
        _OPEN.append(self)

    @classmethod
    async def connect(
        cls,
        port: int,
        host: str = HOST,
        *,
        tls: bool = False,
        timeout: float = WAIT,
        rcvbuf: int | None = None,
        source: str | None = None,
    ) -> RawClient:
        """Connect; `rcvbuf` shrinks the socket's receive buffer (for slow readers);
        `source` is the local address to connect from (e.g. 127.0.0.2)."""
        context: ssl.SSLContext | None = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if source is not None:
            opened = asyncio.open_connection(
                host, port, ssl=context, limit=1 << 20, local_addr=(source, 0)
            )
        elif rcvbuf is None:
            opened = asyncio.open_connection(host, port, ssl=context, limit=1 << 20)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, (host, port))
            except BaseException:
                sock.close()
                raise
            opened = asyncio.open_connection(sock=sock, ssl=context, limit=1 << 20)
        reader, writer = await asyncio.wait_for(opened, timeout)
        return cls(reader, writer)

    # -- sending

    async def send(self, *texts: str) -> None:
        """Send lines (CR LF appended)."""
        self.writer.write(b"".join(t.encode("utf-8") + b"\r\n" for t in texts))
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    # -- receiving

    async def read_line(self, timeout: float) -> Line | None:
        """The next line, or None at end of stream; raises TimeoutError."""
        if self.eof:
            return None
        try:
            data = await asyncio.wait_for(self.reader.readline(), timeout)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return None
        if not data.endswith(b"\n"):
            self.eof = True  # a partial last line before the close
        data = data.rstrip(b"\r\n")
        self.raw.append(data)
        text = data.decode("utf-8", "replace")
        line = irctokens.tokenise(text)
        self.history.append(line)
        return line

    async def expect(
        self,
        *commands: str,
        where: Callable[[Line], bool] | None = None,
        timeout: float = WAIT,
    ) -> Line:
        """Read until a line with one of `commands` (any if none) that satisfies `where`."""
        deadline = time.monotonic() + timeout
        seen: list[Line] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = await self.read_line(max(remaining, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"{self.nick}: no {'/'.join(commands) or 'line'} within {timeout}s; got:\n"
                    + show(seen)
                ) from None
            if line is None:
                raise Closed(
                    f"{self.nick}: connection closed while waiting for "
                    f"{'/'.join(commands) or 'a line'}; got:\n" + show(seen)
                )
            if (not commands or line.command in commands) and (where is None or where(line)):
                self.skipped.extend(seen)
                return line
            seen.append(line)

    async def collect(self, *until: str, timeout: float = WAIT) -> list[Line]:
        """All lines up to and including the first whose command is in `until`."""
        start = len(self.history)
        await self.expect(*until, timeout=timeout)
        return self.history[start:]

    async def sync(self, timeout: float = WAIT) -> list[Line]:
        """PING round trip: every line the server sent before our PONG."""
        token = f"sync{next(_counter)}"
        start = len(self.history)
        await self.send(f"PING {token}")
        await self.expect("PONG", where=lambda m: m.params[-1] == token, timeout=timeout)
        return self.history[start:-1]

    async def quiet(self, duration: float) -> list[Line]:
        """Whatever arrives within `duration` seconds."""
        start = len(self.history)
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                if await self.read_line(remaining) is None:
                    break
            except TimeoutError:
                break
        return self.history[start:]

    async def until_closed(self, timeout: float = WAIT) -> list[Line]:
        """Read until the server closes the connection; the lines before it."""
        start = len(self.history)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = await self.read_line(max(remaining, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"{self.nick}: connection still open after {timeout}s; got:\n"
                    + show(self.history[start:])
                ) from None
            if line is None:
                return self.history[start:]

    # -- registration

    async def register(
        self,
        nick: str,
        user: str = "tester",
        realname: str = "Integration Tester",
        caps: Iterable[str] = (),
        timeout: float = WAIT,
    ) -> list[Line]:
        """NICK/USER (with CAP negotiation if `caps`); the burst up to the end of MOTD."""
        self.nick = nick
        start = len(self.history)
        caps = list(caps)
        if caps:
            await self.send("CAP LS 302", f"NICK {nick}", f"USER {user} 0 * :{realname}")
            await self.expect("CAP", where=lambda m: m.params[1] == "LS" and m.params[2] != "*")
            await self.send(f"CAP REQ :{' '.join(caps)}")
            ack = await self.expect("CAP")
            assert ack.params[1] == "ACK", f"CAP REQ {caps} refused: {ack.format()}"
            await self.send("CAP END")
        else:
            await self.send(f"NICK {nick}", f"USER {user} 0 * :{realname}")
        await self.expect("001", timeout=timeout)
        await self.expect("376", "422", timeout=timeout)
        return self.history[start:]

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()

    def stop_reading(self) -> None:
        """Stop taking data off the socket (asyncio would otherwise buffer it for us)."""
        transport = self.writer.transport
        assert isinstance(transport, asyncio.ReadTransport)
        transport.pause_reading()

    def resume_reading(self) -> None:
        transport = self.writer.transport
        assert isinstance(transport, asyncio.ReadTransport)
        transport.resume_reading()

    def drop(self, reset: bool = False) -> None:
        """Hang up (RST if `reset`, else FIN) and stop tracking this client."""
        if reset:
            self.abort()
        else:
            self.close()
        if self in _OPEN:
            _OPEN.remove(self)

    async def quit(self, reason: str = "bye") -> None:
        await self.send(f"QUIT :{reason}")
        await self.until_closed()


async def connect_registered(
    port: int, nick: str | None = None, *, caps: Iterable[str] = (), tls: bool = False, **kw: Any
) -> RawClient:
    client = await RawClient.connect(port, tls=tls)
    await client.register(nick or unique("n"), caps=caps, **kw)
    return client


def numerics(lines: Iterable[Line]) -> list[str]:
    return [m.command for m in lines if m.command.isdigit()]


def find(lines: Iterable[Line], command: str) -> list[Line]:
    return [m for m in lines if m.command == command]
