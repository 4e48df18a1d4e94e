"""History, the replay on JOIN and CHATHISTORY (IRCv3 draft/chathistory), sans-IO.

Most tests keep the history in memory (no store); those named `*_store*`
attach a real SQLite store, where a read merges committed rows with what the
writer has not committed yet.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from helpers import FakeClient, World, make_config, numerics, only
from irctokens.line import Line

from ircpsyc.assemble import attach_store
from ircpsyc.config import Config
from ircpsyc.ircd.commands.chathistory import parse_timestamp
from ircpsyc.ircd.lines import server_time
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.services.history import (
    CHUNKS_PER_INSERT,
    Bound,
    Entry,
    History,
    Query,
    WriteBehind,
    encode_row,
    merge,
    party_key,
    select,
)
from ircpsyc.store import MIGRATIONS, Store

FULL = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]
EVENTS = [*FULL, "draft/event-playback"]


def config(**history: Any) -> Config:
    base = make_config()
    return dataclasses.replace(base, history=dataclasses.replace(base.history, **history))


def history_world(**history: Any) -> World:
    return World(config(**history))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(str(tmp_path / "history.sqlite3"))
    try:
        yield opened
    finally:
        opened.close()


def alice_in_h(store: Store, **history: Any) -> tuple[World, FakeClient]:
    """A world that keeps its history in `store`, with alice (every history cap) in #h."""
    world = history_world(**history)
    attach_store(world.core, store)
    alice = world.client("alice", FULL)
    world.channel("#h", alice)
    return world, alice


def batch_lines(lines: list[Line], kind: str = "chathistory") -> tuple[list[str], list[Line]]:
    """(the BATCH + parameters, the lines inside) of the one batch in `lines`."""
    starts = [ln for ln in lines if ln.command == "BATCH" and ln.params[0].startswith("+")]
    assert len(starts) == 1, [ln.format() for ln in lines]
    start = starts[0]
    ref = start.params[0][1:]
    assert start.params[1] == kind
    inner = [ln for ln in lines if ln.tags and ln.tags.get("batch") == ref]
    assert lines[-1].command == "BATCH" and lines[-1].params == ["-" + ref]
    return start.params[1:], inner


def texts(lines: list[Line]) -> list[str]:
    return [ln.params[-1] for ln in lines if ln.command in ("PRIVMSG", "NOTICE")]


def history(client: FakeClient, command: str) -> list[Line]:
    """The lines inside the reply batch of a CHATHISTORY command."""
    return batch_lines(client.send(command))[1]


def talk(world: World, client: FakeClient, target: str, count: int, start: int = 0) -> list[Line]:
    """Send `count` PRIVMSGs 10 ms apart; the echoes (the client needs echo-message)."""
    echoes = []
    for i in range(start, start + count):
        world.advance(0.01)
        out = client.send(f"PRIVMSG {target} :message {i}")
        echoes.extend(ln for ln in out if ln.command == "PRIVMSG")
    return echoes


def ts(line: Line) -> str:
    assert line.tags is not None
    return "timestamp=" + line.tags["time"]


def mid(line: Line) -> str:
    assert line.tags is not None
    return "msgid=" + line.tags["msgid"]


@pytest.fixture
def chan() -> tuple[World, FakeClient, list[Line]]:
    """A channel #h with ten messages from alice (who has every history cap)."""
    world = history_world()
    alice = world.client("alice", FULL)
    world.channel("#h", alice)
    echoes = talk(world, alice, "#h", 10)
    assert len(echoes) == 10
    return world, alice, echoes


# -- pure selection


def _entries(n: int) -> list[Entry]:
    return [
        Entry(i, "#t", 0, Packet("_message_public", {}, {"_id": f"id{i}"}), 1000 + i * 10)
        for i in range(n)
    ]


def test_select_takes_the_end_nearest_the_anchor() -> None:
    entries = _entries(10)
    newest = select(entries, Query("#t", limit=3, newest_first=True))
    assert [e.seq for e in newest] == [7, 8, 9]
    oldest = select(entries, Query("#t", after=Bound(True, 2), limit=3, newest_first=False))
    assert [e.seq for e in oldest] == [3, 4, 5]
    between = select(entries, Query("#t", Bound(False, 1020), Bound(False, 1060), 10, False))
    assert [e.seq for e in between] == [3, 4, 5]


def test_merge_drops_duplicates_and_keeps_order() -> None:
    entries = _entries(6)
    query = Query("#t", limit=4, newest_first=True)
    merged = merge(entries[:4], entries[2:], query)
    assert [e.seq for e in merged] == [2, 3, 4, 5]


def test_timestamps_parse_like_server_time() -> None:
    ms = 1_700_000_000_123
    assert parse_timestamp(server_time(ms)) == ms
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")
    with pytest.raises(ValueError):
        parse_timestamp("2026-01-01T00:00:00")  # no zone


# -- CHATHISTORY subcommands and selectors


