"""The context module: a master's counter and replays, a slave's in-order apply."""

from __future__ import annotations

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import ContextMaster, ContextSlave, Order, counter_of, order
from ircpsyc.psyc_backend.packet import Packet, columns

CONTEXT = "psyc://home.example/@chan"


def cast(n: int = 0) -> Packet:
    routing = {V.CONTEXT: CONTEXT}
    if n:
        routing[V.COUNTER] = str(n)
    return Packet(V.MESSAGE_PUBLIC, routing, {V.TEXT: f"line {n}"})


def test_order() -> None:
    assert order(None, 5) is Order.GAP  # no state yet
    assert order(4, 5) is Order.NEXT
    assert order(4, 4) is Order.OLD and order(4, 2) is Order.OLD
    assert order(4, 7) is Order.GAP
    assert order(-1, 0) is Order.NEXT  # -1: "nothing yet" of the per-server copies


def test_master_numbers_casts_and_replays_within_its_buffer() -> None:
    master = ContextMaster(100, size=3)
    packets = [master.stamp(cast()) for _ in range(5)]
    assert [counter_of(p) for p in packets] == [101, 102, 103, 104, 105]
    assert master.counter == 105 and master.unchanged(105) and not master.unchanged(104)
    assert [counter_of(p) for p in master.replay(103) or []] == [104, 105]
    assert master.replay(105) == []
    assert master.replay(101) is None  # 102 fell out of the buffer: the snapshot
    assert master.replay(-1) is None  # no state at all


def test_master_without_buffer_always_needs_the_snapshot() -> None:
    master = ContextMaster(0)
    master.stamp(cast())
    assert master.counter == 1 and master.buffer is None and master.replay(0) is None


def test_slave_waits_for_state_then_applies_in_order() -> None:
    slave = ContextSlave()
    assert slave.offer(11, cast(11)) is Order.GAP  # before any state: it waits
    slave.reset(10)  # the snapshot as of cast 10
    assert [counter_of(p) for p in slave.drain()] == [11]
    assert slave.last == 11 and not slave.gap
    assert slave.offer(12, cast(12)) is Order.NEXT and slave.last == 12
    assert slave.offer(12, cast(12)) is Order.OLD  # a replay overlapping live casts
    assert slave.offer(14, cast(14)) is Order.GAP and slave.gap
    assert list(slave.drain()) == []  # 13 is still missing
    assert slave.offer(13, cast(13)) is Order.NEXT
    assert [counter_of(p) for p in slave.drain()] == [14] and slave.last == 14


def test_slave_snapshot_drops_what_it_covers() -> None:
    slave = ContextSlave()
    slave.reset(1)
    for n in (5, 6, 9):
        slave.offer(n, cast(n))
    slave.reset(6)
    assert [counter_of(p) for p in slave.drain()] == []
    assert list(slave.pending) == [9] and slave.gap
    slave.forget()
    assert slave.last is None and not slave.pending


def test_slave_bounds_what_waits() -> None:
    slave = ContextSlave(max_pending=2)
    slave.reset(1)
    for n in (4, 5, 6):
        slave.offer(n, cast(n))
    assert list(slave.pending) == [5, 6]  # the oldest arrival went


def test_column_codec_round_trip_and_ragged_columns() -> None:
    names = (V.LIST_MEMBERS, V.LIST_MEMBERS_NICKS, V.LIST_MEMBERS_MODES)
    rows = [("psyc://a/~x", "x", "o"), ("psyc://a/~y", "y", "")]
    vars = columns(names, rows)
    assert vars == {
        V.LIST_MEMBERS: ["psyc://a/~x", "psyc://a/~y"],
        V.LIST_MEMBERS_NICKS: ["x", "y"],
        V.LIST_MEMBERS_MODES: ["o", ""],
    }
    assert Packet(V.STATUS_PLACE_STATE, {}, dict(vars)).rows(names) == rows
    # The first column counts the rows: a short column reads "", a long one is cut.
    ragged = Packet(
        V.STATUS_PLACE_STATE,
        {},
        {
            V.LIST_MEMBERS: ["u1", "u2"],
            V.LIST_MEMBERS_NICKS: "n1",
            V.LIST_MEMBERS_MODES: ["a", "b", "c"],
        },
    )
    assert ragged.rows(names) == [("u1", "n1", "a"), ("u2", "", "b")]
    assert Packet(V.STATUS_PLACE_STATE, {}, {}).rows(names) == []
