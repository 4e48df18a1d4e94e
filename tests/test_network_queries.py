"""Queries and operator actions across the network, sans-IO: WHO of a channel homed
elsewhere, WHOWAS after a netsplit, the roster's addresses (WHOIS for auspex,
DLINE <nick>), and the confirmation of remote KILL, SAJOIN, SAPART and SANICK.

Three servers in a line (a - b - c) with their stores; `#x` and `#hidden` are
pinned to a; operators as in test_operator_service."""

from __future__ import annotations

from helpers import FakeClient, cmds
from irctokens.line import Line
from netsim import Sim
from test_operator_service import OpSim, notices, oper, person

A, B, C = "a.test", "b.test", "c.test"


def net(**options: float) -> OpSim:
    sim = OpSim([A, B, C], [(A, B), (B, C)], services=True, pins={"#x": A, "#hidden": A}, **options)
    sim.link_all()
    return sim


def params(lines: list[Line], code: str) -> list[list[str]]:
    return [m.params[1:] for m in lines if m.command == code]


def channel_on_a(sim: Sim) -> tuple[FakeClient, FakeClient]:
    """alice (away, logged in as alice) and ghost (+i) in #x on a; alice alone in
    the secret #hidden."""
    alice = person(sim, A, "alice")
    ghost = person(sim, A, "ghost")
    sim.do(alice, "JOIN #x", "AWAY :lunch", "JOIN #hidden", "MODE #hidden +s")
    sim.do(ghost, "MODE ghost +i", "JOIN #x")
    known = sim[A].core.clients["alice"]
    known.account = "alice"
    known.directory.changed(known)  # told as a login is (`account_changed`)
    sim.tick(1.0)  # the roster and the directory follow
    return alice, ghost


# -- WHO of a channel without local members


def test_who_of_a_channel_homed_elsewhere() -> None:
    sim = net()
    channel_on_a(sim)
    carol = person(sim, C, "carol")
    assert sim[C].core.places.get("#x") is None  # nobody here: no replica
    sim.do(carol, "WHO #x")
    sim.run()
    out = sim.lines(carol)
    # alice: away (G) and op (@), two hops away; ghost is +i: not shown to outsiders.
    assert params(out, "352") == [["#x", "~user", "127.0.0.1", A, "alice", "G@", "2 Real Name"]]
    assert params(out, "315") == [["#x", "End of WHO list"]]
    sim.do(carol, "WHO #x %tcuihsnfdar,7")
    sim.run()
    out = sim.lines(carol)
    hidden_ip = "255.255.255.255"  # no auspex
    assert params(out, "354") == [
        ["7", "#x", "~user", hidden_ip, "127.0.0.1", A, "alice", "G@", "2", "alice", "Real Name"]
    ]
    sim.do(carol, "WHO #x o")  # operators only: none
    sim.run()
    out = sim.lines(carol)
    assert params(out, "352") == [] and params(out, "315") == [["#x", "End of WHO list"]]


def test_who_of_a_remote_channel_is_held_and_labeled() -> None:
    sim = net()
    channel_on_a(sim)
    carol = sim[C].client("carol", caps=["labeled-response", "batch"])
    assert carol.send("@label=w1 WHO #x") == []  # the answer comes from a
    sim.run()
    out = carol.take()
    assert [m.command for m in out] == ["BATCH", "352", "315", "BATCH"]
    assert out[0].tags == {"label": "w1"}
    assert out[0].params[1:] == ["labeled-response"]
    assert out[1].tags == {"batch": out[0].params[0][1:]}


