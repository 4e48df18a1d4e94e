"""The server network, sans-IO: topology, trees, homes, routing, multicast, vouching."""

from __future__ import annotations

import itertools

import pytest
from netsim import Sim

from ircpsyc.psyc_backend.network import Lsa, Topology, host_of, rendezvous
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.wire import render


def topology(me: str, edges: list[tuple[str, str]]) -> Topology:
    neighbors: dict[str, set[str]] = {}
    for a, b in edges:
        neighbors.setdefault(a, set()).add(b)
        neighbors.setdefault(b, set()).add(a)
    topo = Topology(me)
    for name, peers in neighbors.items():
        topo.accept(Lsa(name, 1, 1, frozenset(peers)))
    return topo


def test_host_of() -> None:
    assert host_of("psyc://A.Example/~nick") == "a.example"
    assert host_of("psyc://a.example:4404/@x") == "a.example"
    assert host_of("psyc://a.example/") == "a.example"
    assert host_of("xmpp:a@b") == ""


def test_edges_count_only_when_both_ends_agree() -> None:
    topo = Topology("a")
    topo.accept(Lsa("a", 1, 1, frozenset({"b"})))
    topo.accept(Lsa("b", 1, 1, frozenset()))
    assert topo.reachable() == {"a"}
    topo.accept(Lsa("b", 1, 2, frozenset({"a"})))
    assert topo.reachable() == {"a", "b"}


def test_older_advertisements_are_ignored_newer_boots_win() -> None:
    topo = Topology("a")
    assert topo.accept(Lsa("b", 5, 10, frozenset({"a"})))
    assert not topo.accept(Lsa("b", 5, 9, frozenset()))
    assert not topo.accept(Lsa("b", 4, 99, frozenset()))
    assert topo.accept(Lsa("b", 6, 1, frozenset()))


def test_trees_are_the_same_on_every_server() -> None:
    # A ring of four: two equal paths from a to c; everyone picks the same.
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")]
    trees = [topology(me, edges).tree("a") for me in "abcd"]
    assert all(tree == trees[0] for tree in trees)
    assert trees[0]["c"] == "b"  # the lower name wins the tie


def test_next_hops_along_a_line() -> None:
    topo = topology("b", [("a", "b"), ("b", "c"), ("c", "d")])
    assert topo.next_hop("d") == "c"
    assert topo.next_hop("a") == "a"
    assert topo.toward("a", "d") == "c"  # in a's tree, d is below us via c
    assert topo.toward("d", "a") == "a"
    assert topo.toward("c", "d") == ""  # in c's tree, d is not below us
    assert topo.hops("d") == 2


def test_behind_a_neighbour() -> None:
    topo = topology("b", [("a", "b"), ("b", "c"), ("c", "d")])
    assert topo.behind("c") == {"c", "d"}
    assert topo.behind("a") == {"a"}


def test_rendezvous_hashing_is_stable_and_spreads() -> None:
    servers = [f"s{i}.test" for i in range(5)]
    homes = [rendezvous(f"#chan{i}", servers) for i in range(500)]
    assert homes == [rendezvous(f"#CHAN{i}", reversed(servers)) for i in range(500)]
    counts = {s: homes.count(s) for s in servers}
    assert min(counts.values()) > 50  # roughly even
    # Removing a server only moves the channels it had.
    fewer = servers[:-1]
    for i, home in enumerate(homes):
        if home != servers[-1]:
            assert rendezvous(f"#chan{i}", fewer) == home


def test_pins_win_over_hashing() -> None:
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")], pins={"#Ops": "a.test"})
    for name in sim.names:
        assert sim[name].network.home_of("#ops") == "a.test"
        assert sim[name].network.home_of("#OPS") == "a.test"


TOPOLOGIES = {
    "line": (5, [(0, 1), (1, 2), (2, 3), (3, 4)]),
    "star": (5, [(0, 1), (0, 2), (0, 3), (0, 4)]),
    "tree": (5, [(0, 1), (0, 2), (1, 3), (1, 4)]),
    "mesh": (4, [(a, b) for a, b in itertools.combinations(range(4), 2)]),
    "ring": (5, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]),
}


def make(kind: str) -> Sim:
    count, edges = TOPOLOGIES[kind]
    names = [f"s{i}.test" for i in range(count)]
    sim = Sim(names, [(names[a], names[b]) for a, b in edges])
    sim.link_all()
    for name in names:
        assert sim[name].network.reachable == set(names), (name, sim[name].network.reachable)
    return sim


