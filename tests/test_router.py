"""The router: registration, lookup, resolvers and bounces of unknown targets."""

from __future__ import annotations

from helpers import Recorder

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.router import EVERY_PLACE, Router

HOST = "irc.example"
ALICE = f"psyc://{HOST}/~Alice"


def test_register_and_lookup_is_case_insensitive() -> None:
    router = Router(HOST)
    alice = Recorder(ALICE)
    router.register(alice)
    assert router.lookup(ALICE) is alice
    assert router.lookup("psyc://IRC.example/~alice") is alice
    assert router.lookup("psyc://irc.example/~ALICE") is alice
    assert router.lookup("psyc://irc.example/@alice") is None


def test_register_under_another_uniform() -> None:
    router = Router(HOST)
    entity = Recorder(ALICE)
    router.register(entity, f"psyc://{HOST}/$alias")
    assert router.lookup(f"psyc://{HOST}/$ALIAS") is entity
    assert router.lookup(ALICE) is None


def test_unregister_only_removes_the_given_entity() -> None:
    router = Router(HOST)
    old, new = Recorder(ALICE), Recorder(ALICE)
    router.register(old)
    router.register(new)  # replaces
    assert router.lookup(ALICE) is new
    router.unregister(ALICE, old)  # stale: must not remove the new one
    assert router.lookup(ALICE) is new
    router.unregister(ALICE, new)
    assert router.lookup(ALICE) is None
    router.register(new)
    router.unregister("psyc://irc.example/~ALICE")
    assert router.lookup(ALICE) is None


def test_send_delivers_the_same_object() -> None:
    router = Router(HOST)
    alice = Recorder(ALICE)
    router.register(alice)
    packet = Packet("_message_private", {"_source": "psyc://x/~b", "_target": ALICE.upper()})
    assert router.send(packet) is True
    assert alice.packets == [packet]
    assert alice.packets[0] is packet
    assert router.delivered == 1
    assert router.undeliverable == 0


def test_resolver_creates_entities_on_demand() -> None:
    router = Router(HOST)
    made: list[Recorder] = []
    asked: list[str] = []

    def resolver(key: str, packet: Packet) -> Recorder | None:
        asked.append(key)
        if "/@" not in key:
            return None
        entity = Recorder(key)
        made.append(entity)
        router.register(entity)
        return entity

    router.add_resolver(resolver)
    packet = Packet("_request_enter", {"_source": ALICE, "_target": f"psyc://{HOST}/@Lobby"})
    assert router.send(packet)
    assert len(made) == 1
    assert made[0].packets == [packet]
    # The resolver sees the normal form of the target.
    assert asked == [f"psyc://{HOST}/@lobby"]
    # Second time the registered entity answers; the resolver is not asked again.
    router.send(Packet("_message_public", {"_source": ALICE, "_target": f"psyc://{HOST}/@LOBBY"}))
    assert len(made) == 1 and len(made[0].packets) == 2
    assert asked == [f"psyc://{HOST}/@lobby"]


def test_first_resolver_that_answers_wins() -> None:
    router = Router(HOST)
    first, second = Recorder("a"), Recorder("b")
    router.add_resolver(lambda key, packet: None)
    router.add_resolver(lambda key, packet: first)
    router.add_resolver(lambda key, packet: second)
    router.send(Packet("_m", {"_target": "psyc://x/~y"}))
    assert len(first.packets) == 1
    assert second.packets == []


def test_unknown_person_bounces_error_to_source() -> None:
    router = Router(HOST)
    alice = Recorder(ALICE)
    router.register(alice)
    target = f"psyc://{HOST}/~Nobody"
    packet = Packet(
        "_message_private",
        {"_source": ALICE, "_target": target, "_tag": "t1"},
        {"_nick_target": "Nobody", "_nick": "Alice", "_other": "x"},
        "hi",
    )
    assert router.send(packet) is False
    assert router.undeliverable == 1
    assert len(alice.packets) == 1
    error = alice.packets[0]
    assert error.method == "_error_unknown_name_user"
    assert error.source == target
    assert error.target == ALICE
    assert error.routing["_tag_relay"] == "t1"
    assert error.get("_uniform") == target
    assert error.get("_method_relay") == "_message_private"
    assert error.get("_nick_target") == "Nobody"
    assert "_other" not in error.vars


def test_unknown_place_bounces_place_error() -> None:
    router = Router(HOST)
    alice = Recorder(ALICE)
    router.register(alice)
    target = f"psyc://{HOST}/@nowhere"
    router.send(
        Packet(
            "_request_set_topic",
            {"_source": ALICE, "_target": target},
            {"_nick_place": "#nowhere"},
        )
    )
    assert alice.methods() == ["_error_unknown_name_place"]
    error = alice.packets[0]
    assert error.get("_nick_place") == "#nowhere"
    assert "_tag_relay" not in error.routing


