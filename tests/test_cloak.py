"""Host cloaking (user mode +x): the pure cloak function, +x at sign-on and by MODE
(396, CHGHOST), who sees the real address (WHOIS 378), bans and K-lines on the
cloak and on the address, and a cloaked user seen from another server."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from helpers import FakeClient, World, cmds, make_config, numerics, only
from irctokens.line import Line
from test_moderation_oper import HASH, PASSWORD
from test_operator_service import OpSim, oper, person

from ircpsyc.config import Config, ConfigError, OperClassEntry, OperEntry, load
from ircpsyc.ircd.cloak import Cloaks, cloak_address
from ircpsyc.store import Store

SECRET = b"a test secret of some length"
SHAPE = re.compile(r"^[0-9a-f]{8}\.[0-9a-f]{8}\.[0-9a-f]{8}\.ip$")
IP = "198.51.100.23"


# -- the pure function


def test_cloak_is_stable_and_shaped_and_hides_the_address() -> None:
    first = cloak_address(IP, SECRET, "ip")
    cloak_address.cache_clear()
    assert cloak_address(IP, SECRET, "ip") == first
    assert SHAPE.match(first)
    assert "198" not in first and "100" not in first.split(".")[-2]
    assert cloak_address(IP, SECRET, "users.example.org").endswith(".users.example.org")


def test_other_secret_gives_an_unrelated_cloak() -> None:
    one = cloak_address(IP, SECRET, "ip").split(".")
    two = cloak_address(IP, b"another secret entirely", "ip").split(".")
    assert all(a != b for a, b in zip(one[:3], two[:3], strict=True))


def test_ipv4_labels_follow_the_blocks() -> None:
    here = cloak_address("192.0.2.7", SECRET, "ip").split(".")
    neighbour = cloak_address("192.0.2.8", SECRET, "ip").split(".")  # same /24
    across = cloak_address("192.0.3.7", SECRET, "ip").split(".")  # same /16 only
    far = cloak_address("203.0.113.7", SECRET, "ip").split(".")
    assert here[0] != neighbour[0] and here[1:] == neighbour[1:]
    assert here[1] != across[1] and here[2] == across[2]
    assert all(a != b for a, b in zip(here[:3], far[:3], strict=True))
    # A dual-stack socket's mapped address is the IPv4 address.
    assert cloak_address("::ffff:192.0.2.7", SECRET, "ip") == ".".join(here)


def test_ipv6_is_cloaked_by_its_64() -> None:
    one = cloak_address("2001:db8:1:2::1", SECRET, "ip")
    assert SHAPE.match(one)
    assert cloak_address("2001:db8:1:2:aaaa::99", SECRET, "ip") == one  # same /64
    other = cloak_address("2001:db8:1:3::1", SECRET, "ip").split(".")  # same /48
    assert other[0] != one.split(".")[0] and other[1:] == one.split(".")[1:]
    assert "2001" not in one and "db8" not in one


def test_no_address_no_cloak() -> None:
    assert cloak_address("0.0.0.0", SECRET, "ip") == ""
    assert cloak_address("", SECRET, "ip") == ""
    assert cloak_address(IP, b"", "ip") == ""
    named = cloak_address("dsl-9.example.net", SECRET, "ip")
    assert re.match(r"^[0-9a-f]{8}\.ip$", named)


# -- configuration and the stored secret


def test_config_defaults_and_checks(tmp_path: Path) -> None:
    cloaks = load(None).cloaks
    assert (cloaks.enabled, cloaks.set_on_connect, cloaks.secret, cloaks.suffix) == (
        True,
        True,
        "",
        "ip",
    )
    for body, key in (
        ('[cloaks]\nsecret = "short"\n', "cloaks.secret"),
        ('[cloaks]\nsuffix = "not a label"\n', "cloaks.suffix"),
        ('[cloaks]\nsuffix = ""\n', "cloaks.suffix"),
    ):
        path = tmp_path / "bad.toml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load(str(path))
        assert info.value.key == key


def test_generated_secret_is_kept_in_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "data.sqlite3")
    world = world_with()
    store = Store(path)
    world.core.cloaks.attach_store(store)
    first = world.core.cloaks.cloak_of(IP)
    store.close()
    again = world_with()
    assert again.core.cloaks.cloak_of(IP) != first  # a fresh process, no store yet
    store = Store(path)
    again.core.cloaks.attach_store(store)
    assert again.core.cloaks.cloak_of(IP) == first
    store.close()
    fixed = world_with(secret="configured secret value")
    assert fixed.core.cloaks.cloak_of(IP) == cloak_address(IP, b"configured secret value", "ip")


def test_unshared_secret_is_warned_about_at_every_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "data.sqlite3")

    def start(**cloaks: object) -> int:
        world = world_with(**cloaks)
        config = world.core.config
        world.core.config = dataclasses.replace(
            config, network=dataclasses.replace(config.network, servers=("a.test", "b.test"))
        )
        caplog.clear()
        store = Store(path)
        world.core.cloaks.attach_store(store)
        store.close()
        return sum("[cloaks] secret is not set" in r.getMessage() for r in caplog.records)

    assert start() == 1  # the start that makes the secret
    assert start() == 1  # and every later one, with the secret from the store
    assert start(secret="configured secret value") == 0
    assert start(enabled=False) == 0  # no cloaks: nothing differs


# -- one server


def world_with(**cloaks: object) -> World:
    config = make_config(cloaks=True)
    config = dataclasses.replace(
        config,
        cloaks=dataclasses.replace(config.cloaks, **cloaks),  # type: ignore[arg-type]
        opers=(OperEntry("root", HASH), OperEntry("mod", HASH, "*@*", "mod")),
        oper_classes=(OperClassEntry("mod", ("kill", "ban")),),
    )
    return World(config)


def cloak_of(world: World, ip: str = IP) -> str:
    found = world.core.cloaks.cloak_of(ip)
    assert SHAPE.match(found)
    return found


def text(lines: list[Line]) -> str:
    return "\n".join(line.format() for line in lines)


def test_cloaked_at_sign_on() -> None:
    world = world_with()
    cloak = cloak_of(world)
    alice = FakeClient(world, IP)
    out = alice.register("alice")
    welcome = only(out, "001")
    assert welcome.params[-1].endswith(f"alice!~user@{cloak}")
    assert IP not in welcome.params[-1]
    told = [m for m in out if m.command in ("MODE", "396")]
    assert [m.command for m in told] == ["396", "MODE"]
    assert told[0].params[1:] == [cloak, "is now your displayed host"]
    assert told[1].params == ["alice", "+x"]
    # 396 inside the burst after 005 (irctest allows it there); the MODE after the
    # MOTD, where InspIRCd and Ergo send the modes given at sign-on.
    order = cmds(out)
    assert order.index("005") < order.index("396") < order.index("251")
    assert order[-2] in ("376", "422") and order[-1] == "MODE"
    assert "x" in only(out, "004").params[3]
    assert alice.client.host == cloak and alice.client.real_host == IP
    bob = world.client("bob")
    world.channel("#c", bob)
    alice.send("JOIN #c")
    joins = [m for m in bob.take() if m.command == "JOIN"]
    assert joins[0].source == f"alice!~user@{cloak}"
    seen = text(
        [
            *bob.send("WHOIS alice"),
            *bob.send("USERHOST alice"),
            *bob.send("WHO alice %nuhi"),
            *bob.send("NAMES #c"),
        ]
    )
    assert cloak in seen
    assert IP not in seen  # in no numeric, WHOX i included


def test_not_set_on_connect_and_turned_off() -> None:
    world = world_with(set_on_connect=False)
    alice = FakeClient(world, IP)
    out = alice.register("alice")
    assert "396" not in cmds(out) and alice.client.host == IP
    world = world_with(enabled=False)
    alice = FakeClient(world, IP)
    out = alice.register("alice")
    assert "x" not in only(out, "004").params[3]
    assert alice.client.host == IP
    out = alice.send("MODE alice +x")
    assert cmds(out) == ["501"]
    assert alice.client.host == IP and "x" not in alice.client.modes
    # Turned off by a REHASH: the cloaked may still -x (and cannot +x again).
    world = world_with()
    bob = world.client("bob", ip=IP)
    config = world.core.config
    world.core.apply_config(
        dataclasses.replace(config, cloaks=dataclasses.replace(config.cloaks, enabled=False))
    )
    assert cmds(bob.send("MODE bob -x")) == ["MODE", "396"]
    assert bob.client.host == IP
    assert cmds(bob.send("MODE bob +x")) == ["501"]


def test_mode_x_on_and_off_with_396_and_chghost() -> None:
    world = world_with(set_on_connect=False)
    cloak = cloak_of(world)
    alice = world.client("alice", caps=["chghost"], ip=IP)
    bob = world.client("bob", caps=["chghost"])
    carol = world.client("carol")  # no chghost: told nothing
    world.channel("#c", alice, bob, carol)
    out = alice.send("MODE alice +x")
    assert [m.command for m in out] == ["MODE", "CHGHOST", "396"]
    assert out[0].source == f"alice!~user@{IP}" and out[0].params == ["alice", "+x"]
    assert out[1].params == ["~user", cloak]
    assert out[2].params[1:] == [cloak, "is now your displayed host"]
    got = bob.take()
    assert [(m.source, m.command, m.params) for m in got] == [
        (f"alice!~user@{IP}", "CHGHOST", ["~user", cloak])
    ]
    assert carol.take() == []
    assert alice.send("MODE alice +x") == []  # no change, no reply
    assert only(alice.send("MODE alice"), "221").params[1] == "+x"
    place = world.core.places.get("#c")
    assert place is not None and place.member_by_nick("alice").host == cloak  # type: ignore[union-attr]
    dave = world.client("dave", caps=["userhost-in-names"])
    assert f"alice!~user@{cloak}" in text(dave.send("JOIN #c"))
    out = alice.send("MODE alice -x")
    assert [m.command for m in out] == ["MODE", "CHGHOST", "396"]
    assert out[2].params[1] == IP
    assert [m.params for m in bob.take() if m.command == "CHGHOST"] == [["~user", IP]]
    assert alice.client.host == IP


def test_whois_378_to_self_and_auspex_only() -> None:
    world = world_with()
    alice = world.client("alice", ip=IP)
    where = f"is connecting from *@{IP} {IP}"
    assert only(alice.send("WHOIS alice"), "378").params[2] == where
    bob = world.client("bob")
    assert "378" not in cmds(bob.send("WHOIS alice"))
    mod = world.client("mod")
    assert "381" in cmds(mod.send(f"OPER mod {PASSWORD}"))
    out = mod.send("WHOIS alice")
    assert "378" not in cmds(out) and IP not in text(out)  # an oper, but no auspex
    root = world.client("root")
    assert "381" in cmds(root.send(f"OPER root {PASSWORD}"))
    assert only(root.send("WHOIS alice"), "378").params[2] == where


def joined(client: FakeClient, channel: str) -> bool:
    out = client.send(f"JOIN {channel}")
    return "JOIN" in cmds(out)


@pytest.mark.parametrize("cloaked", [True, False])
def test_ban_on_the_cloak_holds_whether_shown_or_not(cloaked: bool) -> None:
    world = world_with(set_on_connect=cloaked)
    cloak = cloak_of(world)
    op = world.client("op")
    world.channel("#c", op)
    op.send(f"MODE #c +b *!*@{cloak}")
    alice = world.client("alice", ip=IP)
    assert not joined(alice, "#c")
    assert only(alice.lines, "474")
    # A neighbour in the same /24 is caught by a ban on the cloak's block.
    op.send(f"MODE #c -b *!*@{cloak}")
    op.send(f"MODE #c +b *!*@*.{'.'.join(cloak.split('.')[1:])}")
    neighbour = world.client("neighbour", ip="198.51.100.99")
    assert not joined(neighbour, "#c")
    other = world.client("other", ip="203.0.113.5")
    assert joined(other, "#c")


@pytest.mark.parametrize("mask", [IP, "198.51.100.0/24", "198.51.*"])
def test_ban_on_the_real_address_holds_under_x(mask: str) -> None:
    world = world_with()
    op = world.client("op")
    world.channel("#c", op)
    op.send(f"MODE #c +b *!*@{mask}")
    alice = world.client("alice", ip=IP)
    assert "x" in alice.client.modes
    assert not joined(alice, "#c")


def test_exceptions_invex_and_quiets_on_the_cloak() -> None:
    world = world_with()
    cloak = cloak_of(world)
    op = world.client("op")
    world.channel("#c", op)
    op.send("MODE #c +b *!*@*")
    op.send(f"MODE #c +e *!*@{cloak}")
    alice = world.client("alice", ip=IP)
    assert joined(alice, "#c")
    op.send("MODE #c -b *!*@*")
    op.send(f"MODE #c +b m:*!*@{IP}")
    op.send(f"MODE #c -e *!*@{cloak}")
    alice.clear()
    out = alice.send("PRIVMSG #c :hello")
    assert cmds(out) == ["404"]
    op.send("MODE #c +i")
    op.send(f"MODE #c +I *!*@{cloak}")
    bob = world.client("bob", ip=IP)
    assert joined(bob, "#c")


def test_extbans_on_account_and_realname_unaffected() -> None:
    world = world_with()
    op = world.client("op")
    world.channel("#c", op)
    op.send("MODE #c +b r:Real*")
    alice = world.client("alice", ip=IP)
    assert not joined(alice, "#c")
    op.send("MODE #c -b r:Real*")
    op.send("MODE #c +b a:*")
    assert joined(alice, "#c")  # not logged in: a: never matches


def test_kline_on_the_address_hits_a_cloaked_user() -> None:
    world = world_with()
    alice = world.client("alice", ip=IP)
    root = world.client("root")
    root.send(f"OPER root {PASSWORD}")
    root.send(f"KLINE *@{IP} :go away")
    assert alice.session.closed
    again = FakeClient(world, IP)
    assert "465" in cmds(again.register("alice"))


def test_kline_by_nick_bans_the_cloak_without_showing_the_address() -> None:
    world = world_with()
    cloak = cloak_of(world)
    alice = world.client("alice", ip=IP)
    mod = world.client("mod")
    mod.send(f"OPER mod {PASSWORD}")
    mod.clear()
    out = mod.send("KLINE alice :bye")
    assert IP not in text(out) and cloak in text(out)
    assert alice.session.closed
    # The K-line on the cloak holds at registration too, and while uncloaked.
    again = FakeClient(world, IP)
    assert "465" in cmds(again.register("alice2"))
    plain = world_with(set_on_connect=False)
    plain.core.moderation.xlines.bans = world.core.moderation.xlines.bans
    plain.core.cloaks.generated = world.core.cloaks.generated
    uncloaked = FakeClient(plain, IP)
    assert "465" in cmds(uncloaked.register("alice3"))


def test_services_and_gateway_users_are_not_cloaked() -> None:
    from ircpsyc.xmpp.person import GatewayUser

    world = world_with()
    user = GatewayUser(world.core, "jabberer", "jabberer", "xmpp.example.org", "J", "")
    assert user.cloak == "" and "x" not in user.modes and user.host == "xmpp.example.org"
    cloaks: Cloaks = world.core.cloaks
    assert cloaks.cloak_of("0.0.0.0") == ""


# -- two servers


class CloakSim(OpSim):
    """Operators as in test_operator_service; every server cloaks with one shared secret."""

    def config(self, name: str) -> Config:
        config = super().config(name)
        return dataclasses.replace(
            config,
            cloaks=dataclasses.replace(
                config.cloaks, enabled=True, secret="the network's cloak secret"
            ),
        )


def test_a_cloaked_user_seen_and_banned_from_another_server() -> None:
    sim = CloakSim(["a.test", "b.test"], [("a.test", "b.test")], pins={"#x": "a.test"})
    sim.link_all()
    cloak = cloak_address(IP, b"the network's cloak secret", "ip")
    bob = sim["a.test"].client("bob", caps=["chghost"])
    bob.send("JOIN #x")
    sim.run()
    alice = person(sim, "b.test", "alice", IP)
    assert sim["b.test"].core.clients["alice"].host == cloak
    sim.tick(1.0)
    sim.do(alice, "JOIN #x")
    sim.run()
    sim.do(bob, "WHOIS alice", "WHO alice %nuhi")
    seen = sim.lines(bob)
    assert f"alice!~user@{cloak}" in text(seen)
    assert IP not in text(seen)
    # The home (a) bans the real address: it has it from b's join request.
    sim.do(bob, f"MODE #x +b *!*@{IP}")
    sim.do(alice, "PART #x", "JOIN #x")
    sim.run()
    assert "474" in cmds(sim.lines(alice))
    # A ban on the cloak too, set where b's cloak is only seen.
    sim.do(bob, f"MODE #x -b *!*@{IP}", f"MODE #x +b *!*@{cloak}")
    sim.do(alice, "JOIN #x")
    sim.run()
    assert "474" in cmds(sim.lines(alice))
    # -x on b: a's members see CHGHOST once the roster tells them; auspex sees 378.
    sim.do(bob, f"MODE #x -b *!*@{cloak}")
    sim.do(alice, "JOIN #x")
    sim.run()
    sim.lines(bob)
    sim.do(alice, "MODE alice -x")
    sim.tick(1.0)
    sim.run()
    changes = [m for m in sim.lines(bob) if m.command == "CHGHOST"]
    assert [(m.source, m.params) for m in changes] == [(f"alice!~user@{cloak}", ["~user", IP])]
    admin = oper(sim, "a.test", "admin")
    sim.do(admin, "WHOIS alice")
    where = numerics(sim.lines(admin), "378")
    assert where and where[0].params[2] == f"is connecting from *@{IP} {IP}"
