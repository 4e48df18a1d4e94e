"""A hostile PSYC server outside the network, against a real ircpsyc process (issue 15):
it calls our PSYC port in psyced's syntax and replays the forgeries of the issue."""

from __future__ import annotations

import asyncio
import contextlib

from conftest import ServerFactory, ServerProcess

from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.wire09 import render09

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
    _, writer = await call(name)
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