def test_answers_are_never_bounced() -> None:
    router = Router(HOST)
    alice = Recorder(ALICE)
    router.register(alice)
    for method in ("_error_x", "_failure_x", "_echo_place_enter", "_notice_place_leave"):
        assert not router.send(Packet(method, {"_source": ALICE, "_target": "psyc://h/~zz"}))
    assert alice.packets == []
    assert router.undeliverable == 4


def test_no_bounce_without_source_or_to_unknown_source() -> None:
    router = Router(HOST)
    assert not router.send(Packet("_message_private", {"_target": "psyc://h/~zz"}))
    assert not router.send(
        Packet("_message_private", {"_source": "psyc://h/~ghost", "_target": "psyc://h/~zz"})
    )
    assert router.undeliverable == 2


# -- the routing table for what arrives from the network


def _from_network(method: str, routing: dict[str, str]) -> Packet:
    return Packet(method, routing, {})


def test_casts_go_to_the_slave_subscribed_to_their_context() -> None:
    router = Router(HOST)
    got: dict[str, list[str]] = {"place": [], "roster": [], "one": []}
    router.subscribe(EVERY_PLACE, lambda p: got["place"].append(p.context))
    router.subscribe("$roster", lambda p: got["roster"].append(p.context))
    one = "psyc://other.example/@special"
    router.subscribe(one, lambda p: got["one"].append(p.context))
    for context in (
        "psyc://other.example/@chan",
        "psyc://other.example/$roster",
        "psyc://OTHER.example/@Special",
        "psyc://other.example/$nobody",  # no slave: dropped
    ):
        router.cast_in(_from_network(V.MESSAGE_PUBLIC, {V.CONTEXT: context}))
    assert got == {
        "place": ["psyc://other.example/@chan"],
        "roster": ["psyc://other.example/$roster"],
        "one": ["psyc://OTHER.example/@Special"],
    }
    router.unsubscribe(one)
    assert router.subscriber(one) is router.subscriber("psyc://x/@y")


def test_root_handlers_inherit_by_prefix_and_replays_are_casts() -> None:
    router = Router(HOST)
    seen: list[str] = []
    router.on_root(V.STATUS_ROSTER, lambda p: seen.append("roster " + p.method))
    router.subscribe(EVERY_PLACE, lambda p: seen.append("cast " + p.method))
    me = f"psyc://{HOST}/"
    router.link_in(_from_network(V.STATUS_ROSTER + "_more", {V.TARGET: me}))
    replay = {V.TARGET: me, V.CONTEXT: "psyc://b.example/@c", V.COUNTER: "7"}
    router.link_in(_from_network(V.MESSAGE_PUBLIC, replay))
    router.link_in(_from_network(V.STATUS_PLACE_STATE, {V.TARGET: me}))  # nobody: dropped
    assert seen == [f"roster {V.STATUS_ROSTER}_more", f"cast {V.MESSAGE_PUBLIC}"]


def test_request_and_context_handlers_see_packets_before_the_entity() -> None:
    router = Router(HOST)
    place = Recorder(f"psyc://{HOST}/@chan")
    router.register(place)
    claimed: list[str] = []

    def claim(packet: Packet) -> bool:
        claimed.append(packet.method)
        return packet.method == V.REQUEST_CONTEXT_RESYNC

    router.on_request(V.REQUEST_CONTEXT_RESYNC, claim)
    router.on_context(V.ECHO_PLACE_ENTER, claim)
    other_root = "psyc://other.example/"
    router.link_in(
        _from_network(V.REQUEST_CONTEXT_RESYNC, {V.SOURCE: other_root, V.TARGET: place.uniform})
    )
    # Not from a server root: no request handler, straight to the place.
    router.link_in(
        _from_network(
            V.REQUEST_CONTEXT_RESYNC, {V.SOURCE: "psyc://o.example/~x", V.TARGET: place.uniform}
        )
    )
    # The context handler sees it and lets it through (returns False).
    echo = {V.CONTEXT: place.uniform, V.TARGET: place.uniform}
    router.link_in(_from_network(V.ECHO_PLACE_ENTER, echo))
    assert claimed == [V.REQUEST_CONTEXT_RESYNC, V.ECHO_PLACE_ENTER]
    assert place.methods() == [V.REQUEST_CONTEXT_RESYNC, V.ECHO_PLACE_ENTER]


def test_border_handlers_for_outgoing_and_foreign_packets() -> None:
    router = Router(HOST)
    router.on_outgoing(V.ECHO_PLACE_ENTER, lambda p: p.copy(_counter="42"))
    echo = _from_network(V.ECHO_PLACE_ENTER + "_join", {V.TARGET: "psyc://b.example/~x"})
    assert router.outgoing(echo).routing[V.COUNTER] == "42"  # inherited by prefix
    other = _from_network(V.MESSAGE_PUBLIC, {})
    assert router.outgoing(other) is other
    seen: list[str] = []
    router.on_foreign(lambda p: seen.append(p.method))
    router.foreign_in(other)
    assert seen == [V.MESSAGE_PUBLIC]
