"""IRC over WebSocket (IRCv3 websocket) against a real server: framing, subprotocols,
origins, limits, proxies, and talk between a WebSocket client and a TCP one."""

from __future__ import annotations

import asyncio
import functools
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.frames import CloseCode

from tests.conftest import HOST, ServerFactory, free_port
from tests.integration.support import aio, connect_registered, unique
from tests.integration.web_support import WsClient, close_all, start_web_server, wait_for_port


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """One server for the module: (IRC port, web port). 127.0.0.1 is a trusted proxy
    (clients that send no forwarding header are unaffected) and hosts are not cloaked,
    so tests can see the address the server took."""
    factory = ServerFactory(tmp_path_factory.mktemp("web"))
    try:
        port = start_web_server(
            factory,
            {
                "web": {"trusted_proxies": ["127.0.0.1"], "origins": ["https://ok.example"]},
                "cloaks": {"set_on_connect": False},
            },
        )
        yield factory.servers[0].port, port
    finally:
        problems = factory.close()
        assert not problems, problems


def ws_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """`aio`, closing the WebSocket clients too."""

    @functools.wraps(fn)
    async def run(*args: object, **kwargs: object) -> None:
        try:
            await fn(*args, **kwargs)
        finally:
            await close_all()

    return aio(run)


@ws_test
async def test_text_subprotocol_one_line_per_message(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1], subprotocols=["text.ircv3.net"])
    assert client.ws.subprotocol == "text.ircv3.net"
    burst = await client.register(unique("wst"))
    assert len(burst) > 5
    assert all(isinstance(m, str) for m in client.messages)
    # The host-name lookup's NOTICEs, then the welcome.
    assert next(m.command for m in burst if m.command != "NOTICE") == "001"


@ws_test
async def test_binary_subprotocol_preferred_in_client_order(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1], subprotocols=["binary.ircv3.net", "text.ircv3.net"])
    assert client.ws.subprotocol == "binary.ircv3.net"
    await client.register(unique("wsb"))
    assert client.messages and all(isinstance(m, bytes) for m in client.messages)
    # Binary frames carry any bytes, so a Latin-1 line reaches the server as is.
    await client.ws.send(b"PING :caf\xe9")
    pong = await client.expect("PONG")
    assert pong.params[-1].startswith("caf")
    text_first = await WsClient.connect(web[1], subprotocols=["text.ircv3.net", "binary.ircv3.net"])
    assert text_first.ws.subprotocol == "text.ircv3.net"


@ws_test
async def test_no_subprotocol_means_text(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1], subprotocols=None)
    assert client.ws.subprotocol is None
    assert "Sec-WebSocket-Protocol" not in client.ws.response.headers
    await client.register(unique("wsn"))
    assert all(isinstance(m, str) for m in client.messages)
    unknown = await WsClient.connect(web[1], subprotocols=["chat.example"])
    assert unknown.ws.subprotocol is None
    await unknown.register(unique("wsu"))


@ws_test
async def test_origins(web: tuple[int, int]) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await WsClient.connect(web[1], origin="https://evil.example")
    assert refused.value.response.status_code == 403
    own = await WsClient.connect(web[1], origin=f"http://{HOST}:{web[1]}")
    await own.register(unique("wso"))
    listed = await WsClient.connect(web[1], origin="https://ok.example")
    await listed.register(unique("wsl"))


@ws_test
async def test_oversized_message_closes_1009(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1])
    await client.register(unique("wsbig"))
    await client.send("PRIVMSG x :" + "a" * 20000)
    await client.closed()
    assert client.ws.close_code == CloseCode.MESSAGE_TOO_BIG


@ws_test
async def test_long_line_within_frame_limit_gets_input_too_long(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1])
    await client.register(unique("wslong"))
    await client.send("@" + "a=b;" * 2100 + " PING :x")
    await client.expect("417")
    await client.send("PING :still")
    assert (await client.expect("PONG")).params[-1] == "still"


@ws_test
async def test_invalid_utf8_in_text_message_closes_1007(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1])
    await client.register(unique("wsutf"))
    await client.ws.send(b"PRIVMSG x :\xff\xfe", text=True)
    await client.closed()
    assert client.ws.close_code == CloseCode.INVALID_DATA


@ws_test
async def test_one_line_per_message(web: tuple[int, int]) -> None:
    client = await WsClient.connect(web[1])
    await client.register(unique("wsline"))
    await client.send("PING :a\r\nPING :b")  # two lines in one message: dropped
    await client.send("PING :c\r\n")  # a trailing CR LF is tolerated
    pong = await client.expect("PONG")
    assert pong.params[-1] == "c"


