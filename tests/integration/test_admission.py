"""Connection admission under attack, against real server processes (issue #18: 4, 7).

Attackers open connections they never use: TLS handshakes that never finish, plain
connections that never say a word.  Admission counts them from accept(), before the
TLS handshake, per address (IPv4 here: the clients bind to 127.0.0.N) and in all, and
closes handshakes after `tls_handshake_timeout`; registering connections have their
own limit, and max_clients counts registered clients only.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from conftest import HOST, ServerStarter, free_port

from .support import RawClient, aio, find, unique

# A handful of loopback addresses to attack from; 127.0.0.1 is the real users'.
ATTACKERS = [f"127.0.0.{n}" for n in range(2, 10)]


def half_open(port: int, source: str, count: int) -> list[socket.socket]:
    """`count` TCP connections from `source` that never send anything (to a TLS port:
    handshakes that never finish)."""
    out = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.settimeout(5)
        try:
            sock.connect((HOST, port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        out.append(sock)
    return out


def still_open(socks: list[socket.socket]) -> list[socket.socket]:
    """Those of `socks` the server has not closed or refused (what they were sent, the
    host-name lookup's NOTICEs say, is read and dropped)."""
    out = []
    for sock in socks:
        said = b""
        while True:
            try:
                data = sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if b"ERROR" not in said:  # an ERROR line: the server closes next
                    out.append(sock)
                break
            except OSError:
                break
            if not data:
                break
            said += data
    return out


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


async def registers(port: int, *, tls: bool = False, source: str | None = None) -> None:
    client = await RawClient.connect(port, tls=tls, source=source, timeout=10)
    await client.register(unique("real"))
    client.close()


@aio
async def test_half_open_tls_handshakes_are_limited_per_address_and_time_out(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path]
) -> None:
    server = ircpsyc_server({"limits": {"tls_handshake_timeout": 2.0}}, tls=tls_cert)
    assert server.tls_port is not None
    per_ip = 32  # the default max_per_ip
    attack = await asyncio.to_thread(half_open, server.tls_port, ATTACKERS[0], 100)
    try:
        await asyncio.sleep(0.5)
        held = still_open(attack)
        print(f"half-open TLS handshakes held by one address: {len(held)} of {len(attack)}")
        assert len(held) == per_ip
        # The attacker's address is full; everybody else connects, plain and TLS.
        await registers(server.port)
        await registers(server.tls_port, tls=True)
        # The handshakes are closed after the timeout, and the address may connect again.
        started = time.monotonic()
        while still_open(held) and time.monotonic() - started < 10:
            await asyncio.sleep(0.1)
        closed_after = time.monotonic() - started + 0.5
        print(f"half-open TLS handshakes closed after {closed_after:.1f}s")
        assert not still_open(held)
        assert closed_after < 4
        await registers(server.tls_port, tls=True, source=ATTACKERS[0])
    finally:
        close_all(attack)


@pytest.mark.parametrize("attacked", ["tls", "plain"])
@aio
async def test_half_open_connections_at_the_descriptor_limit(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path], attacked: str
) -> None:
    nofile = 160
    slow = {"tls_handshake_timeout": 60.0, "first_line_timeout": 60.0}
    server = ircpsyc_server({"limits": slow}, tls=tls_cert, nofile=nofile)
    assert server.tls_port is not None
    port = server.tls_port if attacked == "tls" else server.port
    attack: list[socket.socket] = []
    try:
        for source in ATTACKERS:  # 8 addresses x 40 tries: far beyond the descriptors
            attack += await asyncio.to_thread(half_open, port, source, 40)
        await asyncio.sleep(0.5)
        held = still_open(attack)
        print(f"half-open {attacked} connections held, RLIMIT_NOFILE={nofile}: {len(held)}")
        assert 0 < len(held) < nofile - 32  # the server kept descriptors in reserve
        await registers(server.port)
        await registers(server.tls_port, tls=True)
        assert server.alive()
        assert "accept() failed" not in server.log()
    finally:
        close_all(attack)


