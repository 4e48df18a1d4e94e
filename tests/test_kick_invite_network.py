"""KICK and INVITE in a channel homed on another server, sans-IO: a labeled command
gets the home's answer in its labeled response (the KICK line, 341 RPL_INVITING, the
numerics of a refusal, a FAIL when the home does not answer), not an empty ACK
followed by an unlabeled line; an unlabeled one sees what it saw.

Two servers (a - b); `#x` is pinned to a; alice founded it on a, bob (an op of it),
carol and dave (plain members) are on b, erin (not in #x) too."""

from __future__ import annotations

from helpers import FakeClient
from irctokens.line import Line
from netsim import OPER_PASSWORD, OperSim, Sim

A, B = "a.test", "b.test"
CAPS = ["labeled-response", "batch"]


def channel_on_a() -> tuple[Sim, dict[str, FakeClient]]:
    sim = Sim([A, B], [(A, B)], pins={"#x": A})
    sim.link_all()
    people = {"alice": sim[A].client("alice", CAPS)}
    for nick in ("bob", "carol", "dave", "erin"):
        people[nick] = sim[B].client(nick, CAPS)
    for nick in ("alice", "bob", "carol", "dave"):
        sim.do(people[nick], "JOIN #x")
    sim.do(people["alice"], "MODE #x +o bob")
    sim.tick(1.0)
    for client in people.values():
        client.take()
    replica = sim[B].core.places.get("#x")
    assert replica is not None and not sim[B].core.router.is_local(replica.uniform)
    return sim, people


def only_line(out: list[Line], label: str) -> Line:
    """The one line of a labeled response (it has the label)."""
    assert len(out) == 1, [ln.format() for ln in out]
    assert out[0].tags is not None and out[0].tags.get("label") == label
    return out[0]


def settled(sim: Sim) -> None:
    answers = sim[B].core.place_answers
    assert not answers.requests.pending and not answers.waiting


def members_of_home(sim: Sim) -> set[str]:
    home = sim[A].core.places.get("#x")
    assert home is not None
    return {member.nick for member in home.members.values()}


def test_a_labeled_kick_gets_the_homes_kick_line() -> None:
    sim, people = channel_on_a()
    bob, carol, alice = people["bob"], people["carol"], people["alice"]
    assert bob.send("@label=k1 KICK #x carol :bye") == []  # a answers
    sim.run()
    kick = only_line(bob.take(), "k1")
    assert kick.command == "KICK" and kick.params == ["#x", "carol", "bye"]
    assert kick.hostmask is not None and kick.hostmask.nickname == "bob"
    assert [(ln.command, ln.params) for ln in carol.take()] == [("KICK", ["#x", "carol", "bye"])]
    assert [ln.command for ln in alice.take()] == ["KICK"]
    assert "carol" not in members_of_home(sim)
    settled(sim)


def test_a_refused_kick_is_the_homes_numeric_in_the_labeled_response() -> None:
    sim, people = channel_on_a()
    carol, dave, bob = people["carol"], people["dave"], people["bob"]
    assert carol.send("@label=k2 KICK #x dave") == []  # not an op: 482 from a
    sim.run()
    refusal = only_line(carol.take(), "k2")
    assert refusal.command == "482" and refusal.params[:2] == ["carol", "#x"]
    assert dave.take() == [] and "dave" in members_of_home(sim)
    assert bob.send("@label=k3 KICK #x nobody") == []  # no such member: 441
    sim.run()
    refusal = only_line(bob.take(), "k3")
    assert refusal.command == "441" and refusal.params[:3] == ["bob", "nobody", "#x"]
    settled(sim)


def test_a_labeled_invite_gets_the_homes_341() -> None:
    sim, people = channel_on_a()
    bob, erin, alice = people["bob"], people["erin"], people["alice"]
    assert bob.send("@label=i1 INVITE erin #x") == []
    sim.run()
    inviting = only_line(bob.take(), "i1")
    assert inviting.command == "341" and inviting.params == ["bob", "erin", "#x"]
    assert [(ln.command, ln.params) for ln in erin.take()] == [("INVITE", ["erin", "#x"])]
    assert alice.take() == []  # no invite-notify asked for
    home = sim[A].core.places.place("#x")
    assert home is not None and any("erin" in invited for invited in home.invited)
    settled(sim)


def test_an_away_target_is_said_after_the_homes_341() -> None:
    sim, people = channel_on_a()
    bob, erin = people["bob"], people["erin"]
    sim.do(erin, "AWAY :lunch")
    erin.take()
    assert bob.send("@label=i2 INVITE erin #x") == []
    sim.run()
    out = bob.take()
    assert out[0].command == "BATCH" and out[0].tags is not None
    assert out[0].tags["label"] == "i2"
    assert [(ln.command, ln.params[1:]) for ln in out[1:-1]] == [
        ("341", ["erin", "#x"]),
        ("301", ["erin", "lunch"]),
    ]
    settled(sim)


