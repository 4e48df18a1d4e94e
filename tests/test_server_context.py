"""The shared part of the per-server contexts ($roster, $directory): asking for copies
and keeping casts in order."""

from __future__ import annotations

from netsim import Sim

from ircpsyc.psyc_backend.context import ASK_AGAIN, ServerContext
from ircpsyc.psyc_backend.packet import Packet


def context() -> tuple[ServerContext, list[Packet], list[float]]:
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")])
    server = sim["a.test"]
    sent: list[Packet] = []
    server.router.send = lambda packet: sent.append(packet) or True  # type: ignore[method-assign]
    now = [100.0]
    return ServerContext(server.network, server.router, "thing", lambda: now[0]), sent, now


def test_asking_for_a_copy_is_rate_limited_unless_again() -> None:
    ctx, sent, now = context()
    ctx.ask("b.test")
    ctx.ask("b.test", 5)
    assert [(p.method, p.routing["_target"], p.get("_counter")) for p in sent] == [
        ("_request_thing", "psyc://b.test/$thing", "-1")
    ]
    ctx.ask("b.test", 5, again=True)
    now[0] += ASK_AGAIN
    ctx.ask("b.test", 7)
    assert [p.get("_counter") for p in sent] == ["-1", "5", "7"]
    ctx.got_copy("b.test")
    ctx.ask("b.test")
    assert len(sent) == 4


def test_casts_in_order_and_a_gap_asks_for_the_copy() -> None:
    ctx, sent, _ = context()
    assert ctx.in_order("b.test", 3, 4)
    assert not ctx.in_order("b.test", 3, 3) and not sent  # a repeat: dropped
    assert not ctx.in_order("b.test", 3, 6)  # a gap: the copy since 3
    assert [(p.method, p.get("_counter")) for p in sent] == [("_request_thing", "3")]
    assert ctx.is_peer("b.test") and not ctx.is_peer("a.test") and not ctx.is_peer("x.test")


def test_the_copy_names_our_context_and_counter() -> None:
    ctx, sent, _ = context()
    ctx.send_copy("b.test", 9, {"_list_x": ["1"]})
    (packet,) = sent
    assert packet.method == "_status_thing"
    assert packet.routing == {
        "_context": "psyc://a.test/$thing",
        "_target": "psyc://b.test/",
        "_counter": "9",
    }
