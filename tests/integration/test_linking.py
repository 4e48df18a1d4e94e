"""Real servers linked into one network (line, star, tree): one channel with members on
every server; every member sees every message once and in the same order, and each
message crosses each link at most once (per-link counters from STATS L)."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path

import pytest
from conftest import ServerFactory

from .linking_support import LinkedNetwork, casts_per_link
from .support import RawClient, aio

TOPOLOGIES = {
    "line3": (3, [(0, 1), (1, 2)]),
    "star4": (4, [(0, 1), (0, 2), (0, 3)]),
    "tree5": (5, [(0, 1), (0, 2), (1, 3), (1, 4)]),
}


async def member(port: int, nick: str, channel: str) -> RawClient:
    client = await RawClient.connect(port)
    await client.register(nick, caps=["echo-message"])
    await client.send(f"JOIN {channel}")
    await client.expect("366", timeout=10.0)
    return client


async def joined(client: RawClient, nicks: list[str]) -> None:
    """Wait until `client` has seen the JOIN of every one of `nicks`."""
    seen = {line.source.split("!")[0] for line in client.history if line.command == "JOIN"}
    while not set(nicks) <= seen:
        line = await client.expect("JOIN", timeout=10.0)
        seen.add(line.source.split("!")[0])


async def received(client: RawClient, count: int, timeout: float = 15.0) -> list[str]:
    """The next `count` channel messages (PRIVMSG text), in arrival order."""
    out: list[str] = []
    while len(out) < count:
        line = await client.expect("PRIVMSG", timeout=timeout)
        out.append(line.params[-1])
    return out


@pytest.mark.parametrize("kind", sorted(TOPOLOGIES))
def test_channel_across_the_network(factory: ServerFactory, kind: str) -> None:
    count, edges = TOPOLOGIES[kind]
    net = LinkedNetwork(factory, count, edges)
    net.start()

    @aio
    async def run() -> None:
        await net.wait_converged()
        channel = f"#net{kind}"
        members = []
        for index, name in enumerate(net.names):
            for n in range(2):
                members.append(await member(net.port(name), f"m{index}n{n}", channel))
        # Everybody sees everybody join, and in NAMES, wherever the home is.
        for index, client in enumerate(members):
            await joined(client, [m.nick for m in members[index:]])
        await members[0].send(f"NAMES {channel}")
        names = (await members[0].expect("353")).params[-1].split()
        assert sorted(n.lstrip("@") for n in names) == sorted(m.nick for m in members)
        before = casts_per_link(await net.all_stats())
        sent = []
        for round_ in range(3):
            for client in members:
                text = f"{client.nick} round {round_}"
                sent.append(text)
                await client.send(f"PRIVMSG {channel} :{text}")
        seen = [await received(client, len(sent)) for client in members]
        # Exactly once, and the same order for everybody (echo-message shows one's own).
        for got in seen:
            assert sorted(got) == sorted(sent)
            assert got == seen[0]
        after = casts_per_link(await net.all_stats())
        used = {link: after[link] - before[link] for link in after}
        assert all(n <= len(sent) for n in used.values()), used
        assert {link for link, n in used.items() if n}, "no link carried anything"
        # A tree: every link carried every message exactly once, in one direction.
        for a, b in net.edges:
            assert used[(a, b)] + used[(b, a)] == len(sent), (a, b, used)
        for client in members:
            client.drop()

    run()


@pytest.mark.parametrize("right", [True, False])
def test_tls_link_checks_the_certificate_fingerprint(
    factory: ServerFactory, tls_cert: tuple[Path, Path], right: bool
) -> None:
    cert, key = tls_cert
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.tls = (cert, key, fingerprint if right else "00" * 32)
    net.start()

    @aio
    async def run() -> None:
        if right:
            stats = await net.wait_converged()
            link = stats[net.names[0]]["links"][net.names[1]]
            assert link["state"] == "up" and link["tls"] is True
            return
        await asyncio.sleep(2.0)
        stats = await net.all_stats()
        link = stats[net.names[0]]["links"][net.names[1]]
        assert link["state"] != "up"
        assert "fingerprint" in link["last_error"]
        assert stats[net.names[0]]["reachable"] == [net.names[0]]

    run()


def test_rehash_links_two_servers_without_a_restart(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [])
    net.start()
    a, b = net.names

    @aio
    async def run() -> None:
        opers = await net.operators()
        assert (await net.stats(opers[a]))["reachable"] == [a]
        net.edges = [(a, b)]
        for name in (a, b):
            net.servers[name].write_config({"links": net.extra(name)["links"]})
            await opers[name].send("REHASH")
            await opers[name].expect("382")
        await net.wait_converged()
        net.edges = []
        net.servers[a].write_config({"links": []})
        await opers[a].send("REHASH")
        await opers[a].expect("382")
        stats = await net.stats(opers[a])
        assert b not in stats["links"] and stats["reachable"] == [a]

    run()


def test_mode_topic_and_names_of_a_channel_homed_elsewhere(factory: ServerFactory) -> None:
    """A server with no member of a channel homed on another one answers MODE as it
    answers TOPIC and NAMES (issue #18, 8: MODE said 403)."""
    from ircpsyc.psyc_backend.network import rendezvous

    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    s0, s1 = net.names
    channel = next(f"#away{i}" for i in range(1000) if rendezvous(f"#away{i}", net.names) == s0)

    @aio
    async def run() -> None:
        await net.wait_converged()
        alice = await member(net.port(s0), "alice", channel)
        await alice.send(f"TOPIC {channel} :over there", f"MODE {channel} +m")
        await alice.expect("MODE")
        asker = await RawClient.connect(net.port(s1))
        await asker.register("asker")
        for _ in range(50):  # the directory follows within a tick
            await asker.send(f"MODE {channel}")
            reply = await asker.expect("324", "403", timeout=10.0)
            if reply.command == "324" and "m" in reply.params[2]:
                break
            await asyncio.sleep(0.2)
        assert reply.command == "324" and reply.params[1:] == [channel, "+mnt"], reply
        await asker.expect("329")
        await asker.send(f"TOPIC {channel}", f"NAMES {channel}")
        assert (await asker.expect("332")).params[-1] == "over there"
        assert "@alice" in (await asker.expect("353")).params[-1].split()

    run()