def test_a_refused_invite_is_the_homes_numeric_in_the_labeled_response() -> None:
    sim, people = channel_on_a()
    bob, carol, erin = people["bob"], people["carol"], people["erin"]
    assert bob.send("@label=i3 INVITE carol #x") == []  # already in: 443
    sim.run()
    refusal = only_line(bob.take(), "i3")
    assert refusal.command == "443" and refusal.params[:3] == ["bob", "carol", "#x"]
    sim.do(people["alice"], "MODE #x +i")
    sim.tick(1.0)
    bob.take(), carol.take()
    assert carol.send("@label=i4 INVITE erin #x") == []  # +i: halfops and above only
    sim.run()
    refusal = only_line(carol.take(), "i4")
    assert refusal.command == "482" and refusal.params[:2] == ["carol", "#x"]
    assert erin.take() == []
    settled(sim)


def test_unlabeled_kick_and_invite_see_what_they_saw() -> None:
    sim, people = channel_on_a()
    bob, carol, dave = people["bob"], people["carol"], people["dave"]
    assert bob.send("INVITE erin #x") == []
    sim.run()
    out = bob.take()
    assert [(ln.command, ln.params) for ln in out] == [("341", ["bob", "erin", "#x"])]
    assert not out[0].tags or "label" not in out[0].tags
    carol.send("KICK #x dave")
    sim.run()
    assert [(ln.command, ln.params[:2]) for ln in carol.take()] == [("482", ["carol", "#x"])]
    bob.send("KICK #x dave :out")
    sim.run()
    out = bob.take()
    assert [(ln.command, ln.params) for ln in out] == [("KICK", ["#x", "dave", "out"])]
    assert not out[0].tags or "label" not in out[0].tags
    assert [ln.command for ln in dave.take()] == ["KICK"]
    settled(sim)


def test_several_kicks_in_one_command_are_answered_as_they_come() -> None:
    """One labeled reply cannot wait for several answers: an ACK, then each KICK."""
    sim, people = channel_on_a()
    bob = people["bob"]
    out = bob.send("@label=k4 KICK #x carol,dave")
    assert [(ln.command, ln.tags) for ln in out] == [("ACK", {"label": "k4"})]
    sim.run()
    assert [ln.params[1] for ln in bob.take() if ln.command == "KICK"] == ["carol", "dave"]
    assert members_of_home(sim) == {"alice", "bob"}
    settled(sim)


def test_no_answer_from_the_home_is_a_labeled_fail() -> None:
    sim, people = channel_on_a()
    bob = people["bob"]
    late = f":{A} did not answer in time (the change may still be made)"
    for label, command, name in (
        ("f1", "KICK #x carol", "KICK"),
        ("f2", "INVITE erin #x", "INVITE"),
    ):
        assert bob.send(f"@label={label} {command}") == []
        sim.cut(A, B)  # the request is lost with the link
        sim.tick(sim[B].core.config.network.request_timeout + 1.0)
        out = [ln for ln in bob.take() if ln.tags and "label" in ln.tags]
        assert [ln.format() for ln in out] == [
            f"@label={label} :{B} FAIL {name} TEMPORARILY_UNAVAILABLE #x {late}"
        ]
        settled(sim)
        sim.link_all()
        sim.tick(1.0)
        bob.take()


def test_an_operators_override_at_the_home_is_its_labeled_response() -> None:
    """An operator on b, a plain member of #x (+i), kicks and invites there: the
    override notice and the KICK line, or the notice and 341, are one labeled batch."""
    sim = OperSim([A, B], [(A, B)], pins={"#x": A})
    sim.link_all()
    alice = sim[A].client("alice", CAPS)
    root = sim[B].client("root", CAPS)
    carol = sim[B].client("carol", CAPS)
    erin = sim[B].client("erin", CAPS)
    sim.do(root, f"OPER root {OPER_PASSWORD}")
    sim.do(alice, "JOIN #x")
    sim.do(root, "JOIN #x")
    sim.do(carol, "JOIN #x")
    sim.do(alice, "MODE #x +i")
    sim.tick(1.0)
    for client in (alice, root, carol, erin):
        client.take()
    for label, command, last in (("o1", "KICK #x carol", "KICK"), ("o2", "INVITE erin #x", "341")):
        assert root.send(f"@label={label} {command}") == []
        sim.run()
        out = root.take()
        assert out[0].command == "BATCH" and out[0].tags is not None
        assert out[0].tags["label"] == label
        parts = out[1:-1]
        assert [ln.command for ln in parts] == ["NOTICE", last], [ln.format() for ln in out]
        assert "override" in parts[0].params[1]
        assert out[-1].command == "BATCH" and out[-1].params[0] == "-" + out[0].params[0][1:]
        settled(sim)
    assert "carol" not in members_of_home(sim)
    assert [ln.command for ln in erin.take()] == ["INVITE"]
