"""Faults in a real network: links broken (SQUIT) and servers killed with SIGKILL while
members talk, then restarted.  The members who stayed connected must get every
message exactly once and in the same order, and all servers must agree on the
channel's members, topic and modes afterwards."""

from __future__ import annotations

import asyncio
import random
import time

from conftest import ServerFactory

from .linking_support import LinkedNetwork
from .support import RawClient, aio


async def member(port: int, nick: str, channel: str) -> RawClient:
    client = await RawClient.connect(port)
    await client.register(nick, caps=["echo-message"])
    await client.send(f"JOIN {channel}")
    await client.expect("366", timeout=10.0)
    return client


async def messages(client: RawClient, wanted: set[str], timeout: float = 30.0) -> list[str]:
    """Channel messages until all of `wanted` arrived (and a moment for duplicates)."""
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while not wanted <= set(out):
        line = await client.expect("PRIVMSG", timeout=max(0.1, deadline - time.monotonic()))
        out.append(line.params[-1])
    for line in await client.quiet(1.0):
        if line.command == "PRIVMSG":
            out.append(line.params[-1])
    return out


async def view(port: int, channel: str, nick: str) -> tuple[list[str], str, str]:
    """NAMES, TOPIC and MODE of `channel` as a server answers them."""
    client = await RawClient.connect(port)
    await client.register(nick)
    await client.send(f"NAMES {channel}", f"TOPIC {channel}", f"MODE {channel}")
    lines = await client.collect("329", timeout=10.0)
    client.drop()
    names: list[str] = []
    topic = mode = ""
    for line in lines:
        if line.command == "353":
            names.extend(line.params[-1].split())
        elif line.command == "332":
            topic = line.params[-1]
        elif line.command == "324":
            mode = " ".join(line.params[2:])
    return sorted(names), topic, mode


async def agree(
    net: LinkedNetwork, channel: str, expected_names: list[str], servers: list[str]
) -> None:
    """The servers (those with members of the channel: the others have no copy of it)
    answer the same NAMES, TOPIC and MODE, within a few seconds."""
    deadline = time.monotonic() + 20.0
    count = 0
    while True:
        count += 1
        views = [await view(net.port(n), channel, f"v{i}x{count}") for i, n in enumerate(servers)]
        stripped = sorted(name.lstrip("@+") for name in views[0][0])
        if all(v == views[0] for v in views) and stripped == sorted(expected_names):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"servers disagree about {channel}: {views}")
        await asyncio.sleep(0.3)


def test_broken_link_and_killed_relay_during_traffic(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 3, [(0, 1), (1, 2)], split_grace=8.0)  # s0 - s1 - s2
    net.start()
    s0, s1, s2 = net.names
    channel = net.homed(s0, "#faults")

    @aio
    async def run() -> None:
        await net.wait_converged()
        a0 = await member(net.port(s0), "a0", channel)
        await a0.send(f"TOPIC {channel} :before the storm", f"MODE {channel} +C")
        b0 = await member(net.port(s1), "b0", channel)
        c0 = await member(net.port(s2), "c0", channel)
        c1 = await member(net.port(s2), "c1", channel)
        a1 = await member(net.port(s0), "a1", channel)
        await a0.send(f"MODE {channel} +v c1")
        for client in (a0, a1, b0, c0, c1):
            await client.expect("MODE", where=lambda m: m.params[1] == "+v", timeout=10.0)
        stayers = [a0, a1, c0, c1]
        sent: list[str] = []

        async def talk(client: RawClient, count: int) -> None:
            for n in range(count):
                text = f"{client.nick} {n}"
                sent.append(text)
                await client.send(f"PRIVMSG {channel} :{text}")
                await asyncio.sleep(0.03)

        oper = await net.oper(s0)
        seed = random.randrange(1 << 30)
        chance = random.Random(seed)  # the moments of the faults; the seed is in failures
        traffic = asyncio.gather(talk(a0, 80), talk(c0, 80))
        await asyncio.sleep(chance.uniform(0.2, 1.0))
        await oper.send(f"SQUIT {s1} :testing")  # the link s0 - s1 breaks
        await asyncio.sleep(chance.uniform(0.3, 1.2))
        net.kill(s1)  # the relay between s0 and s2 dies with b0
        await asyncio.sleep(chance.uniform(0.0, 1.0))
        net.start(s1)  # and comes back on the same link port
        await traffic
        oper.drop()
        await net.wait_converged()
        seen = [await messages(client, set(sent)) for client in stayers]
        for got in seen:
            assert sorted(got) == sorted(sent), f"lost or duplicated messages (seed {seed})"
            assert got == seen[0], f"members saw different orders (seed {seed})"
        await agree(net, channel, ["a0", "a1", "c0", "c1"], [s0, s2])
        _, topic, mode = await view(net.port(s2), channel, "last")
        assert topic == "before the storm"
        assert mode == "+Cnt"
        quits = [line for line in c0.history if line.command == "QUIT"]
        assert [q.source.split("!")[0] for q in quits] == ["b0"]

    run()


def test_killed_home_is_restored_from_the_replicas(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 3, [(0, 1), (0, 2)], split_grace=8.0)  # s1 - s0 - s2
    net.start()
    s0, s1, s2 = net.names
    channel = net.homed(s2, "#home")

    @aio
    async def run() -> None:
        await net.wait_converged()
        b0 = await member(net.port(s1), "b0", channel)
        await b0.send(f"TOPIC {channel} :survives", f"MODE {channel} +k sesame")
        await b0.expect("MODE", timeout=10.0)
        a0 = await member(net.port(s0), "a0", channel + " sesame")
        z0 = await member(net.port(s2), "z0", channel + " sesame")
        await b0.send(f"MODE {channel} +v a0")
        for client in (a0, b0, z0):
            await client.expect("MODE", where=lambda m: m.params[1] == "+v", timeout=10.0)
        net.kill(s2)  # the home dies, z0 with it
        await asyncio.sleep(0.5)
        net.start(s2)
        await net.wait_converged()
        await agree(net, channel, ["a0", "b0"], [s0, s1, s2])
        names, topic, mode = await view(net.port(s2), channel, "check")
        assert topic == "survives"
        assert mode == "+ntk *"  # the key is kept (and shown to members only)
        assert sorted(names) == ["+a0", "@b0"]
        sent = ["after 1", "after 2"]
        for text in sent:
            await b0.send(f"PRIVMSG {channel} :{text}")
        assert await messages(a0, set(sent)) == sent
        assert await messages(b0, set(sent)) == sent
        # What a0 and b0 saw of it: z0 left with the home; nobody else came or went.
        quits = [q.source.split("!")[0] for q in a0.history if q.command == "QUIT"]
        events = [line.format() for line in a0.history if line.command in ("QUIT", "JOIN", "MODE")]
        assert quits == ["z0"], events
        assert not [line for line in a0.history if line.command in ("PART", "KICK")]

    run()
