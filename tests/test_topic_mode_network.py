"""TOPIC and MODE on a channel homed on another server, sans-IO: a labeled command
gets the home's answer in its labeled response (the TOPIC/MODE line, the numerics
of a refusal, an ACK when nothing changed, a FAIL when the home does not answer),
not an empty ACK followed by an unlabeled line; an unlabeled one sees what it saw.

Two servers (a - b); `#x` (+t) is pinned to a; alice founded it on a, bob (an op of
it) and carol (a plain member) are on b."""

from __future__ import annotations

from helpers import FakeClient
from irctokens.line import Line
from netsim import OPER_PASSWORD, OperSim, Sim

A, B = "a.test", "b.test"
CAPS = ["labeled-response", "batch"]


def channel_on_a() -> tuple[Sim, FakeClient, FakeClient, FakeClient]:
    sim = Sim([A, B], [(A, B)], pins={"#x": A})
    sim.link_all()
    alice = sim[A].client("alice", CAPS)
    bob = sim[B].client("bob", CAPS)
    carol = sim[B].client("carol", CAPS)
    sim.do(alice, "JOIN #x")
    sim.do(bob, "JOIN #x")
    sim.do(carol, "JOIN #x")
    sim.do(alice, "MODE #x +o bob")
    sim.tick(1.0)
    alice.take(), bob.take(), carol.take()
    replica = sim[B].core.places.get("#x")
    assert replica is not None and not sim[B].core.router.is_local(replica.uniform)
    return sim, alice, bob, carol


def labeled(out: list[Line], label: str) -> list[Line]:
    """The labeled response of `label`: its line, or its batch's lines."""
    first = next(i for i, ln in enumerate(out) if ln.tags and ln.tags.get("label") == label)
    head = out[first]
    if head.command != "BATCH":
        return [head]
    ref = head.params[0][1:]
    return [ln for ln in out[first + 1 :] if ln.tags and ln.tags.get("batch") == ref]


def said(lines: list[Line]) -> list[tuple[str, str, list[str]]]:
    """(who, command, params) of lines."""
    return [((ln.hostmask.nickname if ln.hostmask else ""), ln.command, ln.params) for ln in lines]


def settled(sim: Sim) -> None:
    answers = sim[B].core.place_answers
    assert not answers.requests.pending and not answers.waiting


def test_a_labeled_topic_gets_the_homes_topic_line() -> None:
    sim, alice, bob, _carol = channel_on_a()
    assert bob.send("@label=t1 TOPIC #x :hello there") == []  # a answers
    sim.run()
    out = bob.take()
    assert len(out) == 1 and out[0].tags is not None and out[0].tags["label"] == "t1"
    assert said(out) == [("bob", "TOPIC", ["#x", "hello there"])]
    assert said(alice.take()) == [("bob", "TOPIC", ["#x", "hello there"])]
    home = sim[A].core.places.get("#x")
    assert home is not None and home.topic == "hello there"
    settled(sim)


def test_labeled_modes_get_the_homes_mode_line_or_an_ack() -> None:
    sim, _alice, bob, carol = channel_on_a()
    for label, change in (("m1", "+o"), ("m2", "-o")):
        assert bob.send(f"@label={label} MODE #x {change} carol") == []
        sim.run()
        out = bob.take()
        assert len(out) == 1 and out[0].tags is not None and out[0].tags["label"] == label
        assert said(out) == [("bob", "MODE", ["#x", change, "carol"])]
        assert said(carol.take()) == [("bob", "MODE", ["#x", change, "carol"])]
    # Nothing to change at the home: the labeled response still ends, with an ACK.
    assert bob.send("@label=m3 MODE #x -o carol") == []
    sim.run()
    assert [ln.format() for ln in bob.take()] == [f"@label=m3 :{B} ACK"]
    # A ban: the MODE line, and the replica here lists it at once.
    assert bob.send("@label=m4 MODE #x +b *!*@evil.example") == []
    sim.run()
    out = bob.take()
    assert out[0].tags is not None and out[0].tags["label"] == "m4"
    assert said(out) == [("bob", "MODE", ["#x", "+b", "*!*@evil.example"])]
    listed = [ln.params[2] for ln in bob.send("MODE #x +b") if ln.command == "367"]
    assert listed == ["*!*@evil.example"]
    settled(sim)


def test_a_refusal_at_the_home_is_in_the_labeled_response() -> None:
    sim, _alice, bob, carol = channel_on_a()
    assert carol.send("@label=r1 MODE #x +o carol") == []
    sim.run()
    out = carol.take()
    assert len(out) == 1 and out[0].tags is not None and out[0].tags["label"] == "r1"
    assert out[0].command == "482" and out[0].params[:2] == ["carol", "#x"]
    assert carol.send("@label=r2 TOPIC #x :mine now") == []  # +t: ops only
    sim.run()
    out = carol.take()
    assert out[0].tags is not None and out[0].tags["label"] == "r2"
    assert [(ln.command, ln.params[:2]) for ln in out] == [("482", ["carol", "#x"])]
    # Several parts (a refusal and a change): one labeled batch holds them all.
    assert bob.send("@label=r3 MODE #x +ob nobody *!*@spam.example") == []
    sim.run()
    out = bob.take()
    assert out[0].command == "BATCH" and out[0].params[1] == "labeled-response"
    parts = labeled(out, "r3")
    assert [ln.command for ln in parts] == ["401", "MODE"]
    assert said(parts[1:]) == [("bob", "MODE", ["#x", "+b", "*!*@spam.example"])]
    assert out[-1].command == "BATCH" and out[-1].params[0] == "-" + out[0].params[0][1:]
    settled(sim)