@ws_test
async def test_talk_with_a_tcp_client_and_abrupt_close(web: tuple[int, int]) -> None:
    irc_port, web_port = web
    channel = "#" + unique("webchat")
    tcp = await connect_registered(irc_port, unique("tcp"))
    ws = await WsClient.connect(web_port)
    ws_nick = unique("wsu")
    await ws.register(ws_nick)
    await tcp.send(f"JOIN {channel}")
    await tcp.expect("366")
    await ws.send(f"JOIN {channel}")
    await ws.expect("366")
    join = await tcp.expect("JOIN")
    assert join.source is not None and join.source.startswith(ws_nick + "!")
    await ws.send(f"PRIVMSG {channel} :hello from the browser <b>")
    got = await tcp.expect("PRIVMSG")
    assert got.params == [channel, "hello from the browser <b>"]
    await tcp.send(f"PRIVMSG {channel} :h\u00e9llo back", f"PRIVMSG {ws_nick} :private")
    back = await ws.expect("PRIVMSG")
    assert back.params == [channel, "h\u00e9llo back"]
    private = await ws.expect("PRIVMSG")
    assert private.params == [ws_nick, "private"]
    ws.ws.transport.abort()  # no close frame, no QUIT
    quit_ = await tcp.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith(ws_nick + "!")


@ws_test
async def test_close_frame_from_client_ends_session(web: tuple[int, int]) -> None:
    irc_port, web_port = web
    channel = "#" + unique("webclose")
    tcp = await connect_registered(irc_port, unique("tcp"))
    ws = await WsClient.connect(web_port)
    await ws.register(unique("wsc"))
    await ws.send(f"JOIN {channel}")
    await ws.expect("366")
    await tcp.send(f"JOIN {channel}")
    await tcp.expect("366")
    await ws.ws.close()
    assert ws.ws.close_code == CloseCode.NORMAL_CLOSURE
    await tcp.expect("QUIT")


@ws_test
async def test_quit_sends_error_then_close_1000(web: tuple[int, int]) -> None:
    ws = await WsClient.connect(web[1])
    await ws.register(unique("wsq"))
    await ws.send("QUIT :bye")
    lines = await ws.closed()
    assert lines and lines[-1].command == "ERROR"
    assert ws.ws.close_code == CloseCode.NORMAL_CLOSURE


@ws_test
async def test_forwarded_address_from_trusted_proxy(web: tuple[int, int]) -> None:
    nick = unique("wsfwd")
    ws = await WsClient.connect(web[1], headers={"X-Forwarded-For": "203.0.113.7, 127.0.0.1"})
    await ws.register(nick)
    await ws.send(f"WHO {nick}")
    who = await ws.expect("352")
    assert who.params[3] == "203.0.113.7"
    forwarded = await WsClient.connect(web[1], headers={"Forwarded": 'for="[2001:db8::5]:99"'})
    await forwarded.register(unique("wsfw6"))
    await forwarded.send(f"WHO {forwarded.nick}")
    assert (await forwarded.expect("352")).params[3] == "2001:db8::5"


@ws_test
async def test_ping_keepalive_answered(web: tuple[int, int]) -> None:
    ws = await WsClient.connect(web[1])
    await ws.register(unique("wsping"))
    latency = await asyncio.wait_for(await ws.ws.ping(), 5)
    assert latency >= 0


def test_page_served_with_csp(web: tuple[int, int]) -> None:
    with urllib.request.urlopen(f"http://{HOST}:{web[1]}/?nick=x", timeout=5) as response:
        body = response.read()
        csp = response.headers["Content-Security-Policy"]
        assert response.headers["Content-Type"].startswith("text/html")
    assert b"<script" in body and b'type="module"' in body
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://{HOST}:{web[1]}/../../etc/passwd", timeout=5)
    assert missing.value.code == 404


def test_limits_per_ip_apply_to_websocket(tmp_path: Path) -> None:
    factory = ServerFactory(tmp_path)
    try:
        port = start_web_server(factory, {"limits": {"max_per_ip": 2}, "web": {"client": False}})

        @ws_test
        async def run() -> None:
            first = await WsClient.connect(port)
            second = await WsClient.connect(port)
            await first.register(unique("lim"))
            await second.register(unique("lim"))
            third = await WsClient.connect(port)
            lines = await third.closed()
            assert lines and lines[-1].command == "ERROR"
            assert "Too many connections" in lines[-1].params[-1]
            with pytest.raises(urllib.error.HTTPError) as no_page:
                urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=5)
            assert no_page.value.code == 426
            await first.ws.close()
            await asyncio.sleep(0.2)
            fourth = await WsClient.connect(port)
            await fourth.register(unique("lim"))
            # Connections that never send their HTTP request: two may wait, a third
            # from the same address is dropped at once.
            idle = [await asyncio.open_connection(HOST, port) for _ in range(2)]
            reader, _ = await asyncio.open_connection(HOST, port)
            assert await asyncio.wait_for(reader.read(), 2) == b""
            for _, writer in idle:
                writer.close()

        run()
    finally:
        assert not factory.close()


