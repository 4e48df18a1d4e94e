"""Host names of clients (ircpsyc.ircd.hostnames): registration waits for the lookup,
at most `[limits] resolve_timeout`; the name must be confirmed by a forward lookup; it is
the real host that K-lines and oper blocks match, while others see the cloak."""

from __future__ import annotations

import asyncio
import dataclasses

import argon2
from helpers import FakeClient, World, cmds, make_config, only
from netsim import Sim

from ircpsyc.config import OperEntry
from ircpsyc.ircd.hostnames import (
    FOUND,
    LOOKING_UP,
    NOT_FOUND,
    Done,
    SystemResolver,
    confirmed_name,
    valid_hostname,
)

ADDRESS = "192.0.2.7"
PASSWORD = "hostnames-test-password"
HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


class SlowResolver:
    """Answers only when the test says so (or never)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float, Done]] = []

    def resolve(self, ip: str, timeout: float, done: Done) -> None:
        self.asked.append((ip, timeout, done))


def world_with(resolver: SlowResolver | None, **limits: object) -> World:
    world = World(**limits)  # type: ignore[arg-type]
    world.core.hostnames.resolver = resolver
    return world


def connecting(world: World, ip: str = ADDRESS) -> FakeClient:
    """A connection as the adapter makes one: the lookup starts at once."""
    fake = world.connect(ip)
    world.core.hostnames.start(fake.session, world.now)
    return fake


def notices(fake: FakeClient) -> list[str]:
    return [line.params[-1] for line in fake.lines if line.command == "NOTICE"]


def test_registration_waits_for_the_lookup_then_uses_the_name() -> None:
    resolver = SlowResolver()
    world = world_with(resolver)
    fake = connecting(world)
    assert [(ip, timeout) for ip, timeout, _ in resolver.asked] == [(ADDRESS, 3.0)]
    out = fake.register("nemo")
    assert "001" not in cmds(out)  # not before the answer
    resolver.asked[0][2]("host.example.org")
    assert notices(fake) == [LOOKING_UP, FOUND]
    assert "001" in cmds(fake.lines)
    assert fake.client.real_host == "host.example.org" and fake.client.ip == ADDRESS
    whois = fake.send("WHOIS nemo")
    assert only(whois, "378").params[-1] == f"is connecting from *@host.example.org {ADDRESS}"


def test_a_resolver_that_never_answers_times_out() -> None:
    resolver = SlowResolver()
    world = world_with(resolver, resolve_timeout=2.0)
    fake = connecting(world)
    fake.register("nemo")
    world.advance(1.9)
    world.core.tick(world.now)
    assert "001" not in cmds(fake.lines)
    world.advance(0.1)
    world.core.tick(world.now)  # the deadline: the address it is
    assert notices(fake) == [LOOKING_UP, NOT_FOUND]
    assert "001" in cmds(fake.lines)
    assert fake.client.real_host == ADDRESS
    resolver.asked[0][2]("late.example.org")  # too late: ignored
    assert fake.client.real_host == ADDRESS and notices(fake) == [LOOKING_UP, NOT_FOUND]


def test_answer_before_nick_and_user_and_a_bad_name() -> None:
    resolver = SlowResolver()
    world = world_with(resolver)
    early = connecting(world)
    resolver.asked[0][2]("early.example.org")  # before NICK and USER
    assert "001" in cmds(early.register("early"))
    assert early.client.real_host == "early.example.org"
    bogus = connecting(world, "192.0.2.8")
    resolver.asked[1][2]("evil\r\nQUIT")  # whatever a resolver says, only a host name
    bogus.register("bogus")
    assert bogus.client.real_host == "192.0.2.8" and notices(bogus)[-1] == NOT_FOUND


def test_loopback_is_localhost_without_a_lookup() -> None:
    resolver = SlowResolver()
    world = world_with(resolver)
    fake = connecting(world, "127.0.0.1")
    assert resolver.asked == []
    assert "001" in cmds(fake.register("local"))
    assert notices(fake)[:2] == [LOOKING_UP, FOUND]
    assert fake.client.real_host == "localhost"
    off = world_with(resolver, resolve_hostnames=False)
    plain = connecting(off, ADDRESS)
    assert "001" in cmds(plain.register("plain"))
    assert resolver.asked == [] and plain.client.real_host == ADDRESS and not notices(plain)


def test_klines_and_oper_blocks_match_the_host_name_not_the_cloak() -> None:
    config = make_config(cloaks=True)
    opers = (OperEntry("admin", HASH, "*@*.example.org"),)
    world = World(dataclasses.replace(config, opers=opers))
    resolver = SlowResolver()
    world.core.hostnames.resolver = resolver
    fake = connecting(world)
    resolver.asked[0][2]("desk.example.org")
    fake.register("boss")
    assert fake.client.host != "desk.example.org"  # others see the cloak
    assert "381" in cmds(fake.send(f"OPER admin {PASSWORD}"))
    stranger = connecting(world, "192.0.2.9")
    resolver.asked[1][2]("elsewhere.example.net")
    stranger.register("stranger")
    assert "491" in cmds(stranger.send(f"OPER admin {PASSWORD}"))

    fake.send("KLINE 1h ~baduser@*.example.net :no", now=world.now)
    victim = connecting(world, "192.0.2.10")
    resolver.asked[2][2]("laptop.example.net")
    out = victim.register("victim", user="baduser")
    assert "465" in cmds(out) and victim.closed


# -- the asyncio resolver: forward confirmation, timeouts


def lookup(ip: str, reverse: dict[str, str], forward: dict[str, list[str]]) -> str:
    async def by_address(address: str) -> str:
        if address not in reverse:
            raise OSError("no PTR")
        return reverse[address]

    async def by_name(name: str) -> list[str]:
        return forward.get(name, [])

    return asyncio.run(confirmed_name(ip, by_address, by_name))


def test_forward_confirmation() -> None:
    ptr = {ADDRESS: "host.example.org."}
    assert lookup(ADDRESS, ptr, {"host.example.org": ["2001:db8::1", ADDRESS]}) == (
        "host.example.org"
    )
    # The reverse zone's owner claims a name whose addresses are not this one: refused.
    assert lookup(ADDRESS, ptr, {"host.example.org": ["198.51.100.1"]}) == ""
    assert lookup(ADDRESS, ptr, {}) == ""
    assert (
        lookup(
            "::ffff:192.0.2.7",
            ptr | {"::ffff:192.0.2.7": "host.example.org"},
            {"host.example.org": [ADDRESS]},
        )
        == "host.example.org"
    )


def test_names_that_are_not_host_names() -> None:
    for name in ["192.0.2.7", "", "a" * 64 + ".org", "bad name.org", "-x.org", "x..org", "::1"]:
        assert not valid_hostname(name), name
    for name in ["localhost", "h-1.example.org", "_dmarc.example.org", "x.y"]:
        assert valid_hostname(name), name


def test_system_resolver_times_out_and_survives_errors() -> None:
    async def never(ip: str) -> str:
        await asyncio.sleep(3600)
        return "never.example.org"

    async def broken(ip: str) -> str:
        raise OSError("no PTR")

    async def forward(name: str) -> list[str]:
        return [ADDRESS]

    async def run() -> list[str]:
        got: list[str] = []
        slow = SystemResolver(never, forward)
        failing = SystemResolver(broken, forward)
        slow.resolve(ADDRESS, 0.05, got.append)
        failing.resolve(ADDRESS, 1.0, got.append)
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
        slow.close()
        failing.close()
        return got

    assert asyncio.run(run()) == ["", ""]


def test_system_resolver_real_lookup_of_loopback() -> None:
    # The system's resolver, for real: 127.0.0.1 is in every /etc/hosts.
    async def run() -> list[str]:
        got: list[str] = []
        resolver = SystemResolver()
        resolver.resolve("127.0.0.1", 5.0, got.append)
        while not got:
            await asyncio.sleep(0.01)
        resolver.close()
        return got

    name = asyncio.run(run())[0]
    assert name == "" or valid_hostname(name)


# -- channel bans on host names hold against the cloak


def cloaked(world: World, nick: str, ip: str, name: str) -> FakeClient:
    """A client whose address resolved to `name`, cloaked (+x) at sign-on."""
    fake = FakeClient(world, ip)
    fake.session.host = name  # what a finished lookup leaves
    fake.register(nick)
    assert "x" in fake.client.modes and fake.client.host != name
    return fake


def test_channel_bans_on_a_host_name_match_under_the_cloak() -> None:
    world = World(make_config(cloaks=True))
    op = world.client("op")
    op.send("JOIN #room")
    op.send("MODE #room +b *!*@*.example.org")
    banned = cloaked(world, "banned", ADDRESS, "desk.example.org")
    assert "474" in cmds(banned.send("JOIN #room"))
    banned.send("MODE banned -x")  # shown or not, the name is the name
    assert "474" in cmds(banned.send("JOIN #room"))
    other = cloaked(world, "other", "192.0.2.8", "desk.example.net")
    assert "366" in cmds(other.send("JOIN #room"))
    op.send("MODE #room +b m:*!*@*.example.net")  # a quiet on the name of a member
    other.clear()
    assert "404" in cmds(other.send("PRIVMSG #room :hello"))


def test_a_ban_on_a_host_name_holds_at_a_home_on_another_server() -> None:
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")])
    for server in sim.servers.values():
        config = server.core.config
        server.core.apply_config(
            dataclasses.replace(config, cloaks=dataclasses.replace(config.cloaks, enabled=True))
        )
    sim.link_all()
    network = sim["a.test"].network
    channel = next(f"#h{i}" for i in range(1000) if network.home_of(f"#h{i}") == "a.test")
    op = sim["a.test"].client("op")
    sim.do(op, f"JOIN {channel}", f"MODE {channel} +b *!*@*.example.org")
    fake = FakeClient(sim["b.test"], ADDRESS)  # type: ignore[arg-type]
    fake.session.host = "desk.example.org"
    fake.register("far")
    sim.settle()
    sim.do(fake, f"JOIN {channel}")
    assert "474" in cmds(sim.lines(fake))
