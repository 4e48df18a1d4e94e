"""Listeners behind a PROXY-protocol proxy (listen.irc_proxy, listen.web_proxy)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from pathlib import Path

from ircpsyc.proxy_protocol import V2_SIGNATURE
from tests.conftest import HOST, ServerFactory, free_port
from tests.integration.support import RawClient, aio, unique
from tests.integration.web_support import wait_for_port


def test_irc_and_web_behind_a_proxy(tmp_path: Path) -> None:
    irc_port, web_port = free_port(), free_port()
    factory = ServerFactory(tmp_path)
    try:
        factory(
            {
                "listen": {
                    "irc_proxy": [f"{HOST}:{irc_port}"],
                    "web_proxy": [f"{HOST}:{web_port}"],
                },
                "cloaks": {"set_on_connect": False},
            }
        )
        wait_for_port(irc_port)
        wait_for_port(web_port)

        @aio
        async def run() -> None:
            # Version 1, then IRC in the same packet.
            nick = unique("prx")
            client = await RawClient.connect(irc_port)
            await client.send_bytes(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 6667\r\n")
            await client.register(nick)
            await client.send(f"WHO {nick}")
            assert (await client.expect("352")).params[3] == "198.51.100.7"
            # Version 2 over IPv6.
            six = ipaddress.IPv6Address("2001:db8::42").packed + bytes(16) + b"\x00\x01\x1a\x0b"
            header = V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x21, len(six)) + six
            other = await RawClient.connect(irc_port)
            await other.send_bytes(header)
            await other.register(unique("prx"))
            await other.send(f"WHO {other.nick}")
            assert (await other.expect("352")).params[3] == "2001:db8::42"
            # No header: dropped, nothing said.
            bare = await RawClient.connect(irc_port)
            await bare.send("NICK nobody", "USER a 0 * :b")
            assert await bare.until_closed() == []

            # The web listener: the header, then a WebSocket upgrade.
            reader, writer = await asyncio.open_connection(HOST, web_port)
            writer.write(
                b"PROXY TCP4 192.0.2.33 127.0.0.1 1234 8080\r\n"
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"\r\n" + b"\x81\x85\x00\x00\x00\x00WHO *"
                # A masked text frame: "WHO *" with a zero mask, then close.
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(4096), 5)
            assert answer.startswith(b"HTTP/1.1 101"), answer
            writer.close()

        run()
    finally:
        assert not factory.close()


def test_untrusted_proxy_dropped(tmp_path: Path) -> None:
    irc_port = free_port()
    factory = ServerFactory(tmp_path)
    try:
        factory({"listen": {"irc_proxy": [f"{HOST}:{irc_port}"], "proxy_from": ["192.0.2.0/24"]}})
        wait_for_port(irc_port)
        with socket.create_connection((HOST, irc_port), timeout=5) as sock:
            sock.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 6667\r\nNICK x\r\n")
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass  # dropped, as wanted
    finally:
        assert not factory.close()
