"""Federation: a server outside the network (its own PSYC server, linked to one of
ours) hosts a place our users enter as `#psyc://host/@name`; its persons show as
`psyc://host/~nick`.  Beyond JOIN and messages (test_replica.py): topic, part,
kick, ban, WHOIS, private replies and the loss of the foreign server."""

from __future__ import annotations

from netsim import Sim

NAMES = ["a.test", "b.test", "c.test"]
LINE = [("a.test", "b.test"), ("b.test", "c.test")]
ROOM = "#psyc://c.test/@lounge"


def federated() -> tuple[Sim, object, object]:
    """a and b are one network; c is a PSYC server of its own, linked to b.  carol
    (on c) has #lounge, alice (on a) entered it from outside."""
    sim = Sim(NAMES, LINE, servers=["a.test", "b.test"], split_grace=2.0)
    sim.link_all()
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    sim.do(carol, "JOIN #lounge")
    sim.do(alice, f"JOIN {ROOM}")
    sim.settle()
    sim.lines(alice)
    sim.lines(carol)
    return sim, alice, carol


def test_topic_both_ways_and_topic_query() -> None:
    sim, alice, carol = federated()
    sim.do(carol, "TOPIC #lounge :set at home")
    line = next(x for x in sim.lines(alice) if x.command == "TOPIC")
    assert line.source.startswith("psyc://c.test/~carol!")
    assert line.params == [ROOM, "set at home"]
    sim.do(alice, f"TOPIC {ROOM}")
    got = sim.lines(alice)
    assert next(x for x in got if x.command == "332").params[-1] == "set at home"
    sim.do(alice, f"TOPIC {ROOM} :from outside")
    assert "482" in [x.command for x in sim.lines(alice)]  # +t, and alice is no op there
    sim.do(carol, "MODE #lounge +o psyc://a.test/~alice")
    sim.lines(alice)
    sim.lines(carol)
    sim.do(alice, f"TOPIC {ROOM} :from outside")
    line = next(x for x in sim.lines(carol) if x.command == "TOPIC")
    assert line.source.startswith("psyc://a.test/~alice!")
    assert line.params == ["#lounge", "from outside"]


def test_part_kick_and_ban_are_decided_by_the_foreign_home() -> None:
    sim, alice, carol = federated()
    sim.do(alice, f"PART {ROOM} :bye")
    line = next(x for x in sim.lines(carol) if x.command == "PART")
    assert line.source.startswith("psyc://a.test/~alice!") and line.params[-1] == "bye"
    assert [x.command for x in sim.lines(alice)][:1] == ["PART"]
    sim.do(alice, f"JOIN {ROOM}")
    sim.lines(alice)
    sim.lines(carol)
    sim.do(carol, "MODE #lounge +b *!*@127.0.0.1", "KICK #lounge psyc://a.test/~alice :out")
    kick = next(x for x in sim.lines(alice) if x.command == "KICK")
    assert kick.params == [ROOM, "alice", "out"]
    sim.do(alice, f"JOIN {ROOM}")
    assert "474" in [x.command for x in sim.lines(alice)]  # the ban is c's, and holds
    assert sim["a.test"].places.get(ROOM) is None or not sim["a.test"].places.get(ROOM).members


def test_whois_and_private_replies() -> None:
    sim, alice, carol = federated()
    sim.do(alice, "WHOIS psyc://c.test/~carol")
    got = sim.lines(alice)
    assert "311" in [x.command for x in got], [x.format() for x in got]
    sim.do(alice, "PRIVMSG psyc://c.test/~carol :psst")
    line = next(x for x in sim.lines(carol) if x.command == "PRIVMSG")
    sim.do(carol, f"PRIVMSG {line.source.split('!')[0]} :psst back")
    back = next(x for x in sim.lines(alice) if x.command == "PRIVMSG")
    assert back.source.startswith("psyc://c.test/~carol!")
    assert back.params == ["alice", "psst back"]


def test_losing_the_foreign_server_empties_its_place_for_us() -> None:
    sim, alice, carol = federated()
    sim.cut("b.test", "c.test")
    sim.tick(4.0)  # past the split grace
    got = sim.lines(alice)
    gone = [x for x in got if x.command in ("QUIT", "PART", "KICK")]
    assert gone, [x.format() for x in got]
    assert gone[0].source.startswith("psyc://c.test/~carol!")
    sim.do(alice, f"PRIVMSG {ROOM} :anyone?")
    error = next(x for x in sim.lines(alice) if x.command == "404")
    assert "c.test is unreachable" in error.params[-1]
    sim.connect("b.test", "c.test")  # back: alice is in the room again, and can talk
    sim.settle()
    sim.lines(alice)
    sim.do(alice, f"PRIVMSG {ROOM} :back")
    sim.settle()
    assert "back" in sim.texts(carol)
