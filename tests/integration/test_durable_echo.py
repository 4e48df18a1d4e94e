"""An echo is an acknowledgement: kill -9 never loses a channel line whose echo went out.

A client with echo-message streams channel lines into a real server process;
the server is killed with SIGKILL at some point of the stream, restarted on the
same data directory, and CHATHISTORY must hold every line whose echo arrived
(ircpsyc.ircd.durable: the sender's echo waits for its history batch's commit).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from typing import Any

from conftest import ServerFactory, ServerStarter
from irctokens import tokenise

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered, unique

CAPS = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]
ROUNDS = 3
BURST = 20  # lines written at once
PAUSE = 0.004  # seconds between bursts (about 5000 lines a second)
LIMIT = 5000  # lines at most in one round (and CHATHISTORY's limit)


async def stream_until_killed(
    port: int, channel: str, kill_after: float, kill: object
) -> tuple[list[str], int]:
    """Stream lines into `channel`; kill the server after `kill_after` seconds.
    The msgids of the echoes received in full, and how many lines were sent."""
    alice = await connect_registered(port, unique("a"), caps=CAPS)
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    echoed: list[str] = []
    sent = 0

    async def writer() -> None:
        nonlocal sent
        try:
            while sent < LIMIT:
                lines = [f"PRIVMSG {channel} :line {sent + i}" for i in range(BURST)]
                alice.writer.write("".join(t + "\r\n" for t in lines).encode())
                sent += BURST
                await alice.writer.drain()
                await asyncio.sleep(PAUSE)
        except (ConnectionError, OSError):
            pass

    async def reader() -> None:
        while True:
            try:
                data = await alice.reader.readline()
            except (ConnectionError, OSError):
                return
            if not data.endswith(b"\n"):
                return  # the end (a line cut short by the kill is not an echo)
            line = tokenise(data.decode("utf-8", "replace").rstrip("\r\n"))
            if line.command == "PRIVMSG" and line.tags and "msgid" in line.tags:
                echoed.append(line.tags["msgid"])

    reading = asyncio.create_task(reader())
    writing = asyncio.create_task(writer())
    await asyncio.sleep(kill_after)
    assert callable(kill)
    kill()
    await asyncio.wait_for(reading, 10)
    writing.cancel()
    await asyncio.gather(writing, return_exceptions=True)
    alice.drop(reset=True)
    return echoed, sent


@aio
async def test_kill_9_loses_no_acknowledged_line(ircpsyc_server: ServerStarter) -> None:
    started = time.monotonic()
    extra = {
        "limits": {"flood_rate": 0.0},
        "history": {"chathistory_limit": LIMIT, "max_per_channel": 100_000},
    }
    server = ircpsyc_server(extra)
    extra["storage"] = {"path": server.config["storage"]["path"]}
    rng = random.Random(11)
    totals = []
    for round_ in range(ROUNDS):
        channel = "#" + unique(f"k{round_}")
        victim = server

        def kill(victim: object = victim) -> None:
            os.kill(victim.pid, signal.SIGKILL)  # type: ignore[attr-defined]

        echoed, sent = await stream_until_killed(
            server.port, channel, 0.4 + rng.random() * 0.4, kill
        )
        assert server.wait(5) == -signal.SIGKILL
        assert echoed, f"round {round_}: no echo before the kill"
        assert len(echoed) < sent, f"round {round_}: killed after the stream ended"

        server = ircpsyc_server(extra)
        bob = await connect_registered(server.port, unique("b"), caps=CAPS)
        await bob.send(f"JOIN {channel}")
        await bob.expect("366")
        await bob.send(f"CHATHISTORY LATEST {channel} * {LIMIT}")
        start = await bob.expect("BATCH", where=lambda m: m.params[0].startswith("+"))
        lines = await bob.collect("BATCH", timeout=20)
        ref = start.params[0][1:]
        kept = {ln.tags["msgid"] for ln in lines if ln.tags and ln.tags.get("batch") == ref}
        lost = [m for m in echoed if m not in kept]
        assert not lost, f"round {round_}: {len(lost)} of {len(echoed)} acknowledged lines lost"
        totals.append((len(echoed), sent, len(kept)))
        bob.drop()
    assert time.monotonic() - started < 20, totals


@aio
async def test_held_echo_keeps_label_order_and_quit(ircpsyc_server: ServerStarter) -> None:
    """A held echo is still the labeled response, what follows it waits behind it, and
    a QUIT right after the lines closes only once they went out."""
    server = ircpsyc_server({"limits": {"flood_rate": 0.0}})
    channel = "#" + unique("held")
    alice = await connect_registered(server.port, unique("a"), caps=[*CAPS, "labeled-response"])
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    await alice.send(f"@label=e1 PRIVMSG {channel} :labeled", "PING :after")
    echo = await alice.expect("PRIVMSG", "ACK", "PONG")
    assert echo.command == "PRIVMSG" and echo.tags and echo.tags.get("label") == "e1", echo
    assert (await alice.expect("PONG")).params[-1] == "after"
    await alice.send(*(f"PRIVMSG {channel} :bye {i}" for i in range(50)), "QUIT :done")
    closing = await alice.until_closed()
    texts = [ln.params[-1] for ln in closing if ln.command == "PRIVMSG"]
    assert texts == [f"bye {i}" for i in range(50)]
    assert closing[-1].command == "ERROR"


@aio
async def test_kill_9_of_a_channel_s_home_loses_no_line_echoed_on_another_server(
    factory: ServerFactory,
) -> None:
    """bob on s1 streams lines into a channel homed on s0; s0 is killed with SIGKILL
    and restarted on its data: every line whose echo bob got (s1 sends it once s0
    said the line is committed) is in s0's history."""
    net = KeptData(factory)
    net.start()
    await net.wait_converged()
    home, other = net.names
    channel = next(f"#dur{i}" for i in range(1000) if rendezvous(f"#dur{i}", net.names) == home)
    bob = await RawClient.connect(net.port(other))
    await bob.register("bob", caps=CAPS)
    await bob.send(f"JOIN {channel}")
    await bob.expect("366", timeout=10.0)
    echoed: list[str] = []
    sent = 0

    async def writer() -> None:
        nonlocal sent
        while sent < LIMIT:
            lines = [f"PRIVMSG {channel} :line {sent + i}" for i in range(BURST)]
            bob.writer.write("".join(t + "\r\n" for t in lines).encode())
            sent += BURST
            await bob.writer.drain()
            await asyncio.sleep(PAUSE * 4)

    async def reader() -> None:
        while True:
            data = await bob.reader.readline()
            if not data.endswith(b"\n"):
                return
            line = tokenise(data.decode("utf-8", "replace").rstrip("\r\n"))
            if line.command == "PRIVMSG" and line.tags and "msgid" in line.tags:
                echoed.append(line.tags["msgid"])

    reading = asyncio.create_task(reader())
    writing = asyncio.create_task(writer())
    await asyncio.sleep(1.0)
    net.kill(home)
    writing.cancel()
    await asyncio.gather(writing, return_exceptions=True)
    await asyncio.sleep(2.0)  # echoes still on their way arrive (or are dropped)
    assert echoed, "no echo before the kill"
    net.start(home)
    await net.wait_converged(timeout=30.0)
    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    carol = await RawClient.connect(net.port(home))
    await carol.register("carol", caps=CAPS)
    await carol.send(f"JOIN {channel}")
    await carol.expect("366", timeout=10.0)
    await carol.send(f"CHATHISTORY LATEST {channel} * {LIMIT}")
    start = await carol.expect("BATCH", where=lambda m: m.params[0].startswith("+"))
    lines = await carol.collect("BATCH", timeout=20)
    ref = start.params[0][1:]
    kept = {ln.tags["msgid"] for ln in lines if ln.tags and ln.tags.get("batch") == ref}
    lost = [m for m in echoed if m not in kept]
    assert not lost, f"{len(lost)} of {len(echoed)} acknowledged lines lost ({sent} sent)"