def test_who_honours_secret_channels_and_auspex() -> None:
    sim = net()
    channel_on_a(sim)
    carol = person(sim, C, "carol")
    sim.do(carol, "WHO #hidden")
    sim.run()
    out = sim.lines(carol)
    assert params(out, "352") == [] and params(out, "315") == [["#hidden", "End of WHO list"]]
    admin = oper(sim, C, "admin")  # auspex: sees the secret channel and +i members
    sim.do(admin, "WHO #hidden")
    sim.run()
    assert [p[4] for p in params(sim.lines(admin), "352")] == ["alice"]
    sim.do(admin, "WHO #x")
    sim.run()
    assert sorted(p[4] for p in params(sim.lines(admin), "352")) == ["alice", "ghost"]
    sim.do(admin, "WHO #x %ni")
    sim.run()
    assert sorted(params(sim.lines(admin), "354")) == [
        ["127.0.0.1", "alice"],
        ["127.0.0.1", "ghost"],
    ]


def test_who_of_a_channel_whose_home_is_unreachable_ends_empty() -> None:
    sim = net()
    channel_on_a(sim)
    carol = person(sim, C, "carol")
    sim.cut(A, B)
    sim.do(carol, "WHO #x")
    out = sim.lines(carol)
    assert params(out, "352") == [] and params(out, "315") == [["#x", "End of WHO list"]]


def test_who_of_a_channel_whose_home_does_not_answer_ends_after_the_timeout() -> None:
    sim = net()
    channel_on_a(sim)
    carol = person(sim, C, "carol")
    sim[A].linking.directory._answer_members = lambda packet: None  # type: ignore[method-assign]
    sim.do(carol, "WHO #x")
    sim.run()
    assert params(sim.lines(carol), "315") == []  # still waiting
    sim.tick(6.0)  # past [network] request_timeout
    out = sim.lines(carol)
    assert params(out, "352") == [] and params(out, "315") == [["#x", "End of WHO list"]]


# -- WHOWAS after a netsplit


def test_persons_lost_in_a_netsplit_are_in_whowas() -> None:
    sim = net()
    bob = person(sim, C, "bob")
    alice = person(sim, A, "alice")
    sim.cut(B, C)
    sim.tick(12.0)  # past the split grace: c's persons are gone
    assert sim[A].core.find("bob") is None
    sim.do(alice, "WHOWAS bob")
    out = sim.lines(alice)
    assert params(out, "314") == [["bob", "~user", "127.0.0.1", "*", "Real Name"]]
    assert [p[1] for p in params(out, "312")] == [C]
    del bob


# -- the roster's addresses


def test_remote_addresses_are_shown_to_auspex_only_and_dline_by_nick() -> None:
    sim = net()
    victim = person(sim, C, "victim", "198.51.100.9")
    resolved = sim[C].core.clients["victim"]
    resolved.host = "dsl-9.example.net"  # a resolved host name
    resolved.directory.changed(resolved)  # as every change the roster shows is told
    sim.tick(1.0)
    user = person(sim, A, "user")
    sim.do(user, "WHOIS victim", "WHO victim %ni")
    out = sim.lines(user)
    assert "198.51.100.9" not in " ".join(m.format() for m in out)
    assert params(out, "378") == []
    assert params(out, "354") == [["255.255.255.255", "victim"]]
    admin = oper(sim, A, "admin")
    sim.do(admin, "WHOIS victim", "WHO victim %ni")
    out = sim.lines(admin)
    assert params(out, "378") == [["victim", "is connecting from *@dsl-9.example.net 198.51.100.9"]]
    assert params(out, "354") == [["198.51.100.9", "victim"]]
    sim.do(admin, "DLINE victim :go away")
    sim.settle()
    assert victim.session.closed
    assert {ban.mask for ban in sim[B].core.moderation.xlines.bans.values()} == {"198.51.100.9"}


