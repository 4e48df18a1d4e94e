"""Operator actions across the network, sans-IO: K/D-lines everywhere, remote KILL and SA*.

Three servers in a line (a - b - c) with their stores (netsim, services=True);
operators are configured on every server; clients get their own addresses so
a K-line can pick one out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import argon2
from helpers import START, FakeClient, World, cmds, make_config, numerics, only
from irctokens.line import Line
from netsim import Sim

from ircpsyc.config import Config, OperClassEntry, OperEntry
from ircpsyc.ircd.xlines import BanRemoval, ServerBan
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.store import Store

PASSWORD = "netops-test-password"
HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
A, B, C = "a.test", "b.test", "c.test"


class OpSim(Sim):
    """A netsim network whose servers know the operators `admin` (every privilege)
    and `helper` (kill only)."""

    def config(self, name: str) -> Config:
        return with_opers(super().config(name))


def with_opers(config: Config) -> Config:
    return dataclasses.replace(
        config,
        opers=(OperEntry("admin", HASH, "*@*"), OperEntry("helper", HASH, "*@*", "helper")),
        oper_classes=(OperClassEntry("helper", ("kill",)),),
    )


def net() -> OpSim:
    sim = OpSim([A, B, C], [(A, B), (B, C)], services=True)
    sim.link_all()
    return sim


def person(sim: Sim, server: str, nick: str, ip: str = "127.0.0.1") -> FakeClient:
    fake = FakeClient(sim[server], ip)  # type: ignore[arg-type]
    fake.register(nick)
    sim.run()
    fake.clear()
    return fake


def oper(sim: Sim, server: str, nick: str, name: str = "admin", snomask: str = "") -> FakeClient:
    fake = person(sim, server, nick, "10.9.9.9")
    assert "381" in cmds(fake.send(f"OPER {name} {PASSWORD}"))
    if snomask:
        fake.send(f"MODE {nick} +s +{snomask}")
    sim.run()
    fake.clear()
    return fake


def notices(lines: list[Line]) -> list[str]:
    return [line.params[-1] for line in lines if line.command == "NOTICE"]


def rows(sim: Sim, server: str, table: str = "server_bans") -> set[tuple[str, str]]:
    store = sim[server].store
    assert store is not None
    return {(k, m) for k, m in store.db.execute(f"SELECT kind, mask FROM {table}")}


def masks(sim: Sim, server: str) -> set[str]:
    return {ban.mask for ban in sim[server].core.moderation.xlines.bans.values()}


# -- K-lines and D-lines network-wide


def test_kline_on_a_disconnects_on_c_and_refuses_there() -> None:
    sim = net()
    watcher = oper(sim, C, "watcher", snomask="x")
    victim = person(sim, C, "victim", "192.0.2.7")
    bystander = person(sim, C, "bystander", "192.0.2.8")
    sim.do(victim, "JOIN #c")
    sim.do(bystander, "JOIN #c")
    sim.lines(bystander)
    admin = oper(sim, A, "admin")
    sim.do(admin, "KLINE 1h *@192.0.2.7 :spamming")
    sim.settle()
    assert "Added timed K-line" in notices(sim.lines(admin))[0]
    assert victim.session.closed
    got = victim.take()
    assert only(got, "465").params[1] == "You are banned: spamming"
    assert "K-Lined: spamming" in only(got, "ERROR").params[0]
    assert "K-Lined" in only(sim.lines(bystander), "QUIT").params[0]
    seen = notices(sim.lines(watcher))
    assert any("admin on a.test added timed K-line for *@192.0.2.7" in n for n in seen), seen
    assert any("disconnected 1 client(s): victim" in n for n in seen), seen
    # Stored and shown everywhere; a new connection on c is refused at registration.
    for name in (A, B, C):
        assert rows(sim, name) == {("K", "*@192.0.2.7")}, name
    again = FakeClient(sim[C], "192.0.2.7")  # type: ignore[arg-type]
    assert "465" in cmds(again.register("again"))
    assert again.session.closed
    sim.do(watcher, "STATS K")
    line = only(sim.lines(watcher), "216")
    assert line.params[2:5] == ["192.0.2.7", "*", "*"]
    assert "[set by admin on a.test]" in line.params[5]
    # UNKLINE on b lifts it everywhere.
    other = oper(sim, B, "other")
    sim.do(other, "UNKLINE *@192.0.2.7")
    sim.settle()
    assert any("other on b.test removed the K-line" in n for n in notices(sim.lines(watcher)))
    for name in (A, B, C):
        assert masks(sim, name) == set(), name
        assert rows(sim, name) == set() and rows(sim, name, "server_ban_removals") == {
            ("K", "*@192.0.2.7")
        }
    assert "001" in cmds(FakeClient(sim[C], "192.0.2.7").register("back"))  # type: ignore[arg-type]


def test_dline_of_a_remote_nick_uses_its_address() -> None:
    sim = net()
    victim = person(sim, C, "victim", "198.51.100.9")
    admin = oper(sim, A, "admin")
    sim.do(admin, "DLINE victim :go away")
    sim.settle()
    assert victim.session.closed
    assert masks(sim, B) == {"198.51.100.9"}
    assert sim[C].core.moderation.connect_refusal("198.51.100.9") == "D-Lined: go away"


def test_unkline_during_a_split_is_not_undone() -> None:
    sim = net()
    admin = oper(sim, A, "admin")
    carol_op = oper(sim, C, "carolop", snomask="x")
    sim.do(admin, "KLINE 2h *@bad.example :one", "KLINE 2h *@worse.example :two")
    sim.settle()
    assert masks(sim, C) == {"*@bad.example", "*@worse.example"}
    sim.cut(B, C)
    sim.tick(15)  # past the split grace: c is split off
    sim.do(admin, "UNKLINE *@bad.example")
    sim.tick(2)
    sim.do(carol_op, "KLINE 1h *@new.example :while apart")  # set on the other side
    sim.do(carol_op, "KLINE 3h *@worse.example :changed on c")  # newer than a's
    assert masks(sim, C) == {"*@bad.example", "*@worse.example", "*@new.example"}
    sim.lines(carol_op)
    sim.connect(B, C)
    sim.settle()
    sim.tick(2)
    for name in (A, B, C):
        bans = {b.mask: b for b in sim[name].core.moderation.xlines.bans.values()}
        assert set(bans) == {"*@worse.example", "*@new.example"}, name
        assert bans["*@worse.example"].reason == "changed on c", name
        assert rows(sim, name) == {("K", "*@worse.example"), ("K", "*@new.example")}, name
    seen = notices(sim.lines(carol_op))
    assert any("admin on a.test removed the K-line for *@bad.example" in n for n in seen), seen


def test_restarted_server_gets_the_lines_back() -> None:
    sim = net()
    admin = oper(sim, A, "admin")
    sim.do(admin, "KLINE 0 *@perm.example :forever", "KLINE 1h *@gone.example :lifted")
    sim.do(admin, "UNKLINE *@gone.example")
    sim.settle()
    sim.kill(C)  # its in-memory store dies with it
    sim.do(admin, "DLINE 203.0.113.0/24 :set while c was down")
    sim.tick(5)
    sim.start(C)
    assert masks(sim, C) == set()
    sim.connect(B, C)
    sim.settle()
    sim.tick(2)
    assert masks(sim, C) == {"*@perm.example", "203.0.113.0/24"}
    assert rows(sim, C, "server_ban_removals") == {("K", "*@gone.example")}
    refused = FakeClient(sim[C], "203.0.113.5")  # type: ignore[arg-type]
    assert sim[C].core.moderation.connect_refusal(refused.session.ip).startswith("D-Lined")


def test_a_server_linked_for_the_first_time_exchanges_its_lines() -> None:
    sim = OpSim([A, B, C], [(A, B), (B, C)], services=True)
    sim.connect(A, B)
    sim.settle()
    admin = oper(sim, A, "admin")
    sim.do(admin, "KLINE 1h *@from-a.example :a's")
    loner = oper(sim, C, "loner")
    sim.do(loner, "DLINE 0 192.0.2.0/24 :c's, set before c was linked")
    sim.settle()
    assert masks(sim, C) == {"192.0.2.0/24"}
    sim.connect(B, C)  # c is new to a and b: only the exchange of lists can tell them
    sim.settle()
    for name in (A, B, C):
        assert masks(sim, name) == {"*@from-a.example", "192.0.2.0/24"}, name


def test_lines_outlive_a_restart_with_their_versions(tmp_path: Path) -> None:
    """The store keeps origin, version and removals, so a merge after a restart is right."""
    path = str(tmp_path / "bans.sqlite3")
    world = World(with_opers(make_config()))
    store = Store(path)
    world.core.moderation.attach_store(store)
    xlines = world.core.moderation.xlines
    stamp = int(START * 1_000_000)
    added, lifted = xlines.merge(
        [
            ServerBan("K", "*@x.example", "r", "op!u@h", START, 0.0, "b.test", stamp + 5),
            ServerBan("K", "*@y.example", "r", "op!u@h", START, 0.0, "b.test", stamp + 5),
        ],
        [BanRemoval("K", "*@y.example", stamp + 9, "c.test", "op2!u@h", 0.0)],
    )
    assert [b.mask for b in added] == ["*@x.example"] and lifted == []
    store.close()
    later = World(with_opers(make_config()))
    store = Store(path)
    later.core.moderation.attach_store(store)
    xlines = later.core.moderation.xlines
    assert [(b.mask, b.origin, b.stamp) for b in xlines.bans.values()] == [
        ("*@x.example", "b.test", stamp + 5)
    ]
    # An older copy of the removed ban, or of the kept one, changes nothing.
    old = ServerBan("K", "*@Y.example", "r", "op!u@h", START, 0.0, "a.test", stamp + 8)
    older = ServerBan("K", "*@x.example", "old", "op!u@h", START, 0.0, "a.test", stamp + 4)
    assert xlines.merge([old, older], []) == ([], [])
    # A newer removal of the kept one lifts it.
    removal = BanRemoval("K", "*@X.EXAMPLE", stamp + 6, "a.test", "op3!u@h", 0.0)
    added, lifted = xlines.merge([], [removal])
    assert added == [] and [(r.mask, b.mask) for r, b in lifted] == [("*@X.EXAMPLE", "*@x.example")]
    assert list(store.db.execute("SELECT mask FROM server_bans")) == []
    assert {m for (m,) in store.db.execute("SELECT mask FROM server_ban_removals")} == {
        "*@X.EXAMPLE",
        "*@y.example",
    }
    store.close()


# -- KILL


def test_kill_of_a_user_on_another_server() -> None:
    sim = net()
    admin = oper(sim, A, "admin", snomask="k")
    watcher = oper(sim, C, "watcher", snomask="k")
    carol = person(sim, C, "carol")
    bob = person(sim, B, "bob")
    for fake in (carol, bob):
        sim.do(fake, "JOIN #shared")
    sim.settle()
    sim.lines(bob)
    sim.do(admin, "KILL carol :enough")
    sim.settle()
    assert carol.session.closed
    got = carol.take()
    assert only(got, "KILL").params == ["carol", "enough"]
    assert only(got, "KILL").source is not None and only(got, "KILL").source.startswith("admin!")
    assert "Killed (admin (enough))" in only(got, "ERROR").params[0]
    assert only(sim.lines(bob), "QUIT").params == ["Killed (admin (enough))"]
    mine = notices(sim.lines(admin))
    assert any("Received KILL message for carol!" in n and "Path: a.test!admin" in n for n in mine)
    theirs = notices(sim.lines(watcher))
    assert any(
        "Received KILL message for carol!" in n and "Path: a.test!admin" in n for n in theirs
    )
    assert sim[A].core.find("carol") is None  # the quit went round as usual


def test_kill_of_someone_who_left_meanwhile_answers_401() -> None:
    sim = net()
    admin = oper(sim, A, "admin")
    carol = person(sim, C, "carol")
    sim.lines(admin)
    admin.send("KILL carol :one")  # both leave before c sees either
    got = admin.send("SANICK carol carol2")
    assert cmds(got) == []
    sim.settle()
    assert carol.session.closed
    assert only(sim.lines(admin), "401").params[1] == "carol"


def test_kill_of_an_xmpp_user() -> None:
    from xml.etree.ElementTree import fromstring

    from ircpsyc.xmpp import stanza as S
    from ircpsyc.xmpp.component import install

    config = with_opers(make_config())
    domain = "irc.localhost"
    xmpp = dataclasses.replace(config.xmpp, enabled=True, domain=domain, secret="s")
    world = World(dataclasses.replace(config, xmpp=xmpp))
    gateway = install(world.core)
    sent: list[object] = []
    gateway.output = sent.append
    gateway.link_up()
    irc = world.client("ircuser")
    irc.send("JOIN #chat")
    gateway.handle(
        fromstring(
            f"<presence xmlns='{S.COMPONENT}' from='bob@example.org/phone' "
            f"to='chat@{domain}/bob'><x xmlns='{S.MUC}'/></presence>"
        )
    )
    assert "bob" in world.core.gateway_users
    admin = world.client("admin")
    assert "381" in cmds(admin.send(f"OPER admin {PASSWORD}"))
    irc.take()
    sent.clear()
    admin.send("KILL bob :spam from xmpp")
    assert only(irc.take(), "QUIT").params == ["Killed (admin (spam from xmpp))"]
    assert "bob" not in world.core.gateway_users
    gone = [e for e in sent if getattr(e, "get", lambda k: None)("type") == "unavailable"]
    assert len(gone) == 1
    x = S.child(gone[0], "x", S.MUC_USER)  # type: ignore[arg-type]
    assert x is not None
    assert {n.get("code") for n in x if S.local_name(n) == "status"} == {"110", "307"}
    assert "admin (spam from xmpp)" in "".join(x.itertext())
    assert "401" in cmds(admin.send("KILL bob :again"))


def test_xmpp_users_are_persons_of_the_network() -> None:
    """Gateway users are in their server's roster: WHOIS, nick uniqueness and KILL
    work from the other servers."""
    from xml.etree.ElementTree import fromstring

    from ircpsyc.xmpp import stanza as S
    from ircpsyc.xmpp.component import install

    domain = "irc.localhost"

    class XmppOnC(OpSim):
        def config(self, name: str) -> Config:
            config = super().config(name)
            if name != C:
                return config
            xmpp = dataclasses.replace(config.xmpp, enabled=True, domain=domain, secret="s")
            return dataclasses.replace(config, xmpp=xmpp)

    sim = XmppOnC([A, B, C], [(A, B), (B, C)], services=True)
    sim.link_all()
    gateway = install(sim[C].core)
    sent: list[object] = []
    gateway.output = sent.append
    gateway.link_up()
    gateway.handle(
        fromstring(
            f"<presence xmlns='{S.COMPONENT}' from='bob@example.org/phone' "
            f"to='chat@{domain}/bob'><x xmlns='{S.MUC}'/></presence>"
        )
    )
    sim.settle()
    assert "bob" in sim[C].core.gateway_users
    admin = oper(sim, A, "admin")
    sim.do(admin, "WHOIS bob")
    whois = only(sim.lines(admin), "311")
    assert whois.params[1] == "bob"
    taker = FakeClient(sim[A], "127.0.0.1")  # type: ignore[arg-type]
    assert "433" in cmds(taker.send("NICK bob"))
    sim.do(admin, "KILL bob :spam from xmpp")
    sim.settle()
    assert "bob" not in sim[C].core.gateway_users
    assert sim[A].core.find("bob") is None
    gone = [e for e in sent if getattr(e, "get", lambda k: None)("type") == "unavailable"]
    assert len(gone) == 1


# -- SAJOIN, SAPART, SANICK


def test_sajoin_sapart_sanick_of_a_user_on_another_server() -> None:
    sim = net()
    mover = oper(sim, A, "mover", snomask="v")
    watcher = oper(sim, C, "watcher", snomask="v")
    owner = person(sim, B, "owner")
    carol = person(sim, C, "carol")
    bob = person(sim, B, "bob")
    sim.do(owner, "JOIN #locked", "MODE #locked +ik key")
    sim.settle()
    sim.lines(owner)
    sim.do(mover, "SAJOIN carol #locked,#open")
    sim.settle()
    joined = [line.params[0] for line in sim.lines(carol) if line.command == "JOIN"]
    assert joined == ["#locked", "#open"]
    assert any("operator override" in n for n in notices(sim.lines(owner)))
    assert any("mover used SAJOIN carol #locked" in n for n in notices(sim.lines(mover)))
    assert any(
        "mover on a.test used SAJOIN carol #locked" in n for n in notices(sim.lines(watcher))
    )
    sim.do(mover, "SAPART carol #locked,#nowhere :out")
    sim.settle()
    assert [line.params for line in sim.lines(carol) if line.command == "PART"] == [
        ["#locked", "out"]
    ]
    assert only(sim.lines(mover), "441").params[1:3] == ["carol", "#nowhere"]
    sim.do(mover, "SANICK carol bob")  # taken: refused on a already
    assert "433" in cmds(sim.lines(mover))
    sim.do(mover, "SANICK carol carla")
    sim.settle()
    assert only(sim.lines(carol), "NICK").params == ["carla"]
    assert carol.session.nick == "carla"
    assert sim[A].core.find("carla") is not None and sim[A].core.find("carol") is None
    assert any("mover on a.test used SANICK carol carla" in n for n in notices(sim.lines(watcher)))
    del bob


def test_refusals() -> None:
    sim = net()
    user = person(sim, A, "user")
    helper = oper(sim, A, "helper", name="helper")
    carol = person(sim, C, "carol", "192.0.2.66")
    for text in ("KILL carol :x", "SAJOIN carol #x", "KLINE *@192.0.2.66 :x", "SANICK carol c2"):
        sim.do(user, text)
        assert cmds(sim.lines(user)) == ["481"], text
    for text in ("SAJOIN carol #x", "SAPART carol #x", "SANICK carol c2", "KLINE *@192.0.2.66"):
        sim.do(helper, text)
        assert cmds(sim.lines(helper)) == ["723"], text
    sim.settle()
    assert not carol.session.closed and not carol.take()
    assert masks(sim, C) == set()


def test_the_target_server_trusts_only_servers_of_the_network() -> None:
    sim = net()
    carol = person(sim, C, "carol")
    netops = sim[C].core.moderation.netops
    assert netops is not None
    vars = {
        "_uniform_target": "psyc://c.test/~carol",
        "_nick_target": "carol",
        "_nick": "mallory",
        "_prefix": "mallory!m@h",
        "_uniform_oper": "psyc://a.test/~mallory",
        "_reason": "forged",
    }
    ban = {"_type": "K", "_mask": "*@*.example", "_stamp": "99999999999999999", "_server": A}
    for source in ("psyc://c.test/~mallory", "psyc://a.test/~mallory", "psyc://evil.example/"):
        for method, what in (("_request_kill", vars), ("_notice_xline_add", ban)):
            sim[C].router.send(
                Packet(
                    method,
                    {"_source": source, "_target": "psyc://c.test/$operators"},
                    dict(what),
                )
            )
    sim.settle()
    assert not carol.session.closed
    assert masks(sim, C) == set()
    assert netops.refused == 6
    # The same from a server of the network is carried out.
    sim[C].router.send(
        Packet("_request_kill", {"_source": "psyc://a.test/", "_target": netops.uniform}, vars)
    )
    assert carol.session.closed
    assert numerics(carol.take(), "KILL")


def test_wallops_and_globops_reach_every_server() -> None:
    sim = net()
    admin = oper(sim, A, "admin")
    far_oper = oper(sim, C, "faroper")
    wall_reader = person(sim, B, "reader")
    sim.do(wall_reader, "MODE reader +w")
    plain_user = person(sim, C, "plain")
    sim.lines(wall_reader)
    sim.do(admin, "WALLOPS :network maintenance at noon")
    sim.settle()
    for fake in (admin, far_oper, wall_reader):
        got = only(sim.lines(fake), "WALLOPS")
        assert got.params == ["network maintenance at noon"]
        assert got.source is not None and got.source.startswith("admin!")
    assert "WALLOPS" not in cmds(sim.lines(plain_user))
    sim.do(admin, "GLOBOPS :opers only")
    sim.settle()
    assert "*** GLOBOPS from admin: opers only" in notices(sim.lines(far_oper))
    assert not notices(sim.lines(wall_reader))