def test_unlabeled_commands_see_what_they_saw() -> None:
    sim, _alice, bob, carol = channel_on_a()
    assert bob.send("TOPIC #x :plain") == []
    sim.run()
    out = bob.take()
    assert said(out) == [("bob", "TOPIC", ["#x", "plain"])]
    assert not out[0].tags or "label" not in out[0].tags
    bob.send("MODE #x +v carol")
    sim.run()
    assert said(bob.take()) == [("bob", "MODE", ["#x", "+v", "carol"])]
    bob.send("MODE #x +v carol")  # nothing changes: nothing to say, as ever
    sim.run()
    assert bob.take() == []
    carol.send("MODE #x +o carol")
    sim.run()
    assert [(ln.command, ln.params[:2]) for ln in carol.take()] == [("482", ["carol", "#x"])]
    settled(sim)


def test_no_answer_from_the_home_is_a_labeled_fail() -> None:
    sim, _alice, bob, _carol = channel_on_a()
    assert bob.send("@label=f1 MODE #x +m") == []
    sim.cut(A, B)  # the request is lost with the link
    sim.tick(sim[B].core.config.network.request_timeout + 1.0)
    out = [ln for ln in bob.take() if ln.tags and "label" in ln.tags]
    assert [ln.format() for ln in out] == [
        f"@label=f1 :{B} FAIL MODE TEMPORARILY_UNAVAILABLE #x "
        f":{A} did not answer in time (the change may still be made)"
    ]
    settled(sim)


def test_an_operators_override_at_the_home_is_its_labeled_response() -> None:
    """An operator on b overrides #x's +t: the override notice and the TOPIC line are
    its labeled batch; in #y, with nobody on b, a refusal is its labeled reply and a
    change it cannot see (it is not in) an ACK, once the home made it."""
    sim = OperSim([A, B], [(A, B)], pins={"#x": A, "#y": A})
    sim.link_all()
    alice = sim[A].client("alice", CAPS)
    root = sim[B].client("root", CAPS)
    sim.do(root, f"OPER root {OPER_PASSWORD}")
    sim.do(alice, "JOIN #x", "JOIN #y")
    sim.do(root, "JOIN #x")
    sim.tick(1.0)
    alice.take(), root.take()
    assert root.send("@label=o1 TOPIC #x :as the operator says") == []
    sim.run()
    out = root.take()
    assert out[0].command == "BATCH" and out[0].tags is not None and out[0].tags["label"] == "o1"
    parts = labeled(out, "o1")
    assert [ln.command for ln in parts] == ["NOTICE", "TOPIC"]
    assert "override: TOPIC" in parts[0].params[1]
    assert said(parts[1:]) == [("root", "TOPIC", ["#x", "as the operator says"])]
    assert sim[B].core.places.get("#y") is None  # nobody here: the directory's summary
    assert root.send("@label=o2 MODE #y +o nobody") == []
    sim.run()
    out = root.take()
    assert [(ln.command, ln.params[1]) for ln in out] == [("401", "nobody")]
    assert out[0].tags is not None and out[0].tags["label"] == "o2"
    assert root.send("@label=o3 MODE #y +s") == []
    sim.run()
    assert [ln.format() for ln in root.take()] == [f"@label=o3 :{B} ACK"]
    home = sim[A].core.places.get("#y")
    assert home is not None and "s" in home.flags
    settled(sim)


def test_the_other_sessions_of_the_person_see_the_change_as_ever() -> None:
    """Two sessions of one account on b: the one that asked gets the MODE line as its
    labeled response, the other one unlabeled, at once."""
    sim = Sim([A, B], [(A, B)], services=True, pins={"#x": A})
    sim.link_all()
    nickserv = sim[B].core.nickserv
    assert nickserv is not None
    name = next(f"acct{i}" for i in range(1000) if nickserv.sync.home_of_name(f"acct{i}") == B)
    phone = sim[B].client(name, CAPS)
    sim.do(phone, "PRIVMSG NickServ :REGISTER secret-pw")
    tablet = FakeClient(sim[B], "127.0.0.1")  # type: ignore[arg-type]
    for text in ("CAP LS 302", "CAP REQ :labeled-response batch"):
        tablet.send(text)
    for text in (f"PASS {name}@tablet:secret-pw", "NICK other", "USER t 0 * :T", "CAP END"):
        tablet.send(text)
    sim.run()
    assert tablet.session.client is phone.session.client
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x")
    sim.do(phone, "JOIN #x")
    sim.do(alice, f"MODE #x +o {name}")
    sim.tick(1.0)
    phone.take(), tablet.take()
    assert tablet.send("@label=mc MODE #x +m") == []
    sim.run()
    out = tablet.take()
    assert len(out) == 1 and out[0].tags is not None and out[0].tags["label"] == "mc"
    assert said(out) == [(name, "MODE", ["#x", "+m"])]
    out = phone.take()
    assert said(out) == [(name, "MODE", ["#x", "+m"])] and not out[0].tags
    settled(sim)
