"""A hostile PSYC server outside the network, against a real ircpsyc process (issue 15):
it calls our PSYC port in psyced's syntax and replays the forgeries of the issue."""

from __future__ import annotations

import asyncio
import contextlib

from conftest import ServerFactory, ServerProcess

from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.wire import Parser, render
from ircpsyc.psyc_backend.wire09 import Parser09, render09

from .support import RawClient, aio
from .test_psyced import loopback_with_4404

WAIT = 10.0


def start(factory: ServerFactory) -> tuple[ServerProcess, str]:
    name = loopback_with_4404()
    server = factory({"server": {"name": name}, "listen": {"psyc": f"{name}:4404"}})
    return server, name


async def call(name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Dial our PSYC port from 127.0.0.1, as psyced on 127.0.0.1:5555 would."""
    reader, writer = await asyncio.open_connection(name, 4404, local_addr=("127.0.0.1", 0))
    hello = Packet("_notice_circuit_established", {"_source": "psyc://127.0.0.1:5555/"})
    writer.write(b".\n" + render09(hello))
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b".\n"  # it answers in 0.9
    return reader, writer


@aio
async def test_forgeries_from_a_foreign_peer_are_refused(factory: ServerFactory) -> None:
    server, name = start(factory)
    alice = await RawClient.connect(server.port)
    await alice.register("alice")
    await alice.send("JOIN #fchan", "TOPIC #fchan :real topic")
    await alice.expect("TOPIC", timeout=WAIT)
    reader, writer = await call(name)
    ours = f"psyc://{name}"
    forged = [
        Packet(
            "_notice_place_topic",
            {"_context": f"{ours}/@fchan", "_source_relay": f"{ours}/~dave"},
            {"_topic": "FORGED TOPIC", "_nick": "dave"},
        ),
        Packet(
            "_message_public",
            {"_source": f"{ours}/~dave", "_target": f"{ours}/@fchan"},
            {"_nick": "dave"},
            "FORGED public",
        ),
        Packet(
            "_message_private",
            {"_source": f"{ours}/~dave", "_target": f"{ours}/~alice"},
            {"_nick": "dave"},
            "FORGED private",
        ),
        Packet(
            "_message_private",
            {"_source": "psyc://127.0.0.9/~x", "_target": f"{ours}/~alice"},
            {},
            "FORGED host",
        ),
    ]
    honest = Packet(
        "_message_private",
        {"_source": "psyc://127.0.0.1:5555/~mallory", "_target": f"{ours}/~alice"},
        {"_nick": "mallory"},
        "honest",
    )
    writer.write(b"".join(render09(p) for p in [*forged, honest]))
    await writer.drain()
    line = await alice.expect("PRIVMSG", timeout=WAIT)
    assert line.params == ["alice", "honest"]
    assert (line.source or "").startswith("psyc://127.0.0.1:5555/~mallory!")
    await alice.send("TOPIC #fchan")
    assert (await alice.expect("332", timeout=WAIT)).params[-1] == "real topic"
    texts = " ".join(m.format() for m in alice.history)
    assert "FORGED" not in texts
    assert "refused _message_private" in server.log()
    # The peer hears it too, as psyced says it (circuit-level, never routed).
    said = b""
    while said.count(b"_error_invalid_host") < len(forged):
        said += await asyncio.wait_for(reader.read(1 << 16), WAIT)
    refusals = [p for p in Parser09().feed(said) if p.method == "_error_invalid_host"]
    assert {p.get("_method_relay") for p in refusals} == {"_notice_place_topic",
        "_message_public", "_message_private"}  # fmt: skip
    assert all("_target" not in p.routing for p in refusals)
    writer.close()


async def closed(reader: asyncio.StreamReader) -> bool:
    try:
        while await asyncio.wait_for(reader.read(1 << 16), WAIT):
            pass
    except ConnectionResetError:
        pass
    return True


@aio
async def test_oversized_packets_and_garbage_close_the_circuit(factory: ServerFactory) -> None:
    server, name = start(factory)
    reader, writer = await call(name)
    writer.write(b"\n:_junk\t" + b"x" * (200 << 10))  # never buffered: dropped
    with contextlib.suppress(ConnectionError):  # reset or broken pipe: closed early
        await writer.drain()
    assert await closed(reader)
    reader, writer = await asyncio.open_connection(name, 4404)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")  # not PSYC at all
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    assert await closed(reader)
    alice = await RawClient.connect(server.port)
    await alice.register("alice")  # and the server is fine
    assert "cannot parse its packets: packet larger than" in server.log()


@aio
async def test_a_foreign_server_speaking_psyc_10_calls_us(factory: ServerFactory) -> None:
    """A PSYC 1.0 server without our link handshake is a foreign circuit: its own
    host's persons reach ours; it cannot speak for ours, nor become a link."""
    server, name = start(factory)
    alice = await RawClient.connect(server.port)
    await alice.register("alice")
    ours = f"psyc://{name}"
    reader, writer = await asyncio.open_connection(name, 4404, local_addr=("127.0.0.1", 0))
    hello = Packet("_notice_circuit_established", {"_source": "psyc://127.0.0.1:5555/"})
    forged = Packet(
        "_message_private",
        {"_source": f"{ours}/~dave", "_target": f"{ours}/~alice"},
        {"_nick": "dave"},
        "FORGED private",
    )
    honest = Packet(
        "_message_private",
        {"_source": "psyc://127.0.0.1:5555/~mallory", "_target": f"{ours}/~alice"},
        {"_nick": "mallory"},
        "honest over 1.0",
    )
    writer.write(b"|\n" + render(hello) + render(forged) + render(honest))
    await writer.drain()
    line = await alice.expect("PRIVMSG", timeout=WAIT)
    assert line.params == ["alice", "honest over 1.0"]
    assert (line.source or "").startswith("psyc://127.0.0.1:5555/~mallory!")
    # It answered in 1.0 with its greeting, once.
    data = b""
    while b"_error_invalid_host" not in data:  # its greeting, then the forgery refused
        data += await asyncio.wait_for(reader.read(1 << 16), WAIT)
    assert data.startswith(b"|\n") and not data.startswith(b"|\n|\n")
    answer = [p for p in Parser().feed(data) if p.method]
    assert [p.method for p in answer] == ["_notice_circuit_established", "_error_invalid_host"]
    assert answer[0].routing["_source"] == f"{ours}/"
    assert "FORGED" not in " ".join(m.format() for m in alice.history)
    assert "refused _message_private" in server.log()
    assert "foreign circuit with 127.0.0.1:5555 open (accepted, PSYC 1.0)" in server.log()
    writer.close()
    # Claiming to be us (a server of the network) without the handshake: closed.
    reader, writer = await asyncio.open_connection(name, 4404, local_addr=("127.0.0.1", 0))
    hello = Packet("_notice_circuit_established", {"_source": f"{ours}/"})
    writer.write(b"|\n" + render(hello))
    await writer.drain()
    said = await asyncio.wait_for(reader.read(), WAIT)  # to the end: it closes
    assert "_error_illegal_source" in [p.method for p in Parser().feed(said)]
    assert f"greets as {name}, a server of our network" in server.log()