@aio
async def test_silent_connections_do_not_make_the_server_full(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"limits": {"max_clients": 200, "first_line_timeout": 60.0}})
    silent: list[socket.socket] = []
    try:
        for n in range(200):
            silent += await asyncio.to_thread(
                half_open, server.port, ATTACKERS[n % len(ATTACKERS)], 1
            )
        await asyncio.sleep(0.3)
        assert len(still_open(silent)) == 200
        clients = []
        for _ in range(5):
            client = await RawClient.connect(server.port)
            await client.register(unique("real"))
            clients.append(client)
        await clients[0].send("LUSERS")
        lines = await clients[0].collect("255")
        unknown = find(lines, "253")
        assert unknown and unknown[0].params[1] == "200", lines
    finally:
        close_all(silent)


@aio
async def test_registering_connections_have_their_own_limit(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"limits": {"max_unregistered": 10, "first_line_timeout": 60.0}})
    silent = await asyncio.to_thread(half_open, server.port, ATTACKERS[0], 10)
    try:
        await asyncio.sleep(0.3)
        assert len(still_open(silent)) == 10
        # The same address may not open more; it would only displace its own.
        refused = await RawClient.connect(server.port, source=ATTACKERS[0])
        closing = await refused.until_closed(timeout=5)
        error = find(closing, "ERROR")
        assert error and "full" in error[-1].params[-1].lower(), closing
        # Somebody else gets in, displacing the oldest of the address with the most.
        await registers(server.port)
        await asyncio.sleep(0.3)
        left = still_open(silent)
        assert len(left) == 9 and silent[0] not in left
        # A registered client does not count against the limit.
        await registers(server.port, source=ATTACKERS[1])
    finally:
        close_all(silent)


@aio
async def test_silent_connection_is_closed_after_first_line_timeout(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"limits": {"first_line_timeout": 1.0, "registration_timeout": 20.0}})
    silent = await RawClient.connect(server.port)
    talking = await RawClient.connect(server.port)
    await talking.send("CAP LS 302")
    started = time.monotonic()
    closing = await silent.until_closed(timeout=5)
    assert find(closing, "ERROR"), closing
    assert time.monotonic() - started < 4
    await talking.send(f"NICK {unique('slow')}", "USER a 0 * :a", "CAP END")
    await talking.expect("001")


@pytest.mark.parametrize("tls", [False, True], ids=["web", "web_tls"])
@aio
async def test_web_listeners_count_connections_from_accept(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path], tls: bool
) -> None:
    """Half-open connections to a web listener (no HTTP request; for web_tls no TLS
    handshake either) are held to max_per_ip per address and closed after their
    timeout, and a WebSocket client from elsewhere still gets in."""
    from tests.integration.web_support import WsClient, wait_for_port

    web_port = free_port()
    key = "web_tls" if tls else "web"
    limits = {"tls_handshake_timeout": 2.0, "max_per_ip": 8}
    server = ircpsyc_server(
        {"listen": {key: [f"{HOST}:{web_port}"]}, "limits": limits}, tls=tls_cert
    )
    await asyncio.to_thread(wait_for_port, web_port)
    attack = await asyncio.to_thread(half_open, web_port, ATTACKERS[0], 30)
    try:
        await asyncio.sleep(0.5)
        held = still_open(attack)
        print(f"half-open {key} connections held by one address: {len(held)} of 30")
        assert len(held) == 8
        if not tls:
            client = await WsClient.connect(web_port)
            await client.register(unique("ws"))
        started = time.monotonic()
        while still_open(held) and time.monotonic() - started < 15:
            await asyncio.sleep(0.2)
        assert not still_open(held)  # the TLS handshake or the HTTP request timed out
        assert server.alive()
    finally:
        close_all(attack)
