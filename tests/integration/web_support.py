"""IRC over WebSocket for the loopback tests: a client on the `websockets` library.

`WsClient` mirrors `RawClient` (send, expect, register) so a test reads the same
whichever transport a client uses; `messages` keeps every WebSocket message as
received (str for text, bytes for binary) to check the framing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import irctokens
from irctokens.line import Line
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import HOST, ServerFactory, ServerProcess, free_port
from tests.integration.support import WAIT, show

_OPEN: list[WsClient] = []


def start_web_server(factory: ServerFactory, extra: Mapping[str, Any] | None = None) -> int:
    """Start a server with a web listener on a free port; the web port (once it answers)."""
    from tests.conftest import merge

    port = free_port()
    server: ServerProcess = factory(merge({"listen": {"web": [f"{HOST}:{port}"]}}, extra or {}))
    wait_for_port(port)
    server.web_port = port  # type: ignore[attr-defined]
    return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class WsClient:
    """One IRC connection over WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.nick = "*"
        self.history: list[Line] = []
        self.messages: list[str | bytes] = []
        _OPEN.append(self)

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        subprotocols: Iterable[str] | None = ("text.ircv3.net",),
        origin: str | None = None,
        headers: Mapping[str, str] | None = None,
        path: str = "/",
    ) -> WsClient:
        ws = await connect(
            f"ws://{HOST}:{port}{path}",
            subprotocols=list(subprotocols) if subprotocols is not None else None,  # type: ignore[misc]
            origin=origin,  # type: ignore[arg-type]
            additional_headers=dict(headers or {}),
            ping_interval=None,
            open_timeout=WAIT,
        )
        return cls(ws)

    async def send(self, *texts: str) -> None:
        for text in texts:
            await self.ws.send(text)

    async def read_line(self, timeout: float) -> Line | None:
        try:
            message = await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed:
            return None
        self.messages.append(message)
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        assert "\r" not in text and "\n" not in text, f"a message with CR/LF: {text!r}"
        line = irctokens.tokenise(text)
        self.history.append(line)
        return line

    async def expect(
        self, *commands: str, where: Callable[[Line], bool] | None = None, timeout: float = WAIT
    ) -> Line:
        deadline = time.monotonic() + timeout
        seen: list[Line] = []
        while True:
            try:
                line = await self.read_line(max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"{self.nick}: no {'/'.join(commands) or 'line'} within {timeout}s; got:\n"
                    + show(seen)
                ) from None
            if line is None:
                raise AssertionError(f"{self.nick}: closed; got:\n" + show(seen))
            if (not commands or line.command in commands) and (where is None or where(line)):
                return line
            seen.append(line)

    async def register(self, nick: str, caps: Iterable[str] = ()) -> list[Line]:
        self.nick = nick
        start = len(self.history)
        caps = list(caps)
        if caps:
            await self.send("CAP LS 302", f"NICK {nick}", "USER web 0 * :Web Tester")
            await self.expect("CAP", where=lambda m: m.params[1] == "LS" and m.params[2] != "*")
            await self.send(f"CAP REQ :{' '.join(caps)}")
            ack = await self.expect("CAP")
            assert ack.params[1] == "ACK", ack.format()
            await self.send("CAP END")
        else:
            await self.send(f"NICK {nick}", "USER web 0 * :Web Tester")
        await self.expect("001")
        await self.expect("376", "422")
        return self.history[start:]

    async def closed(self, timeout: float = WAIT) -> list[Line]:
        """Read until the connection closes; the lines before it."""
        start = len(self.history)
        deadline = time.monotonic() + timeout
        while await self.read_line(max(deadline - time.monotonic(), 0.001)) is not None:
            pass
        return self.history[start:]


async def close_all() -> None:
    clients = list(_OPEN)
    _OPEN.clear()
    for client in clients:
        with contextlib.suppress(Exception):
            client.ws.transport.abort()