def test_latest_star(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, echoes = chan
    params, lines = batch_lines(alice.send("CHATHISTORY LATEST #h * 100"))
    assert params == ["chathistory", "#h"]
    assert [ln.tags for ln in lines] == [
        dict(e.tags or {}, batch=lines[0].tags["batch"]) for e in echoes
    ]  # type: ignore[index]
    assert texts(lines) == [f"message {i}" for i in range(10)]
    assert texts(history(alice, "CHATHISTORY LATEST #h * 3")) == texts(echoes[-3:])


def test_latest_after_a_reference(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, echoes = chan
    assert texts(history(alice, f"CHATHISTORY LATEST #h {mid(echoes[4])} 100")) == texts(echoes[5:])
    assert texts(history(alice, f"CHATHISTORY LATEST #h {ts(echoes[4])} 100")) == texts(echoes[5:])
    assert texts(history(alice, f"CHATHISTORY LATEST #h {ts(echoes[4])} 2")) == texts(echoes[8:])


def test_before(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, echoes = chan
    assert texts(history(alice, f"CHATHISTORY BEFORE #h {mid(echoes[6])} 100")) == texts(echoes[:6])
    assert texts(history(alice, f"CHATHISTORY BEFORE #h {ts(echoes[6])} 100")) == texts(echoes[:6])
    assert texts(history(alice, f"CHATHISTORY BEFORE #h {ts(echoes[6])} 2")) == texts(echoes[4:6])


def test_after(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, echoes = chan
    assert texts(history(alice, f"CHATHISTORY AFTER #h {mid(echoes[3])} 100")) == texts(echoes[4:])
    assert texts(history(alice, f"CHATHISTORY AFTER #h {ts(echoes[3])} 3")) == texts(echoes[4:7])


def test_between_both_ways(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, echoes = chan
    first, last = echoes[0], echoes[-1]
    for a, b in ((mid(first), mid(last)), (ts(first), ts(last)), (mid(first), ts(last))):
        assert texts(history(alice, f"CHATHISTORY BETWEEN #h {a} {b} 100")) == texts(echoes[1:-1])
        assert texts(history(alice, f"CHATHISTORY BETWEEN #h {b} {a} 100")) == texts(echoes[1:-1])
        # With a limit, counted from the first reference.
        assert texts(history(alice, f"CHATHISTORY BETWEEN #h {a} {b} 3")) == texts(echoes[1:4])
        assert texts(history(alice, f"CHATHISTORY BETWEEN #h {b} {a} 3")) == texts(echoes[-4:-1])


def test_around(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, echoes = chan
    assert texts(history(alice, f"CHATHISTORY AROUND #h {mid(echoes[7])} 1")) == texts(echoes[7:8])
    assert texts(history(alice, f"CHATHISTORY AROUND #h {mid(echoes[7])} 3")) == texts(echoes[6:9])
    assert texts(echoes[7:8])[0] in texts(
        history(alice, f"CHATHISTORY AROUND #h {ts(echoes[7])} 3")
    )
    # Near the end there is little after it: the rest comes from before.
    assert texts(history(alice, f"CHATHISTORY AROUND #h {mid(echoes[9])} 4")) == texts(echoes[6:10])


def test_unknown_msgid_gives_an_empty_batch(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, _echoes = chan
    assert history(alice, "CHATHISTORY BEFORE #h msgid=nosuchid 10") == []


def test_limit_is_capped_and_zero_means_the_maximum() -> None:
    world = history_world(chathistory_limit=4)
    alice = world.client("alice", FULL)
    world.channel("#h", alice)
    talk(world, alice, "#h", 10)
    assert len(history(alice, "CHATHISTORY LATEST #h * 100")) == 4
    assert len(history(alice, "CHATHISTORY LATEST #h * 0")) == 4
    assert len(history(alice, "CHATHISTORY LATEST #h * 2")) == 2


def test_isupport_and_caps() -> None:
    world = history_world(chathistory_limit=77)
    fake = world.connect()
    ls = fake.send("CAP LS 302")
    offered = " ".join(ln.params[-1] for ln in ls)
    assert "draft/chathistory" in offered.split() and "draft/event-playback" in offered.split()
    out = fake.register("isu") + fake.send("CAP END")
    tokens = [t for ln in numerics(out, "005") for t in ln.params[1:-1]]
    assert "CHATHISTORY=77" in tokens and "MSGREFTYPES=msgid,timestamp" in tokens


def test_without_batch_the_lines_come_bare() -> None:
    world = history_world()
    alice = world.client("alice", ["echo-message"])
    world.channel("#h", alice)
    talk(world, alice, "#h", 3)
    out = alice.send("CHATHISTORY LATEST #h * 10")
    assert [ln.command for ln in out] == ["PRIVMSG"] * 3
    assert texts(out) == ["message 0", "message 1", "message 2"]


def test_labeled_request_puts_the_label_on_the_batch(
    chan: tuple[World, FakeClient, list[Line]],
) -> None:
    world, _alice, _echoes = chan
    bob = world.client("bob", [*FULL, "labeled-response"])
    world.channel("#h", bob)
    out = bob.send("@label=L1 CHATHISTORY LATEST #h * 2")
    assert out[0].command == "BATCH" and out[0].tags == {"label": "L1"}
    assert len(batch_lines(out)[1]) == 2
    # A labeled JOIN whose reply holds the replay batch: the lines keep one batch tag each.
    carol = world.client("carol", ["batch", "server-time", "labeled-response"])
    out = carol.send("@label=L2 JOIN #h")
    assert out[0].params[1] == "labeled-response"
    outer = out[0].params[0][1:]
    inner_start = next(
        ln for ln in out if ln.command == "BATCH" and ln.params[1:2] == ["chathistory"]
    )
    assert inner_start.tags == {"batch": outer}
    inner = inner_start.params[0][1:]
    replayed = [ln for ln in out if ln.command == "PRIVMSG"]
    assert replayed and all(ln.tags and ln.tags["batch"] == inner for ln in replayed)


# -- errors


@pytest.mark.parametrize(
    ("command", "params"),
    [
        ("CHATHISTORY FOO #h * 10", ["CHATHISTORY", "INVALID_PARAMS", "FOO", "Unknown command"]),
        (
            "CHATHISTORY LATEST #h *",
            ["CHATHISTORY", "INVALID_PARAMS", "LATEST", "Insufficient parameters"],
        ),
        (
            "CHATHISTORY LATEST #h * 10 x",
            ["CHATHISTORY", "INVALID_PARAMS", "LATEST", "Too many parameters"],
        ),
        (
            "CHATHISTORY LATEST #h * ten",
            ["CHATHISTORY", "INVALID_PARAMS", "LATEST", "ten", "Invalid limit"],
        ),
        (
            "CHATHISTORY LATEST #h * -1",
            ["CHATHISTORY", "INVALID_PARAMS", "LATEST", "-1", "Invalid limit"],
        ),
        (
            "CHATHISTORY BEFORE #h timestamp=soon 10",
            ["CHATHISTORY", "INVALID_PARAMS", "BEFORE", "timestamp=soon", "Invalid timestamp"],
        ),
        (
            "CHATHISTORY BEFORE #h id=1 10",
            ["CHATHISTORY", "INVALID_PARAMS", "BEFORE", "id=1", "Invalid message reference"],
        ),
        (
            "CHATHISTORY BEFORE #h * 10",
            ["CHATHISTORY", "INVALID_PARAMS", "BEFORE", "*", "Invalid message reference"],
        ),
        (
            "CHATHISTORY TARGETS msgid=abc timestamp=2020-01-01T00:00:00.000Z 10",
            ["CHATHISTORY", "INVALID_PARAMS", "TARGETS", "msgid=abc", "TARGETS needs timestamps"],
        ),
        (
            "CHATHISTORY LATEST #nowhere * 10",
            [
                "CHATHISTORY",
                "INVALID_TARGET",
                "LATEST",
                "#nowhere",
                "You are not on #nowhere: a channel's history is for its members",
            ],
        ),
        (
            "CHATHISTORY LATEST * * 10",
            ["CHATHISTORY", "INVALID_TARGET", "LATEST", "*", "* is neither a channel nor a nick"],
        ),
    ],
)
def test_errors(
    chan: tuple[World, FakeClient, list[Line]], command: str, params: list[str]
) -> None:
    _world, alice, _echoes = chan
    assert only(alice.send(command), "FAIL").params == params


def test_no_parameters_is_461(chan: tuple[World, FakeClient, list[Line]]) -> None:
    _world, alice, _echoes = chan
    assert only(alice.send("CHATHISTORY"), "461").params[1] == "CHATHISTORY"


def test_a_channel_one_is_not_in_is_an_invalid_target(
    chan: tuple[World, FakeClient, list[Line]],
) -> None:
    world, _alice, _echoes = chan
    eve = world.client("eve", FULL)
    fail = only(eve.send("CHATHISTORY LATEST #h * 10"), "FAIL")
    assert fail.params[:2] == ["CHATHISTORY", "INVALID_TARGET"]
    eve.send("JOIN #h")
    assert len(history(eve, "CHATHISTORY LATEST #h * 100")) == 10


# -- what is kept


def test_events_need_event_playback() -> None:
    world = history_world()
    alice = world.client("alice", EVENTS)
    bob = world.client("bob", FULL)
    world.channel("#h", alice, bob)
    alice.send("TOPIC #h :a topic")
    alice.send("PRIVMSG #h :text")
    alice.send("@+draft/react=x TAGMSG #h")
    alice.send("MODE #h +v bob")
    bob.send("NICK bobby")
    bob.send("PART #h :bye")
    bob.send("JOIN #h")
    commands = [ln.command for ln in history(alice, "CHATHISTORY LATEST #h * 100")]
    assert commands == [
        "JOIN",
        "JOIN",
        "TOPIC",
        "PRIVMSG",
        "TAGMSG",
        "MODE",
        "NICK",
        "PART",
        "JOIN",
    ]
    assert [ln.command for ln in history(bob, "CHATHISTORY LATEST #h * 100")] == ["PRIVMSG"]


def test_only_reactions_and_replies_of_tagmsgs_are_kept() -> None:
    world = history_world()
    alice = world.client("alice", EVENTS)
    world.channel("#h", alice)
    alice.send("@+typing=active TAGMSG #h")
    alice.send("@+draft/react=x TAGMSG #h")
    alice.send("@+draft/reply=abc;+typing=done TAGMSG #h")
    alice.send("@+typing=active TAGMSG alice")
    kept = [ln for ln in history(alice, "CHATHISTORY LATEST #h * 100") if ln.command == "TAGMSG"]
    assert [sorted(k for k in (ln.tags or {}) if k.startswith("+")) for ln in kept] == [
        ["+draft/react"],
        ["+draft/reply", "+typing"],
    ]
    assert history(alice, "CHATHISTORY LATEST alice * 100") == []
    # An empty list keeps none.
    world = history_world(tagmsg_storage=())
    alice = world.client("alice", EVENTS)
    world.channel("#h", alice)
    alice.send("@+draft/react=x TAGMSG #h")
    assert [ln.command for ln in history(alice, "CHATHISTORY LATEST #h * 100")] == ["JOIN"]


def test_statusmsg_lines_are_not_kept() -> None:
    world = history_world()
    alice = world.client("alice", FULL)
    world.channel("#h", alice)
    alice.send("PRIVMSG @#h :ops only")
    alice.send("PRIVMSG #h :everyone")
    assert texts(history(alice, "CHATHISTORY LATEST #h * 10")) == ["everyone"]


def test_old_events_age_out() -> None:
    world = history_world(max_age_days=1)
    alice = world.client("alice", FULL)
    world.channel("#h", alice)
    alice.send("PRIVMSG #h :old")
    world.advance(2 * 86400)
    alice.send("PRIVMSG #h :new")
    assert texts(history(alice, "CHATHISTORY LATEST #h * 10")) == ["new"]


def test_memory_history_is_bounded_per_channel() -> None:
    world = history_world(max_per_channel=5)
    alice = world.client("alice", FULL)
    world.channel("#h", alice)
    talk(world, alice, "#h", 12)
    assert texts(history(alice, "CHATHISTORY LATEST #h * 100")) == [
        f"message {i}" for i in range(7, 12)
    ]


def test_disabled_history_keeps_nothing() -> None:
    world = history_world(enabled=False)
    assert "draft/chathistory" not in world.core.extra_caps
    alice = world.client("alice", ["batch", "server-time", "echo-message"])
    world.channel("#h", alice)
    talk(world, alice, "#h", 3)
    assert history(alice, "CHATHISTORY LATEST #h * 10") == []
    bob = world.client("bob", ["batch", "server-time"])
    assert [ln.command for ln in bob.send("JOIN #h")] == ["JOIN", "353", "366"]
    out = world.connect().register("isu")
    assert not any(t.startswith("CHATHISTORY") for ln in out for t in ln.params)


# -- replay on JOIN


def _replayed(out: list[Line]) -> list[str]:
    return texts([ln for ln in out if ln.tags and "batch" in ln.tags])


def test_join_replays_the_last_messages_to_batch_and_server_time_clients() -> None:
    world = history_world(join_replay=3)
    alice = world.client("alice", ["echo-message"])
    world.channel("#h", alice)
    talk(world, alice, "#h", 5)
    bob = world.client("bob", ["batch", "server-time"])
    out = bob.send("JOIN #h")
    assert [ln.command for ln in out[:3]] == ["JOIN", "353", "366"]
    params, lines = batch_lines(out[3:])
    assert params == ["chathistory", "#h"]
    assert texts(lines) == ["message 2", "message 3", "message 4"]
    assert all(ln.tags and "time" in ln.tags for ln in lines)


def test_join_replay_skips_chathistory_and_plain_clients() -> None:
    world = history_world()
    alice = world.client("alice", ["echo-message"])
    world.channel("#h", alice)
    talk(world, alice, "#h", 2)
    asks = world.client("asks", FULL)
    assert not any(ln.command == "BATCH" for ln in asks.send("JOIN #h"))
    plain = world.client("plain")
    assert [ln.command for ln in plain.send("JOIN #h")] == ["JOIN", "353", "366"]
    no_time = world.client("notime", ["batch"])
    assert not any(ln.command == "BATCH" for ln in no_time.send("JOIN #h"))


def test_join_replay_plain_when_configured() -> None:
    world = history_world(join_replay_plain=True)
    alice = world.client("alice")
    world.channel("#h", alice)
    alice.send("PRIVMSG #h :hello")
    alice.send("PRIVMSG #h :\x01ACTION waves\x01")
    alice.send("NOTICE #h :note")
    plain = world.client("plain")
    notices = [ln for ln in plain.send("JOIN #h") if ln.command == "NOTICE"]
    assert [n.params[0] for n in notices] == ["#h"] * 3
    assert notices[0].source == "irc.localhost"
    stamp = "[2023-11-14 22:13 UTC]"
    assert [n.params[1] for n in notices] == [
        f"{stamp} <alice> hello",
        f"{stamp} * alice waves",
        f"{stamp} -alice- note",
    ]


def test_join_replay_off() -> None:
    world = history_world(join_replay=0)
    alice = world.client("alice")
    world.channel("#h", alice)
    alice.send("PRIVMSG #h :hello")
    bob = world.client("bob", ["batch", "server-time"])
    assert [ln.command for ln in bob.send("JOIN #h")] == ["JOIN", "353", "366"]


# -- private messages


def test_private_history_between_two_nicks() -> None:
    world = history_world()
    alice = world.client("alice", FULL)
    bob = world.client("bob", FULL)
    talk(world, alice, "bob", 2)
    talk(world, bob, "alice", 2, start=2)
    mine = history(alice, "CHATHISTORY LATEST bob * 10")
    assert texts(mine) == ["message 0", "message 1", "message 2", "message 3"]
    assert [ln.params[0] for ln in mine] == ["bob", "bob", "alice", "alice"]
    assert texts(history(bob, "CHATHISTORY LATEST ALICE * 10")) == texts(mine)
    carol = world.client("carol", FULL)
    assert history(carol, "CHATHISTORY LATEST bob * 10") == []


def test_messages_to_oneself_are_kept_once() -> None:
    world = history_world()
    alice = world.client("alice", ["batch", "server-time", "draft/chathistory"])
    alice.send("PRIVMSG alice :note to self")
    assert texts(history(alice, "CHATHISTORY LATEST alice * 10")) == ["note to self"]


def test_a_later_holder_of_a_nick_does_not_see_its_private_history() -> None:
    world = history_world()
    alice = world.client("alice", FULL)
    bob = world.client("bob", FULL)
    alice.send("PRIVMSG bob :secret")
    bob.send("QUIT")
    world.advance(1)
    again = world.client("bob", FULL)
    assert history(again, "CHATHISTORY LATEST alice * 10") == []
    # alice still sees it, with bob gone.
    assert texts(history(alice, "CHATHISTORY LATEST bob * 10")) == ["secret"]


def test_accounts_key_private_history_across_nicks_and_connections() -> None:
    world = history_world()
    alice = world.client("alice", FULL)
    bob = world.client("bob", FULL)
    alice.client.account = "alice"
    bob.client.account = "bob"
    alice.send("PRIVMSG bob :hello account")
    bob.send("QUIT")
    world.advance(1)
    back = world.client("bob_", FULL)
    back.client.account = "bob"
    assert texts(history(back, "CHATHISTORY LATEST alice * 10")) == ["hello account"]
    # alice asks under bob's new nick: he is online with the same account.
    assert texts(history(alice, "CHATHISTORY LATEST bob_ * 10")) == ["hello account"]


def test_targets_lists_channels_and_correspondents_by_latest_message() -> None:
    world = history_world()
    c1 = world.client("c1", FULL)
    c2 = world.client("c2", FULL)
    c3 = world.client("c3", FULL)
    world.channel("#one", c1, c2)
    world.channel("#two", c1, c3)
    order = [("#one", "in one"), ("c2", "to c2"), ("#two", "in two"), ("c3", "to c3")]
    stamps = {}
    for target, text in order:
        world.advance(0.01)
        echo = next(ln for ln in c1.send(f"PRIVMSG {target} :{text}") if ln.command == "PRIVMSG")
        assert echo.tags is not None
        stamps[target] = echo.tags["time"]
    before_all = "timestamp=2020-01-01T00:00:00.000Z"
    after_all = "timestamp=2262-01-01T00:00:00.000Z"

    def targets(command: str) -> list[tuple[str, str]]:
        _params, lines = batch_lines(c1.send(command), "draft/chathistory-targets")
        assert all(ln.command == "CHATHISTORY" and ln.params[0] == "TARGETS" for ln in lines)
        return [(ln.params[1], ln.params[2]) for ln in lines]

    assert targets(f"CHATHISTORY TARGETS {before_all} {after_all} 100") == [
        (t, stamps[t]) for t, _ in order
    ]
    got = targets(f"CHATHISTORY TARGETS {before_all} {after_all} 2")
    assert [t for t, _ in got] == ["#one", "c2"]
    got = targets(f"CHATHISTORY TARGETS timestamp={stamps['#one']} {after_all} 100")
    assert [t for t, _ in got] == ["c2", "#two", "c3"]
    got = targets(f"CHATHISTORY TARGETS timestamp={stamps['#one']} timestamp={stamps['c3']} 100")
    assert [t for t, _ in got] == ["c2", "#two"]


def test_private_history_can_be_off() -> None:
    world = history_world(private=False)
    alice = world.client("alice", FULL)
    world.client("bob")
    alice.send("PRIVMSG bob :not kept")
    fail = only(alice.send("CHATHISTORY LATEST bob * 10"), "FAIL")
    assert fail.params[1] == "INVALID_TARGET"


# -- with the store


def test_store_reads_merge_pending_and_committed(store: Store) -> None:
    world, alice = alice_in_h(store)
    echoes = talk(world, alice, "#h", 5)
    # Straight away: the writer may not have committed them, the read still sees them.
    assert texts(history(alice, "CHATHISTORY LATEST #h * 10")) == texts(echoes)
    store.flush()
    later = talk(world, alice, "#h", 3, start=5)
    assert texts(history(alice, "CHATHISTORY LATEST #h * 10")) == texts(echoes + later)
    assert texts(history(alice, f"CHATHISTORY AFTER #h {mid(echoes[3])} 3")) == texts(
        [echoes[4], *later[:2]]
    )
    store.flush()
    count = store.db.execute("SELECT count(*) FROM history WHERE target = '#h'").fetchone()[0]
    assert count == 8 + 1  # the messages and alice's JOIN


def test_store_keeps_history_across_a_restart(store: Store, tmp_path: Path) -> None:
    world = history_world()
    attach_store(world.core, store)
    alice = world.client("alice", FULL)
    bob = world.client("bob", FULL)
    alice.client.account = "alice"
    world.channel("#h", alice)
    echoes = talk(world, alice, "#h", 4)
    alice.send("PRIVMSG bob :private")
    store.close()
    reopened = Store(store.path)
    try:
        world2 = history_world()
        attach_store(world2.core, reopened)
        alice2 = world2.client("alice", FULL)
        alice2.client.account = "alice"
        alice2.send("JOIN #h")
        got = history(alice2, "CHATHISTORY LATEST #h * 10")
        assert texts(got) == texts(echoes)
        assert [ln.tags["msgid"] for ln in got] == [e.tags["msgid"] for e in echoes]  # type: ignore[index]
        assert texts(history(alice2, "CHATHISTORY LATEST bob * 10")) == ["private"]
        bob2 = world2.client("carol", ["batch", "server-time"])
        assert _replayed(bob2.send("JOIN #h")) == texts(echoes)
        talk(world2, alice2, "#h", 1, start=4)  # ids continue after the old ones
        reopened.flush()
        ids = [r[0] for r in reopened.db.execute("SELECT id FROM history ORDER BY id")]
        assert ids == sorted(set(ids))
    finally:
        reopened.close()
    del bob


def test_store_bounds_each_channel(store: Store) -> None:
    _world, alice = alice_in_h(store, max_per_channel=20)
    for i in range(100):
        alice.send(f"PRIVMSG #h :m{i}")
        if i % 10 == 9:
            store.flush()  # several writer batches, as in real life
    store.flush()
    count = store.db.execute("SELECT count(*) FROM history WHERE target = '#h'").fetchone()[0]
    assert count == 20  # the oldest chunk kept gives up its oldest lines
    assert texts(history(alice, "CHATHISTORY LATEST #h * 5")) == [f"m{i}" for i in range(95, 100)]


def test_a_counted_channel_stays_within_its_bound_batch_after_batch(store: Store) -> None:
    """Once a trim has counted a channel, the writer keeps its count: the channel holds
    its newest `max_per_channel` lines, plus at most the slack of one trim, always."""
    _world, alice = alice_in_h(store, max_per_channel=20)  # a trim every 16 lines over
    sent = 0
    for _batch in range(30):
        for _ in range(3):
            alice.send(f"PRIVMSG #h :m{sent}")
            sent += 1
        store.flush()
        stored = [
            json.loads(r[0])["b"]
            for r in store.db.execute("SELECT data FROM history WHERE target = '#h' ORDER BY id")
        ]
        assert len(stored) <= 20 + 16
        assert stored[-min(sent, 20) :] == [f"m{i}" for i in range(max(0, sent - 20), sent)]
    assert texts(history(alice, "CHATHISTORY LATEST #h * 5")) == [f"m{i}" for i in range(85, 90)]


def test_a_redaction_makes_the_writer_count_a_channel_again(store: Store) -> None:
    """A count kept from before a redaction would be too high, and the next trim would
    delete lines it must keep."""
    world, alice = alice_in_h(store, max_per_channel=20)
    echoes = talk(world, alice, "#h", 19)  # with the JOIN, 20 lines: counted and kept
    store.flush()
    history_ = world.core.history
    for echo in echoes[:10]:
        history_.redact("#h", mid(echo).split("=", 1)[1])
    store.flush()  # 10 lines left
    talk(world, alice, "#h", 15)
    store.flush()  # 25
    alice.send("PRIVMSG #h :last")
    store.flush()  # 26: counted again, trimmed to 20
    count = store.db.execute("SELECT count(*) FROM history WHERE target = '#h'").fetchone()[0]
    assert count == 20


def test_store_join_ring_reloads_after_the_channel_emptied(store: Store) -> None:
    world = history_world(join_replay=2)
    attach_store(world.core, store)
    alice = world.client("alice")
    world.channel("#h", alice)
    for text in ("one", "two", "three"):
        alice.send(f"PRIVMSG #h :{text}")
    alice.send("PART #h")
    assert world.places.get("#h") is None
    bob = world.client("bob", ["batch", "server-time"])
    assert _replayed(bob.send("JOIN #h")) == ["two", "three"]
    bob.send("PRIVMSG #h :four")
    carol = world.client("carol", ["batch", "server-time"])
    assert _replayed(carol.send("JOIN #h")) == ["three", "four"]


def test_the_age_sweep_deletes_expired_rows_from_the_store(store: Store) -> None:
    """The sweep finds expired rows by id (there is no index on time): what aged out
    goes, in every channel and conversation, and what is younger stays."""
    world = history_world(max_age_days=1)
    attach_store(world.core, store)
    alice = world.client("alice", FULL)
    world.client("bob", FULL)
    world.channel("#h", alice)
    world.channel("#other", alice)
    talk(world, alice, "#h", 2)
    alice.send("PRIVMSG #other :old elsewhere")
    alice.send("PRIVMSG bob :old private")
    store.flush()
    world.advance(2 * 86400)
    world.core.history._last_age_prune = 0.0  # the next batch sweeps
    alice.send("PRIVMSG #h :new")
    store.flush()
    bodies = [json.loads(r[0])["b"] for r in store.db.execute("SELECT data FROM history")]
    assert bodies == ["new"]
    assert texts(history(alice, "CHATHISTORY LATEST #h * 10")) == ["new"]


def test_the_age_sweep_rewrites_chunks_that_straddle_the_cutoff(store: Store) -> None:
    """A chunk partly expired loses its expired lines and keeps its id; a whole chunk
    of old lines written after young ones (lines queued during a split) goes too:
    the `history` view shows no expired line."""
    world, alice = alice_in_h(store, max_age_days=1)
    history_ = world.core.history
    release = threading.Event()
    store.write_later(lambda db: release.wait(5))  # one batch: one chunk for #h
    said = world.clock()
    alice.send("PRIVMSG #h :old")
    world.advance(0.5 * 86400)
    alice.send("PRIVMSG #h :young")
    release.set()
    store.flush()
    ((straddling, count),) = store.db.execute("SELECT id, count FROM history_chunks").fetchall()
    assert count == 3  # the JOIN, old, young
    late = Packet(V.MESSAGE_PRIVATE, {}, {V.TIME: str(int(said * 1000)), V.ID: "late"}, "late")
    history_.log_private(late, party_key("", "bob"), "bob", party_key("", "alice"), "alice")
    store.flush()
    world.advance(0.75 * 86400)  # the cutoff is a quarter day after "old": it expired
    history_._last_age_prune = 0.0  # the next batch sweeps
    alice.send("PRIVMSG #h :new")
    store.flush()
    rows = store.db.execute("SELECT id, target, data FROM history ORDER BY id").fetchall()
    assert [(r[1], json.loads(r[2])["b"]) for r in rows] == [("#h", "young"), ("#h", "new")]
    kept = store.db.execute("SELECT id, count FROM history_chunks ORDER BY id").fetchall()
    assert kept[0] == (straddling, 1) and [c for _, c in kept] == [1, 1]
    oldest, newest = store.db.execute(
        "SELECT oldest, newest FROM history_chunks WHERE id = ?", [straddling]
    ).fetchone()
    assert oldest == newest == int((said + 0.5 * 86400) * 1000)
    assert texts(history(alice, "CHATHISTORY LATEST #h * 10")) == ["young", "new"]


def test_write_behind_shows_items_until_committed_and_frees_them_after(store: Store) -> None:
    """Readers see what is queued until the store commits it; then the write-behind
    holds nothing of it (the writer let go of the job's items)."""

    class Item:
        pass

    written: list[int] = []
    writes: WriteBehind[Item] = WriteBehind(lambda db, items: written.append(len(items)))
    first, second = Item(), Item()
    gone = weakref.ref(first)
    store.write_later(lambda db: time.sleep(0.2))  # the writer is busy: both wait
    writes.store = store
    writes.add(first)
    writes.add(second)
    assert writes.pending() == [first, second]
    assert not writes.committed(writes.last_ticket)
    del first, second
    store.flush()
    assert writes.committed(writes.last_ticket)
    assert writes.pending() == [] and written == [2]
    assert gone() is None


def test_a_row_keeps_every_character_of_its_text(store: Store) -> None:
    """What a row holds comes back as it was logged, NUL and quotes included (the
    batch goes through SQLite's JSON functions)."""
    history = History(lambda: config())
    history.attach(store)
    body = 'he\x00llo "quoted" \\ \u2603 \U0001f600'
    packet = Packet(V.MESSAGE_PUBLIC, {}, {V.ID: "m1", V.NICK: "x\x00y", "_list": ["a", "b"]}, body)
    history._keep(Entry(1, "#h", 0, packet, history.now_ms()))
    store.flush()
    assert history.writes.pending() == []
    found = history.find("#h", "m1")
    assert found is not None
    assert found.source.body == body
    assert found.source.vars == packet.vars


def chunks(store: Store, target: str) -> list[int]:
    """The number of entries in each chunk row of `target`, oldest first."""
    query = "SELECT count FROM history_chunks WHERE target = ? ORDER BY id"
    return [row[0] for row in store.db.execute(query, [target])]


def test_the_lines_of_one_batch_share_a_chunk_and_every_selector_reads_into_it(
    store: Store,
) -> None:
    world, alice = alice_in_h(store)
    echoes = talk(world, alice, "#h", 10)
    store.flush()
    later = talk(world, alice, "#h", 2, start=10)
    store.flush()
    assert chunks(store, "#h") == [11, 2]  # the JOIN and ten lines, then two more
    assert world.core.history.writes.pending() == []  # what follows reads the store
    every = echoes + later
    assert texts(history(alice, "CHATHISTORY LATEST #h * 3")) == texts(every[-3:])
    assert texts(history(alice, f"CHATHISTORY BEFORE #h {mid(echoes[6])} 2")) == texts(echoes[4:6])
    assert texts(history(alice, f"CHATHISTORY AFTER #h {ts(echoes[8])} 3")) == texts(
        [echoes[9], *later]
    )
    assert texts(history(alice, f"CHATHISTORY AROUND #h {mid(echoes[5])} 3")) == texts(echoes[4:7])
    between = f"CHATHISTORY BETWEEN #h {mid(echoes[2])} {ts(later[1])} 100"
    assert texts(history(alice, between)) == texts(every[3:-1])


def test_redacting_one_line_of_a_chunk_keeps_the_others(store: Store) -> None:
    world, alice = alice_in_h(store)
    echoes = talk(world, alice, "#h", 4)
    store.flush()
    history_ = world.core.history
    gone = mid(echoes[1]).split("=", 1)[1]
    history_.redact("#h", gone)
    store.flush()
    history_._redacted.clear()  # forget the in-memory veil: only the store answers
    bodies = [json.loads(r[0])["b"] for r in store.db.execute("SELECT data FROM history")]
    assert bodies == ["", *texts([echoes[0], *echoes[2:]])]  # the JOIN has no body
    assert history_.find("#h", gone) is None
    kept = mid(echoes[2]).split("=", 1)[1]
    found = history_.find("#h", kept)
    assert found is not None and found.source.body == "message 2"
    assert chunks(store, "#h") == [4]


def test_rows_of_schema_13_become_chunks_and_read_back(tmp_path: Path) -> None:
    """A store of the previous schema (a row per line) is migrated: every line, NUL and
    all, comes back through CHATHISTORY, and new lines continue its ids."""
    path = str(tmp_path / "old.sqlite3")
    conn = sqlite3.connect(path, isolation_level=None)
    old = sqlite_utils.Database(conn)
    for migration in MIGRATIONS[:13]:
        migration(old)
    conn.execute("PRAGMA user_version=13")
    now = int(time.time() * 1000)
    rows = [
        (1, "#h", "old1", now - 3000, 0, V.MESSAGE_PUBLIC, "first"),
        (2, "#other", "old2", now - 2000, 0, V.MESSAGE_PUBLIC, "elsewhere"),
        (3, "#h", "old3", now - 1000, 0, V.MESSAGE_PUBLIC, "sec\x00ond"),
    ]
    for seq, target, msgid, stamp, kind, method, body in rows:
        data = {"v": {V.ID: msgid, V.TIME: str(stamp), V.NICK: "alice"}, "b": body}
        conn.execute(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
            [seq, target, msgid, stamp, kind, method, json.dumps(data)],
        )
    conn.close()
    migrated = Store(path)
    try:
        assert chunks(migrated, "#h") == [1, 1]
        history_ = History(lambda: config())
        history_.attach(migrated)
        got = history_.query(Query("#h", limit=10))
        assert [e.source.body for e in got] == ["first", "sec\x00ond"]
        assert [e.seq for e in got] == [1, 3]
        assert history_.find("#other", "old2") is not None
        found = history_.find("#h", "old3")
        assert found is not None and found.time == now - 1000
        view = [r[0] for r in migrated.db.execute("SELECT msgid FROM history ORDER BY id")]
        assert view == ["old1", "old2", "old3"]
        assert history_._seq == 3  # the next line is 4
        packet = Packet(V.MESSAGE_PUBLIC, {}, {V.ID: "new"}, "new")
        history_._keep(Entry(4, "#h", 0, packet, history_.now_ms()))
        migrated.flush()
        assert [e.seq for e in history_.query(Query("#h", limit=10))] == [1, 3, 4]
    finally:
        migrated.close()


def test_a_row_with_what_orjson_refuses_is_still_encoded() -> None:
    """orjson stops at 64-bit integers; the stdlib's encoder takes over, same text."""
    value = [1, {"v": {"_amount": 2**70, "_nick": "x\x00y"}, "b": "\u2603"}]
    assert json.loads(encode_row(value)) == value
    assert encode_row([1, {"b": "a\x00b"}]) == json.dumps(
        [1, {"b": "a\x00b"}], separators=(",", ":")
    )


def test_targets_from_the_store_give_the_latest_message_of_each_conversation(
    store: Store,
) -> None:
    """A conversation's row is not rewritten for every message; its latest time
    comes from its newest chunk, and TARGETS orders and filters by it."""
    world = history_world()
    attach_store(world.core, store)
    alice = world.client("alice", FULL)
    world.client("bob", FULL)
    world.client("carol", FULL)
    stamps = {}
    for target in ("bob", "carol", "bob"):
        world.advance(5)
        echo = next(ln for ln in alice.send(f"PRIVMSG {target} :hi") if ln.command == "PRIVMSG")
        assert echo.tags is not None
        stamps[target] = echo.tags["time"]
        store.flush()  # each message its own batch
    rows = store.db.execute("SELECT count(*) FROM history_dm").fetchone()[0]
    assert rows == 4  # two conversations, two owners each
    first = "timestamp=2020-01-01T00:00:00.000Z"
    _params, lines = batch_lines(
        alice.send(f"CHATHISTORY TARGETS {first} timestamp=2262-01-01T00:00:00.000Z 10"),
        "draft/chathistory-targets",
    )
    assert [(ln.params[1], ln.params[2]) for ln in lines] == [
        ("carol", stamps["carol"]),
        ("bob", stamps["bob"]),
    ]
    written = store.db.execute("SELECT max(time) FROM history_dm").fetchone()[0]
    assert written < parse_timestamp(stamps["bob"])  # bob's second line left the row be


def test_a_batch_of_more_chunks_than_one_insert_takes_is_written_whole(store: Store) -> None:
    history_ = History(lambda: config())
    history_.attach(store)
    targets = [f"#c{i}" for i in range(CHUNKS_PER_INSERT * 2 + 3)]
    for seq, target in enumerate(targets * 2, start=1):
        packet = Packet(V.MESSAGE_PUBLIC, {}, {V.ID: f"m{seq}"}, f"line {seq}")
        history_._keep(Entry(seq, target, 0, packet, history_.now_ms()))
    store.flush()
    assert history_.writes.pending() == []
    assert store.db.execute("SELECT count(*) FROM history_chunks").fetchone()[0] == len(targets)
    last = targets[-1]
    got = history_.query(Query(last, limit=10))
    assert [e.source.body for e in got] == [f"line {len(targets)}", f"line {2 * len(targets)}"]
