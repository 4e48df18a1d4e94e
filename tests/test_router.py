"""The router: registration, lookup, resolvers and bounces of unknown targets."""

from __future__ import annotations

from helpers import Recorder

from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.router import Router

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
