"""TLSListener on real loopback sockets, under asyncio's loop and uvloop: admission
before the handshake, the handshake timeout, cancelling, and a handshake that works."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest

from ircpsyc.tlsaccept import TLSListener

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    directory = tmp_path_factory.mktemp("tlsaccept")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=t"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(Path(cert), Path(key))
    return server


def run(loop: str, main: Callable[[], Awaitable[None]]) -> None:
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(main())
    else:
        asyncio.run(main())


class Seen(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        cast(asyncio.WriteTransport, transport).write(b"hello\n")  # uvloop: no subclass


class Harness:
    def __init__(self, context: ssl.SSLContext, timeout: float, refuse: bool = False) -> None:
        self.admitted: list[Seen] = []
        self.released: list[Seen] = []
        self.refuse = refuse
        self.listener: TLSListener[Seen] = TLSListener(
            context, Seen, self.admit, self.released.append, lambda p: None, lambda: timeout
        )

    def admit(self, ip: str, protocol: Seen) -> str:
        assert ip == "127.0.0.1"
        if self.refuse:
            return "no"
        self.admitted.append(protocol)
        return ""

    @property
    def port(self) -> int:
        return int(self.listener.sockets[0].getsockname()[1])


async def closed(sock: socket.socket, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                return True
        except BlockingIOError:
            pass
        except OSError:
            return True
        await asyncio.sleep(0.02)
    return False


def raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


@pytest.mark.parametrize("loop", LOOPS)
def test_admission_comes_before_the_handshake_which_times_out(
    loop: str, context: ssl.SSLContext
) -> None:
    async def main() -> None:
        harness = Harness(context, timeout=0.5)
        harness.listener.listen("127.0.0.1", 0)
        silent = raw(harness.port)
        await asyncio.sleep(0.1)
        assert len(harness.admitted) == 1  # counted without a byte of TLS
        assert await closed(silent, 2.0)
        await asyncio.sleep(0.05)
        assert harness.released == harness.admitted
        harness.refuse = True
        refused = raw(harness.port)
        assert await closed(refused, 0.5)  # at once
        harness.listener.close()

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_handshake_connects_and_cancel_closes(loop: str, context: ssl.SSLContext) -> None:
    async def main() -> None:
        harness = Harness(context, timeout=5.0)
        harness.listener.listen("127.0.0.1", 0)
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", harness.port, ssl=client)
        assert await reader.readline() == b"hello\n"
        assert harness.admitted[0].transport is not None and not harness.released
        writer.close()
        silent = raw(harness.port)
        while len(harness.admitted) < 2:
            await asyncio.sleep(0.01)
        waiting = harness.admitted[1]
        assert harness.listener.in_handshake(waiting)
        harness.listener.cancel(waiting)
        assert await closed(silent, 1.0)
        assert not harness.listener.in_handshake(waiting)
        harness.listener.close()

    run(loop, main)
