"""RENAME across servers, sans-IO (netsim): every server follows its home's rename,
the channel stays on its home, and a replica that missed the rename catches up."""

from __future__ import annotations

import dataclasses

from helpers import make_config
from netsim import Sim
from test_replica import LINE, NAMES, homed, join_all, line3, names, view_of

from ircpsyc.config import Config

CAP = "draft/channel-rename"
OPER_PASSWORD = "oper-pass-word"


def test_rename_reaches_every_server_and_keeps_the_home() -> None:
    sim = line3()
    old = homed(sim, "b.test", "#old")
    new = homed(sim, "c.test", "#new")  # its hash says c: it stays on b all the same
    bob = sim["b.test"].client("bob", [CAP])
    alice = sim["a.test"].client("alice", [CAP])
    carol = sim["c.test"].client("carol")
    join_all(sim, old, bob, alice, carol)
    sim.do(bob, f"TOPIC {old} :kept", f"MODE {old} +v carol")
    sim.settle()
    for fake in (alice, bob, carol):
        sim.lines(fake)

    sim.do(bob, f"RENAME {old} {new} :tidy")
    sim.settle()
    for fake in (alice, bob):
        got = [(m.command, m.params) for m in sim.lines(fake)]
        assert got == [("RENAME", [old, new, "tidy"])], (fake.nick, got)
    got = sim.lines(carol)
    assert [m.command for m in got] == ["PART", "JOIN", "332", "333", "353", "366"], got
    assert got[0].params == [old, "tidy"] and got[1].params == [new]
    for server in NAMES:
        assert sim[server].network.home_of(new) == "b.test", server
        assert sim[server].places.get(old) is None, server
    for server in NAMES:
        assert names(sim, server, new) == {"bob": "o", "alice": "", "carol": "v"}, server
        assert view_of(sim, server, new).topic == "kept"
    sim.do(carol, f"PRIVMSG {new} :still here")
    assert sim.texts(alice) == ["still here"] and sim.texts(bob) == ["still here"]
    # A newcomer on c (where the new name hashes) reaches the place on b.
    dave = sim["c.test"].client("dave")
    sim.do(dave, f"JOIN {new}")
    sim.settle()
    assert names(sim, "b.test", new) == {"bob": "o", "alice": "", "carol": "v", "dave": ""}
    assert sim["c.test"].places.place(new) is None  # no second channel on c


def test_a_replica_that_missed_the_rename_catches_up() -> None:
    sim = Sim(NAMES, LINE)
    sim.link_all()
    old = homed(sim, "a.test", "#gap")
    new = homed(sim, "a.test", "#gapnew")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    join_all(sim, old, alice, carol)
    sim.cut("a.test", "b.test")
    sim.do(alice, f"RENAME {old} {new} :while you were away")
    peer = sim["a.test"].peer("b.test")
    peer.acknowledge(peer.sent)  # as if the link queue overflowed: the rename is gone
    sim.connect("a.test", "b.test")
    sim.settle()  # c asks for the old uniform: the home sends the state, new name in it
    assert sim["a.test"].linking.masters.states_sent >= 1
    got = sim.lines(carol)
    assert [m.command for m in got if m.command in ("PART", "JOIN")] == ["PART", "JOIN"], got
    assert names(sim, "c.test", new) == {"alice": "o", "carol": ""}
    sim.do(alice, f"PRIVMSG {new} :after")
    assert sim.texts(carol) == ["after"]
    sim.do(carol, f"PRIVMSG {new} :back")
    assert sim.texts(alice) == ["back"]


class OperSim(Sim):
    """`line3`'s network, where each server has the operator `root`."""

    def config(self, name: str) -> Config:
        opers = make_config(opers=[("root", OPER_PASSWORD, "*@*")]).opers
        return dataclasses.replace(super().config(name), opers=opers)


def test_an_operator_elsewhere_renames_a_channel_it_is_not_in() -> None:
    """An operator on c renames a channel homed on a with no member on c: the home
    tells it the rename was done (a NOTICE, as it has no such channel to RENAME), and
    a refusal of the home reaches it as FAIL."""
    sim = OperSim(NAMES, LINE)
    sim.link_all()
    old = homed(sim, "a.test", "#old")
    new = homed(sim, "b.test", "#new")
    alice = sim["a.test"].client("alice", [CAP])
    sim.do(alice, f"JOIN {old}")
    sim.settle()
    root = sim["c.test"].client("root", [CAP])
    sim.do(root, f"OPER root {OPER_PASSWORD}")
    sim.settle()
    sim.lines(root)
    sim.lines(alice)
    sim.do(root, f"RENAME {old} {new} :tidy")
    sim.settle()
    assert [m.format() for m in sim.lines(root)] == [
        f":c.test NOTICE root :Channel {old} renamed to {new}"
    ]
    assert [(m.command, m.params) for m in sim.lines(alice) if m.command == "RENAME"] == [
        ("RENAME", [old, new, "tidy"])
    ]
    sim.do(root, f"RENAME {new} {new}")
    sim.settle()
    assert [m.format() for m in sim.lines(root)] == [
        f":c.test FAIL RENAME CANNOT_RENAME {new} {new} :That is not a new channel name"
    ]
