"""The per-server contexts across a network, sans-IO: each server's replica of another's
roster and channel directory follows that server's casts in counter order (a
`ContextSlave`); a lost cast brings the whole copy, and a cast that came while the
copy was on its way is applied after it."""

from __future__ import annotations

import pytest
from netsim import Sim
from test_operator_service import person

from ircpsyc.persons.person import Person
from ircpsyc.persons.roster import ACTIVE_STEP, FIELDS, SNAPSHOT_COLUMNS
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, columns

A, B = "a.test", "b.test"
ROSTER_B = f"psyc://{B}/$roster"


def net() -> Sim:
    sim = Sim([A, B], [(A, B)], pins={"#one": B, "#two": B})
    sim.link_all()
    return sim


def nicks_seen_by_a(sim: Sim) -> list[str]:
    return sorted(p.nick for p in sim[A].linking.roster.replicas[B].persons.values())


def test_a_lost_roster_cast_brings_the_whole_copy() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    person(sim, B, "bob")
    sim.tick(1.0)
    assert nicks_seen_by_a(sim) == ["bob"]
    master = sim[B].linking.roster.master
    master.counter += 1  # a cast of b's roster that a never got
    person(sim, B, "carol")  # the next one shows the gap: a asks for b's copy
    sim.tick(1.0)
    assert nicks_seen_by_a(sim) == ["bob", "carol"]
    assert sim[A].linking.roster.replicas[B].last == master.counter
    sim.do(alice, "WHOIS carol")
    assert [m.params[1] for m in sim.lines(alice) if m.command == "311"] == ["carol"]


def test_a_roster_cast_that_came_before_the_copy_is_applied_after_it() -> None:
    sim = net()
    person(sim, B, "bob")
    sim.tick(1.0)
    roster = sim[A].linking.roster
    last = roster.replicas[B].last
    bob = sim[B].core.clients["bob"]
    # zed entered b's roster with cast last+2; cast last+1 (yan entering) is lost.
    roster.cast_in(
        Packet(
            V.NOTICE_ROSTER_ENTER,
            {V.CONTEXT: ROSTER_B, V.SOURCE_RELAY: f"psyc://{B}/~zed", V.COUNTER: str(last + 2)},
            {"_nick": "zed", "_user": "zed", "_host": "10.0.0.9", "_realname": "Zed"},
        )
    )
    assert nicks_seen_by_a(sim) == ["bob"]  # it waits: a has asked b for its copy
    row = {name: "" for name in FIELDS}
    rows = [
        (bob.uniform, *{**row, "nick": "bob", "user": bob.user, "host": bob.host}.values()),
        (f"psyc://{B}/~yan", *{**row, "nick": "yan", "user": "yan", "host": "h"}.values()),
    ]
    roster.snapshot_in(
        Packet(
            V.STATUS_ROSTER,
            {V.CONTEXT: ROSTER_B, V.TARGET: f"psyc://{A}/", V.COUNTER: str(last + 1)},
            columns(SNAPSHOT_COLUMNS, rows),
        )
    )
    assert nicks_seen_by_a(sim) == ["bob", "yan", "zed"]
    assert roster.replicas[B].last == last + 2


def test_a_lost_directory_cast_brings_the_whole_copy() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    bob = person(sim, B, "bob")
    sim.do(bob, "JOIN #one")
    sim.tick(2.0)
    directory = sim[A].linking.directory
    assert sorted(directory.replicas[B].places) == ["#one"]
    master = sim[B].linking.directory.master
    master.counter += 1  # a cast of b's directory that a never got
    sim.do(bob, "JOIN #two")
    sim.tick(2.0)  # b casts what changed; a sees the gap and asks for the copy
    assert sorted(directory.replicas[B].places) == ["#one", "#two"]
    assert directory.replicas[B].last == master.counter
    sim.do(alice, "LIST")
    assert sorted(m.params[1] for m in sim.lines(alice) if m.command == "322") == [
        "#one",
        "#two",
    ]


# -- the sweep of local persons


def test_the_roster_sweep_visits_only_the_persons_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linked, the sweep each second compares only the persons told changed (modes,
    host, realname, a step of activity), not every person: idle ones cost it nothing,
    and what changed still reaches the other server."""
    sim = net()
    idle = [person(sim, B, f"idle{i}") for i in range(40)]
    talker = person(sim, B, "talker")
    sim.tick(1.0)
    roster = sim[B].linking.roster
    visited: list[str] = []
    update = roster._update

    def counted(client: Person) -> None:
        visited.append(client.nick)
        update(client)

    monkeypatch.setattr(roster, "_update", counted)
    sim.tick(ACTIVE_STEP * 2)  # 60 sweeps of 41 idle persons
    assert visited == []
    sim.do(talker, "SETNAME :Tom Talker", "PRIVMSG idle0 :one", "PRIVMSG idle0 :two")
    sim.do(idle[7], "MODE idle7 +i")
    sim.tick(1.0)
    assert visited == ["talker", "idle7"]  # once each, however many changes
    seen = {p.nick: p for p in sim[A].linking.roster.replicas[B].persons.values()}
    assert seen["talker"].realname == "Tom Talker" and "i" in seen["idle7"].modes
    assert sim[B].core.clock() - seen["talker"].last_active < ACTIVE_STEP
    visited.clear()
    last = sim[B].core.clients["talker"].last_active
    assert sim[B].core.clock() // ACTIVE_STEP == last // ACTIVE_STEP
    sim.do(talker, "PRIVMSG idle0 :three")  # the same step of activity: nothing to send
    sim.tick(ACTIVE_STEP)
    assert visited == []
