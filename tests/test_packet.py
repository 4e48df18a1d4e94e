"""The in-memory packet: accessors, copies, method inheritance and Dispatch."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircpsyc.psyc_backend.packet import Dispatch, Modifier, Packet, family, method_chain


def test_method_chain_walks_up_to_the_family() -> None:
    assert list(method_chain("_notice_place_enter_join")) == [
        "_notice_place_enter_join",
        "_notice_place_enter",
        "_notice_place",
        "_notice",
    ]


def test_method_chain_of_a_family_and_of_nothing() -> None:
    assert list(method_chain("_notice")) == ["_notice"]
    assert list(method_chain("")) == []


def test_method_chain_does_not_cut_inside_a_word() -> None:
    # `_messagex` is not a `_message`: inheritance is by whole keywords.
    assert list(method_chain("_messagex_y")) == ["_messagex_y", "_messagex"]


@given(st.lists(st.from_regex(r"\A[a-z]{1,6}\Z"), min_size=1, max_size=6))
def test_method_chain_property(words: list[str]) -> None:
    method = "_" + "_".join(words)
    chain = list(method_chain(method))
    assert chain[0] == method
    assert chain[-1] == "_" + words[0]
    assert len(chain) == len(words)
    for longer, shorter in itertools.pairwise(chain):
        assert longer.startswith(shorter + "_")


def test_family() -> None:
    assert family("_notice_place_enter") == "_notice"
    assert family("_message_public") == "_message"
    assert family("_error") == "_error"


def test_dispatch_exact_and_inherited() -> None:
    table = {"_notice_place": "place", "_notice": "notice", "_message_public": "public"}
    d = Dispatch(table)
    assert d.lookup("_notice_place") == "place"
    assert d.lookup("_notice_place_enter_join") == "place"
    assert d.lookup("_notice_person") == "notice"
    assert d.lookup("_message_public_notice") == "public"
    assert d.lookup("_message_private") is None
    assert d.lookup("_request_enter") is None
    # Cached answers stay the same.
    assert d.lookup("_notice_place_enter_join") == "place"
    assert d.lookup("_message_private") is None


def test_dispatch_most_specific_wins() -> None:
    d = Dispatch({"_notice_place_leave": 1, "_notice_place_leave_kick": 2, "_notice": 3})
    assert d.lookup("_notice_place_leave_kick_extra") == 2
    assert d.lookup("_notice_place_leave_disconnect") == 1
    assert d.lookup("_notice_place_topic") == 3


def test_dispatch_cache_is_bounded() -> None:
    d = Dispatch({"_x": 1})
    for i in range(5000):
        assert d.lookup(f"_x_{i}") == 1
    assert len(d._cache) <= 4096


def test_packet_accessors() -> None:
    p = Packet(
        "_message_public",
        {"_source": "psyc://h/~a", "_target": "psyc://h/@c", "_context": "psyc://h/@c"},
        {"_nick": "a", "_list_members": ["x", "y"]},
        "hello",
    )
    assert p.source == "psyc://h/~a"
    assert p.target == "psyc://h/@c"
    assert p.context == "psyc://h/@c"
    assert p.relay == "psyc://h/~a"
    assert p.get("_nick") == "a"
    assert p.get("_missing") == ""
    assert p.get("_missing", "d") == "d"
    assert p.get("_list_members") == "x y"
    assert p.get_list("_list_members") == ["x", "y"]
    assert p.get_list("_nick") == ["a"]
    assert p.get_list("_missing") == []


def test_relay_prefers_source_relay() -> None:
    p = Packet("_message_public", {"_source_relay": "psyc://h/~b", "_context": "psyc://h/@c"})
    assert p.relay == "psyc://h/~b"
    assert p.source == ""


def test_defaults_are_not_shared() -> None:
    a, b = Packet("_a"), Packet("_b")
    a.routing["_x"] = "1"
    a.vars["_y"] = "2"
    a.modifiers.append(Modifier("=", "_z", "3"))
    assert b.routing == {} and b.vars == {} and b.modifiers == []


def test_copy_replaces_and_drops_routing_and_is_independent() -> None:
    p = Packet(
        "_message_private",
        {"_source": "s", "_target": "t", "_tag": "1"},
        {"_nick": "a"},
        "body",
        [Modifier("=", "_v", "1")],
        "=",
    )
    p.render_cache[0] = b"cached"
    q = p.copy(_target="u", _tag="")
    assert q.routing == {"_source": "s", "_target": "u"}
    assert p.routing == {"_source": "s", "_target": "t", "_tag": "1"}
    assert (q.method, q.vars, q.body, q.modifiers, q.state_op) == (
        p.method,
        p.vars,
        p.body,
        p.modifiers,
        p.state_op,
    )
    q.vars["_nick"] = "b"
    assert p.vars["_nick"] == "a"
    assert q.render_cache == {}


def test_equality_ignores_render_cache_and_packets_are_unhashable() -> None:
    a = Packet("_m", {"_source": "s"}, {"_v": "1"}, "b")
    b = Packet("_m", {"_source": "s"}, {"_v": "1"}, "b")
    b.render_cache[1] = b"x"
    assert a == b
    assert a != Packet("_m", {"_source": "s"}, {"_v": "2"}, "b")
    assert a != Packet("_n", {"_source": "s"}, {"_v": "1"}, "b")
    assert (a == "not a packet") is False
    with pytest.raises(TypeError):
        hash(a)
