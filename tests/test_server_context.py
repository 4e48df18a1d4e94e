"""The shared part of the per-server contexts ($roster, $directory): asking for copies
and keeping another server's casts in order (with a ContextSlave)."""

from __future__ import annotations

from netsim import Sim

from ircpsyc.psyc_backend.context import ASK_AGAIN, ContextSlave, ServerContext
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


def cast(counter: int) -> Packet:
    return Packet("_notice_thing", {"_context": "psyc://b.test/$thing", "_counter": str(counter)})


def test_casts_in_order_and_a_gap_asks_for_the_copy() -> None:
    ctx, sent, _ = context()
    slave = ContextSlave()
    slave.reset(3)
    fourth = cast(4)
    assert ctx.offer("b.test", slave, fourth) == [fourth]
    assert ctx.offer("b.test", slave, cast(4)) == [] and not sent  # a repeat: dropped
    sixth, seventh = cast(6), cast(7)
    assert ctx.offer("b.test", slave, sixth) == []  # a gap: it waits, the copy since 4
    assert [(p.method, p.get("_counter")) for p in sent] == [("_request_thing", "4")]
    assert ctx.offer("b.test", slave, seventh) == [] and len(sent) == 1  # asked already
    assert ctx.offer("b.test", slave, cast(5))[1:] == [sixth, seventh]  # the gap filled
    assert slave.last == 7 and not slave.gap
    assert ctx.is_peer("b.test") and not ctx.is_peer("a.test") and not ctx.is_peer("x.test")


def test_a_copy_applies_what_waited_after_it_and_asks_again_on_a_gap() -> None:
    ctx, sent, _ = context()
    slave = ContextSlave()
    casts = {n: cast(n) for n in (9, 10, 12)}
    for packet in casts.values():
        assert ctx.offer("b.test", slave, packet) == []  # no copy yet: everything waits
    assert [p.get("_counter") for p in sent] == ["-1"]
    # The copy as of cast 9: 10 follows it, 12 does not (11 is missing).
    assert ctx.copy_in("b.test", slave, 9) == [casts[10]]
    assert slave.last == 10 and slave.gap
    assert [p.get("_counter") for p in sent] == ["-1", "10"]


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