class KeptData(LinkedNetwork):
    """Two linked servers whose data directories survive a restart."""

    def __init__(self, factory: ServerFactory) -> None:
        super().__init__(factory, 2, [(0, 1)])

    def extra(self, name: str) -> dict[str, Any]:
        extra = super().extra(name)
        path = self.factory.directory / f"{name}-data" / "ircpsyc.sqlite3"
        extra["storage"] = {"path": str(path)}
        extra["limits"] = {"flood_rate": 0.0}
        extra["history"] = {"chathistory_limit": LIMIT, "max_per_channel": 100_000}
        return extra


@aio
async def test_echo_is_prompt_on_a_server_whose_name_has_capitals(
    ircpsyc_server: ServerStarter,
) -> None:
    """Host names are case-insensitive: a channel of `My.Little.Server` is homed here,
    and its echo waits for the local commit only (not for a home's confirmation)."""
    server = ircpsyc_server({"server": {"name": "My.Little.Server"}})
    client = await connect_registered(server.port, unique("cap"), caps=["echo-message"])
    channel = "#" + unique("caps")
    await client.send(f"JOIN {channel}")
    await client.expect("366")
    started = time.monotonic()
    await client.send(f"PRIVMSG {channel} :hello")
    await client.expect("PRIVMSG", timeout=5)
    assert time.monotonic() - started < 1.0
    assert "did not confirm a commit" not in server.log()