@pytest.mark.parametrize("kind", sorted(TOPOLOGIES))
def test_every_member_gets_every_message_once_in_order(kind: str) -> None:
    sim = make(kind)
    members = []
    for name in sim.names:
        for n in range(2):
            fake = sim[name].client(f"{name[:2]}n{n}")
            sim.do(fake, "JOIN #multi")
            members.append(fake)
    sim.settle()
    for fake in members:
        sim.lines(fake)
    before = sim.casts()
    sent = []
    for round_ in range(3):
        for fake in members:
            text = f"{fake.nick} says {round_}"
            sent.append(text)
            sim.do(fake, f"PRIVMSG #multi :{text}")
    seen = {fake.nick: sim.texts(fake) for fake in members}
    for fake in members:
        mine = {t for t in sent if t.startswith(fake.nick + " ")}
        assert seen[fake.nick] == [t for t in sent if t not in mine], fake.nick
    # Each message crossed each link at most once (one cast per message and direction).
    after = sim.casts()
    messages = len(sent)
    for link, count in after.items():
        assert count - before[link] <= messages, (link, count - before[link])
    if kind in ("line", "star", "tree"):
        # A tree: every link is used, by exactly one copy of each message.
        used = {link: after[link] - before[link] for link in after if after[link] > before[link]}
        assert all(count == messages for count in used.values()), used


def test_relayed_packet_from_a_server_not_behind_the_peer_is_refused() -> None:
    sim = make("line")  # s0 - s1 - s2 - s3 - s4
    s1 = sim["s1.test"]
    victim = sim["s2.test"].client("victim")
    peer = s1.peer("s2.test")
    forged = Packet(
        "_message_private",
        {"_source": "psyc://s3.test/~mallory", "_target": victim.client.uniform},
        {"_nick": "mallory", "_prefix": "mallory!m@h", "_nick_target": "victim"},
        "you have been hacked",
    )
    refused = sim["s2.test"].network.refused
    peer.queue(render(forged))  # s1 claims to relay for s3, which is not behind it
    sim.run()
    assert sim["s2.test"].network.refused == refused + 1
    assert sim.texts(victim) == []
    honest = Packet(
        "_message_private",
        {"_source": "psyc://s0.test/~alice", "_target": victim.client.uniform},
        {"_nick": "alice", "_prefix": "alice!a@h", "_nick_target": "victim"},
        "hello",
    )
    peer.queue(render(honest))  # s0 is behind s1: relaying for it is fine
    sim.run()
    assert sim.texts(victim) == ["hello"]


def test_unicast_between_persons_across_two_hops() -> None:
    sim = make("line")
    alice = sim["s0.test"].client("alice")
    carol = sim["s2.test"].client("carol")
    sim.do(alice, "PRIVMSG carol :hi carol")
    assert sim.texts(carol) == ["hi carol"]
    sim.do(carol, "NOTICE alice :hi alice")
    assert sim.texts(alice, "NOTICE") == ["hi alice"]


def test_unreachable_home_refuses_join() -> None:
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")])
    sim.link_all()
    channel = next(
        f"#c{i}" for i in range(100) if sim["a.test"].network.home_of(f"#c{i}") == "b.test"
    )
    sim.cut("a.test", "b.test")
    alice = sim["a.test"].client("alice")
    sim.do(alice, f"JOIN {channel}")
    assert [line.command for line in sim.lines(alice)] == ["437"]


def test_unicast_survives_a_relay_that_dies_after_acknowledging_it() -> None:
    sim = Sim(
        ["a.test", "b.test", "c.test"],
        [("a.test", "b.test"), ("b.test", "c.test")],
        split_grace=30.0,
    )
    sim.link_all()
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    carol.send("PRIVMSG alice :through b")  # on the wire to b, not delivered yet
    relay = sim["b.test"]
    sim.run(limit=1)  # b has it and forwards it (now on the wire to a)
    relay.peer("c.test").circuit.acknowledge()  # b tells c it has it...
    to_c = [(p, d) for p, d in sim.wire if p.circuit is not None and p.circuit.links.me == "c.test"]
    sim.wire.clear()
    sim.wire.extend(to_c)
    sim.run()  # ...c forgets it on that link, and the copy for a is lost with b
    sim.kill("b.test")
    sim.tick(1.0)
    assert sim.texts(alice) == []
    sim.start("b.test")
    sim.connect("a.test", "b.test")
    sim.connect("b.test", "c.test")
    sim.settle()
    sim.tick(4.0)  # c sends it again when a.test has not acknowledged it for a while
    assert sim.texts(alice) == ["through b"]
    assert sim["c.test"].network.resent >= 1
    sim.tick(5.0)
    assert sim.texts(alice) == []  # and only once


def test_out_of_order_numbers_are_remembered_within_a_bound() -> None:
    from ircpsyc.psyc_backend.network import MAX_AHEAD, Inbound

    inbound = Inbound("boot")
    for seq in range(2, 2 * MAX_AHEAD + 10, 2):  # every other number: all holes
        assert inbound.fresh(seq)
    assert len(inbound.above) <= MAX_AHEAD
    assert not inbound.fresh(2)  # what was dropped from the memory counts as seen