def test_garbage_and_early_hangups_do_not_hurt(web: tuple[int, int]) -> None:
    import socket

    payloads = (
        b"",
        b"GET / HTTP/1.1\r\n",
        b"\x16\x03\x01garbage\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    for payload in payloads:
        with socket.create_connection((HOST, web[1]), timeout=5) as sock:
            sock.sendall(payload)

    @ws_test
    async def still_serving() -> None:
        client = await WsClient.connect(web[1])
        await client.register(unique("wsafter"))

    still_serving()


def test_websocket_over_tls(tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
    import ssl

    from websockets.asyncio.client import connect

    port = free_port()
    factory = ServerFactory(tmp_path)
    try:
        factory({"listen": {"web_tls": [f"{HOST}:{port}"]}}, tls=tls_cert)
        wait_for_port(port)

        @ws_test
        async def run() -> None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            ws = await connect(
                f"wss://{HOST}:{port}/", ssl=context, subprotocols=["text.ircv3.net"]
            )
            client = WsClient(ws)
            nick = unique("wss")
            await client.register(nick)
            await client.send(f"WHOIS {nick}")
            await client.expect("671")  # RPL_WHOISSECURE: TLS counts as TLS
            with urllib.request.urlopen(
                f"https://{HOST}:{port}/", timeout=5, context=context
            ) as response:
                assert "wss://" in response.headers["Content-Security-Policy"]

        run()
    finally:
        assert not factory.close()


def test_keepalive_pings_close_a_silent_client(tmp_path: Path) -> None:
    import socket

    factory = ServerFactory(tmp_path)
    try:
        port = start_web_server(factory, {"web": {"ping_interval": 0.3}})

        @ws_test
        async def answering() -> None:
            # The websockets client answers pings by itself: it stays connected.
            client = await WsClient.connect(port)
            await client.register(unique("alive"))
            await asyncio.sleep(1.2)
            await client.send("PING :still")
            assert (await client.expect("PONG")).params[-1] == "still"

        answering()
        # A client that completes the handshake and then never reads nor answers.
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            received = b""
            started = time.monotonic()
            while chunk := sock.recv(65536):
                received += chunk
            waited = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 101")
        assert b"\x89" in received  # a ping frame (opcode 9) was sent
        assert b"keepalive ping timeout" in received  # then a close frame saying why
        assert waited < 5
    finally:
        assert not factory.close()


@ws_test
async def test_dlines_and_klines_apply_to_websocket_clients(web: tuple[int, int]) -> None:
    from tests.conftest import OPER_NAME, OPER_PASSWORD

    irc_port, web_port = web
    admin = await connect_registered(irc_port, unique("admin"))
    await admin.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await admin.expect("381", timeout=10)
    await admin.send("DLINE 0 203.0.113.66 :no web from there")
    await admin.sync()
    # The address a trusted proxy forwards is the one D-lines see.
    banned = await WsClient.connect(web_port, headers={"X-Forwarded-For": "203.0.113.66"})
    lines = await banned.closed()
    assert lines and "no web from there" in lines[-1].params[-1]
    # A K-line on a WebSocket user's host drops the live session.
    nick = unique("wsk")
    victim = await WsClient.connect(web_port, headers={"X-Forwarded-For": "203.0.113.67"})
    await victim.register(nick)
    await admin.send("KLINE 0 *@203.0.113.67 :not this one either")
    lines = await victim.closed()
    assert "not this one either" in lines[-1].params[-1]
    await admin.send("UNDLINE 203.0.113.66", "UNKLINE *@203.0.113.67")
    await admin.sync()


def test_malformed_frames_close_cleanly(web: tuple[int, int]) -> None:
    """Protocol errors end that connection with a close frame; the server logs no
    traceback (the fixture checks) and keeps serving."""
    import os
    import random
    import socket

    handshake = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    mask = b"\x00\x00\x00\x00"
    bad = [
        b"\xf1\x80" + mask,  # RSV bits set
        b"\x83\x80" + mask,  # reserved opcode
        b"\x81\x05hello",  # a client frame without a mask
        b"\x09\x80" + mask,  # a fragmented ping
        b"\x80\x80" + mask,  # a continuation with nothing to continue
        b"\x89\xfe\x00\xc8" + mask + bytes(200),  # a ping longer than 125 bytes
        b"\x88\x82" + mask + b"\x03\xe7",  # a close with a reserved code (999)
        b"\x01\x82" + mask + b"PI" + b"\x81\x82" + mask + b"NG",  # a new message mid-message
        b"\x81\xff" + b"\x7f" * 8 + mask,  # a 2**63-byte length
    ]
    rng = random.Random(14)
    bad += [os.urandom(rng.randint(1, 64)) for _ in range(20)]
    for payload in bad:
        with socket.create_connection((HOST, web[1]), timeout=5) as sock:
            sock.sendall(handshake + payload)
            sock.shutdown(socket.SHUT_WR)  # an incomplete frame ends at the end of input
            received = b""
            try:
                while chunk := sock.recv(65536):
                    received += chunk
            except ConnectionResetError:
                pass
            assert received.startswith(b"HTTP/1.1 101"), payload

    @ws_test
    async def still_serving() -> None:
        client = await WsClient.connect(web[1])
        await client.register(unique("wsfine"))

    still_serving()
