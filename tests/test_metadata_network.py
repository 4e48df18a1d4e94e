"""Channel metadata across the network, sans-IO: METADATA SET on a channel homed on
another server is answered with the home's answer (labeled-response), not an empty
ACK; a refusal at the home is a FAIL, and a home that does not answer is one too.

Two servers (a - b); `#x` is pinned to a, bob (an op of it) is on b."""

from __future__ import annotations

from helpers import FakeClient
from irctokens.line import Line
from netsim import Sim

A, B = "a.test", "b.test"
CAPS = ["labeled-response", "batch", "draft/metadata-2"]


def channel_on_a() -> tuple[Sim, FakeClient, FakeClient]:
    """alice (founder) on a and bob (op, with labeled-response) on b, both in #x."""
    sim = Sim([A, B], [(A, B)], pins={"#x": A})
    sim.link_all()
    alice = sim[A].client("alice", CAPS)
    bob = sim[B].client("bob", CAPS)
    sim.do(alice, "JOIN #x")
    sim.do(bob, "JOIN #x")
    sim.do(alice, "MODE #x +o bob")
    sim.tick(1.0)
    alice.take(), bob.take()
    replica = sim[B].core.places.get("#x")  # bob's server has a replica
    assert replica is not None and not sim[B].core.router.is_local(replica.uniform)
    return sim, alice, bob


def formats(lines: list[Line]) -> list[str]:
    return [ln.format() for ln in lines]


def test_a_labeled_set_on_a_channel_homed_elsewhere_gets_the_homes_answer() -> None:
    sim, alice, bob = channel_on_a()
    alice.send("METADATA * SUB color")
    assert bob.send("@label=m1 METADATA #x SET color :blue") == []  # a answers
    sim.run()
    assert formats(bob.take()) == [f"@label=m1 :{B} 761 bob #x color * blue"]
    home = sim[A].core.places.get("#x")
    assert home is not None and home.metadata == {"color": "blue"}
    assert formats(alice.take())[-1] == f":{A} 761 alice #x color * blue"
    # Unlabeled, and the unset: the answer is still the home's.
    bob.send("METADATA #x SET color")
    sim.run()
    assert formats(bob.take()) == [f":{B} 766 bob #x color :key not set"]
    assert home.metadata == {} and not sim[B].core.place_answers.requests.pending
    # CLEAR: the batch of the keys the home removed carries the label.
    sim.do(bob, "METADATA #x SET a 1", "METADATA #x SET b 2")
    bob.take()
    assert bob.send("@label=m3 METADATA #x CLEAR") == []
    sim.run()
    out = bob.take()
    ref = out[0].params[0][1:]
    assert formats(out) == [
        f"@label=m3 :{B} BATCH +{ref} metadata #x",
        f"@batch={ref} :{B} 766 bob #x a :key not set",
        f"@batch={ref} :{B} 766 bob #x b :key not set",
        f":{B} BATCH -{ref}",
    ]


def test_a_refusal_at_the_home_is_the_labeled_fail() -> None:
    sim, alice, bob = channel_on_a()
    assert bob.send("@label=m1 METADATA #x SET color :blue") == []
    alice.send("MODE #x -o bob")  # handled at a before bob's request gets there
    sim.run()
    out = [ln for ln in bob.take() if ln.tags and "label" in ln.tags]
    assert formats(out) == [
        f"@label=m1 :{B} FAIL METADATA KEY_NO_PERMISSION #x color :permission denied"
    ]
    home = sim[A].core.places.get("#x")
    assert home is not None and home.metadata == {}


def test_no_answer_from_the_home_is_a_labeled_fail() -> None:
    sim, _alice, bob = channel_on_a()
    assert bob.send("@label=m1 METADATA #x SET color :blue") == []
    sim.cut(A, B)  # the request is lost with the link
    timeout = sim[B].core.config.network.request_timeout
    sim.tick(timeout + 1.0)
    out = [ln for ln in bob.take() if ln.tags and "label" in ln.tags]
    assert formats(out) == [
        f"@label=m1 :{B} FAIL METADATA TEMPORARILY_UNAVAILABLE #x color "
        f":{A} did not answer in time (the change may still be made)"
    ]
    assert not sim[B].core.place_answers.requests.pending
    assert not sim[B].core.place_answers.waiting