def test_the_roster_is_not_given_to_servers_outside_the_network() -> None:
    from ircpsyc.psyc_backend.packet import Packet

    sim = net()
    person(sim, C, "victim", "198.51.100.9")
    sent: list[Packet] = []
    router = sim[C].core.router
    original = router.send

    def spy(packet: Packet) -> bool:
        sent.append(packet)
        return original(packet)

    router.send = spy  # type: ignore[method-assign]
    roster = sim[C].linking.roster
    request = Packet(
        "_request_roster",
        {"_source": "psyc://elsewhere.example/", "_target": f"psyc://{C}/$roster"},
        {"_counter": "-1"},
    )
    assert roster.request(request)
    assert [p.method for p in sent] == []


# -- confirmations of remote operator actions


def test_remote_kill_is_announced_when_confirmed() -> None:
    sim = net()
    admin = oper(sim, A, "admin")  # no snomask: a NOTICE of its own
    carol = person(sim, C, "carol")
    assert cmds(admin.send("KILL carol :enough")) == []  # nothing yet: not done yet
    sim.settle()
    assert carol.session.closed
    texts = notices(sim.lines(admin))
    assert len(texts) == 1
    assert "Received KILL message for carol!~user@127.0.0.1" in texts[0]
    assert "Path: a.test!admin (enough)" in texts[0]
    assert not sim[A].linking.netops.requests


def test_remote_sajoin_sapart_sanick_are_announced_when_confirmed() -> None:
    sim = net()
    mover = oper(sim, A, "mover")  # no snomask v
    watcher = oper(sim, A, "watcher", snomask="v")
    carol = person(sim, C, "carol")
    assert cmds(mover.send("SAJOIN carol #one,#two")) == []
    sim.settle()
    assert sorted(m.params[0] for m in sim.lines(carol) if m.command == "JOIN") == [
        "#one",
        "#two",
    ]
    assert notices(sim.lines(mover)) == [
        "*** mover used SAJOIN carol #one",
        "*** mover used SAJOIN carol #two",
    ]
    assert sorted(n for n in notices(sim.lines(watcher)) if "SAJOIN" in n) == [
        "*** OVERRIDE: mover used SAJOIN carol #one",
        "*** OVERRIDE: mover used SAJOIN carol #two",
    ]
    sim.do(mover, "SAPART carol #one,#nowhere :out")
    sim.settle()
    out = sim.lines(mover)
    assert params(out, "441") == [["carol", "#nowhere", "They aren't on that channel"]]
    assert notices(out) == ["*** mover used SAPART carol #one"]
    # A nick taken on c that a does not know yet: c refuses with 433, nothing announced.
    taker = FakeClient(sim[C], "127.0.0.1")  # type: ignore[arg-type]
    taker.register("taken")
    mover.send("SANICK carol taken")
    sim.settle()
    out = sim.lines(mover)
    assert params(out, "433") == [["taken", "Nickname is already in use"]]
    assert notices(out) == []
    sim.do(mover, "SANICK carol carla")
    sim.settle()
    assert notices(sim.lines(mover)) == ["*** mover used SANICK carol carla"]
    assert not sim[A].linking.netops.requests


def test_remote_action_without_answer_times_out() -> None:
    sim = net()
    admin = oper(sim, A, "admin")
    carol = person(sim, C, "carol")
    sim.cut(B, C)  # within the split grace: c is still in the roster
    sim.do(admin, "KILL carol :enough")
    sim.tick(6.0)  # past [network] request_timeout
    texts = notices(sim.lines(admin))
    assert texts == [
        "*** KILL carol: not confirmed (no answer from c.test within 5s); "
        "it may not have been carried out"
    ]
    assert not carol.session.closed
    assert not sim[A].linking.netops.requests


def test_remote_action_to_a_server_lost_meanwhile() -> None:
    sim = net(split_grace=2.0)
    mover = oper(sim, A, "mover")
    person(sim, C, "carol")
    sim.cut(B, C)
    sim.do(mover, "SAJOIN carol #one")
    sim.tick(3.0)  # c is lost before the timeout
    assert notices(sim.lines(mover)) == [
        "*** SAJOIN carol: not confirmed (c.test split from the network); "
        "it may not have been carried out"
    ]
