"""Operator actions in a real network (s0 - s1 - s2): a K-line set on s0 disconnects and
refuses a user of s2, survives a restart of s2 (which gets it back from the network), and
a KILL on s0 of a user of s2 is carried out by s2, with the QUIT seen on s1."""

from __future__ import annotations

import asyncio
import time

from conftest import ServerFactory

from .linking_support import LinkedNetwork
from .support import RawClient, aio


async def user(port: int, nick: str, ident: str = "tester") -> RawClient:
    client = await RawClient.connect(port)
    await client.register(nick, user=ident)
    return client


async def refused(port: int, nick: str, ident: str) -> list[str]:
    """Register and expect to be turned away; the commands received."""
    client = await RawClient.connect(port)
    await client.send(f"NICK {nick}", f"USER {ident} 0 * :Refused")
    lines = await client.until_closed(timeout=10.0)
    return [line.command for line in lines]


async def stats_k(oper: RawClient) -> list[str]:
    await oper.send("STATS K")
    lines = await oper.collect("219", timeout=10.0)
    return [" ".join(line.params[2:]) for line in lines if line.command == "216"]


async def until(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("the network did not get there in time")
        await asyncio.sleep(0.3)


def test_kline_and_kill_across_the_network(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 3, [(0, 1), (1, 2)])
    net.start()
    s0, s1, s2 = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        opers = await net.operators()
        admin, watcher = opers[s0], opers[s2]
        await watcher.send(f"MODE {watcher.nick} +s +kx")
        await watcher.expect("008", timeout=10.0)
        victim = await user(net.port(s2), "victim", "baduser")
        await asyncio.sleep(1.0)  # the roster tells s0 about the victim

        # A K-line set on s0 disconnects the victim on s2 at once ...
        await admin.send("KLINE 1h *baduser@127.0.0.1 :network-wide")
        await admin.expect("NOTICE", where=lambda m: "Added" in m.params[-1], timeout=10.0)
        gone = [line.command for line in await victim.until_closed(timeout=10.0)]
        assert "465" in gone and "ERROR" in gone
        notice = await watcher.expect(
            "NOTICE", where=lambda m: f"on {s0} added" in m.params[-1], timeout=10.0
        )
        assert "*baduser@127.0.0.1" in notice.params[-1]
        # ... s2 refuses it from now on, and every server lists it.
        assert "465" in await refused(net.port(s2), "again", "baduser")
        for name in (s1, s2):
            shown = await stats_k(opers[name])
            assert any(row.startswith("127.0.0.1 * *baduser network-wide") for row in shown), shown

        # s2 restarts with an empty store: it gets the K-line back from the network.
        net.kill(s2)
        net.start(s2)
        await net.wait_converged()
        opers = await net.operators()

        async def back() -> bool:
            return any("*baduser" in row for row in await stats_k(opers[s2]))

        await until(back)
        assert "465" in await refused(net.port(s2), "again2", "baduser")

        # KILL on s0 of a user of s2: s2 disconnects it; s1 sees the QUIT.
        watcher = opers[s2]
        await watcher.send(f"MODE {watcher.nick} +s +k")
        await watcher.expect("008", timeout=10.0)
        carol = await user(net.port(s2), "carol")
        bob = await user(net.port(s1), "bob")
        for client in (carol, bob):
            await client.send("JOIN #opers-test")
            await client.expect("366", timeout=10.0)
        await carol.expect("JOIN", where=lambda m: m.source.startswith("bob!"), timeout=10.0)
        await admin.send("KILL carol :enough")
        lines = await carol.until_closed(timeout=10.0)
        kill = next(line for line in lines if line.command == "KILL")
        assert kill.params == ["carol", "enough"] and kill.source.startswith(admin.nick + "!")
        error = next(line for line in lines if line.command == "ERROR")
        assert f"Killed ({admin.nick} (enough))" in error.params[0]
        quit_ = await bob.expect("QUIT", timeout=10.0)
        assert quit_.source.startswith("carol!")
        assert quit_.params == [f"Killed ({admin.nick} (enough))"]
        notice = await watcher.expect(
            "NOTICE", where=lambda m: "Received KILL message for carol!" in m.params[-1]
        )
        assert f"Path: {s0}!{admin.nick}" in notice.params[-1]

        # UNKLINE on s1 lets the user back in on s2.
        await opers[s1].send("UNKLINE *baduser@127.0.0.1")
        await opers[s1].expect("NOTICE", where=lambda m: "Removed" in m.params[-1])

        async def lifted() -> bool:
            return not await stats_k(opers[s2])

        await until(lifted)
        (await user(net.port(s2), "welcome", "baduser")).drop()
        bob.drop()

    run()
