"""History and the away log across servers, sans-IO: a channel's history stays at its
home and other servers ask for it (`_request_history`); away logs live with the
recipient.

Three servers in a line (a - b - c); `#x` is pinned to a."""

from __future__ import annotations

import dataclasses

from helpers import FakeClient
from irctokens.line import Line
from netsim import Sim

from ircpsyc.channels.place import ORIGIN_SLACK
from ircpsyc.psyc_backend.packet import Packet

A, B, C = "a.test", "b.test", "c.test"
CAPS = ["batch", "server-time", "message-tags", "draft/chathistory", "account-tag"]


def line3(**options: object) -> Sim:
    sim = Sim([A, B, C], [(A, B), (B, C)], services=True, pins={"#x": A}, **options)  # type: ignore[arg-type]
    sim.link_all()
    return sim


def history_lines(lines: list[Line]) -> list[tuple[str, str, tuple[str, ...], str]]:
    """The replayed lines without the batch reference: (tags, source, params)."""
    out = []
    for line in lines:
        if line.command in ("PRIVMSG", "NOTICE", "JOIN", "PART", "TOPIC", "MODE"):
            tags = {k: v for k, v in (line.tags or {}).items() if k != "batch"}
            out.append((repr(sorted(tags.items())), line.source or "", tuple(line.params), ""))
    return out


def setup(sim: Sim) -> tuple[FakeClient, FakeClient, FakeClient, list[str]]:
    """alice on a (the home) says five lines in #x; bob is in #x from b, carol from a."""
    alice = sim[A].client("alice", caps=CAPS)
    carol = sim[A].client("carol", caps=CAPS)
    bob = sim[B].client("bob", caps=CAPS)
    for fake in (alice, carol, bob):
        sim.do(fake, "JOIN #x")
    sim.settle()
    for n in range(5):
        sim.now += 1
        sim.do(alice, f"PRIVMSG #x :line {n}")
    sim.settle()
    msgids = [
        line.tags["msgid"]
        for line in sim.lines(bob)
        if line.command == "PRIVMSG" and line.tags is not None
    ]
    sim.lines(carol)
    assert len(msgids) == 5
    return alice, carol, bob, msgids


def ask(sim: Sim, fake: FakeClient, text: str) -> list[Line]:
    sim.do(fake, text)
    sim.run()
    return sim.lines(fake)


def test_chathistory_of_a_remote_channel_equals_the_home_s_answer() -> None:
    sim = line3()
    _alice, carol, bob, ids = setup(sim)
    queries = [
        "CHATHISTORY LATEST #x * 10",
        "CHATHISTORY LATEST #x * 2",
        f"CHATHISTORY LATEST #x msgid={ids[2]} 10",
        f"CHATHISTORY BEFORE #x msgid={ids[3]} 2",
        f"CHATHISTORY AFTER #x msgid={ids[0]} 3",
        f"CHATHISTORY AROUND #x msgid={ids[2]} 3",
        f"CHATHISTORY BETWEEN #x msgid={ids[4]} msgid={ids[0]} 10",
        "CHATHISTORY BEFORE #x timestamp=2099-01-01T00:00:00.000Z 10",
    ]
    for query in queries:
        remote = ask(sim, bob, query)
        local = ask(sim, carol, query)
        assert [m.command for m in remote][:1] == ["BATCH"], (query, remote)
        assert remote[0].params[1:] == ["chathistory", "#x"]
        assert history_lines(remote) == history_lines(local), query
        assert history_lines(remote), query
    # Same msgids, times and texts as delivered live.
    latest = ask(sim, bob, "CHATHISTORY LATEST #x * 10")
    assert [m.tags["msgid"] for m in latest if m.command == "PRIVMSG" and m.tags] == ids
    assert [m.params[-1] for m in latest if m.command == "PRIVMSG"] == [
        f"line {n}" for n in range(5)
    ]


def test_events_come_with_event_playback() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    bob = sim[B].client("bob", caps=[*CAPS, "draft/event-playback"])
    sim.do(alice, "JOIN #x")
    sim.do(bob, "JOIN #x")
    sim.settle()
    sim.do(alice, "TOPIC #x :a topic")
    sim.settle()
    sim.lines(bob)
    out = ask(sim, bob, "CHATHISTORY LATEST #x * 10")
    assert [m.command for m in out if m.command in ("JOIN", "TOPIC")] == ["JOIN", "JOIN", "TOPIC"]


def test_targets_lists_channels_homed_elsewhere() -> None:
    sim = line3()
    _alice, _carol, bob, _ids = setup(sim)
    out = ask(
        sim,
        bob,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
        "timestamp=2099-01-01T00:00:00.000Z 10",
    )
    targets = [m.params[1] for m in out if m.command == "CHATHISTORY"]
    assert targets == ["#x"]
    assert out[0].command == "BATCH" and out[0].params[1] == "draft/chathistory-targets"


def test_unreachable_home_fails_at_once() -> None:
    sim = line3()
    _alice, _carol, bob, _ids = setup(sim)
    sim.cut(A, B)
    out = ask(sim, bob, "CHATHISTORY LATEST #x * 10")
    assert [(m.command, m.params[:3]) for m in out] == [
        ("FAIL", ["CHATHISTORY", "MESSAGE_ERROR", "LATEST"])
    ]


def test_silent_home_times_out_and_late_answers_are_dropped() -> None:
    sim = line3()
    _alice, _carol, bob, _ids = setup(sim)
    home = sim[A].linking.history
    held: list[Packet] = []
    answer = home._answer
    home._answer = held.append  # type: ignore[method-assign]
    assert ask(sim, bob, "CHATHISTORY LATEST #x * 10") == []  # waiting
    assert len(held) == 1
    sim.tick(6.0)
    out = sim.lines(bob)
    assert [(m.command, m.params[1]) for m in out if m.command == "FAIL"] == [
        ("FAIL", "MESSAGE_ERROR")
    ]
    answer(held[0])  # the home wakes up
    sim.run()
    assert [m for m in sim.lines(bob) if m.command in ("BATCH", "PRIVMSG")] == []
    assert not sim[B].linking.history.requests


def test_labeled_chathistory_of_a_remote_channel() -> None:
    sim = line3()
    _alice, _carol, _bob, _ids = setup(sim)
    dave = sim[B].client("dave", caps=[*CAPS, "labeled-response"])
    sim.do(dave, "JOIN #x")
    sim.settle()
    sim.lines(dave)
    out = ask(sim, dave, "@label=q1 CHATHISTORY LATEST #x * 3")
    assert out[0].command == "BATCH" and out[0].tags == {"label": "q1"}
    assert len([m for m in out if m.command == "PRIVMSG"]) == 3
    assert [m for m in out if m.command == "ACK"] == []
    sim.cut(A, B)
    out = ask(sim, dave, "@label=q2 CHATHISTORY LATEST #x * 3")
    assert [(m.command, m.tags) for m in out] == [("FAIL", {"label": "q2"})]


def test_join_replay_of_a_remote_channel() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x")
    for n in range(3):
        sim.now += 1
        sim.do(alice, f"PRIVMSG #x :said {n}")
    sim.settle()
    core = sim[C].core
    history = dataclasses.replace(core.config.history, join_replay_plain=True)
    core.apply_config(dataclasses.replace(core.config, history=history))
    bob = sim[C].client("bob", caps=["batch", "server-time", "message-tags"])
    plain = sim[C].client("plain")
    sim.do(bob, "JOIN #x")
    sim.do(plain, "JOIN #x")
    sim.settle()
    out = sim.lines(bob)
    texts = [m.params[-1] for m in out if m.command == "PRIVMSG"]
    assert texts == ["said 0", "said 1", "said 2"]
    assert any(m.command == "BATCH" and m.params[1:] == ["chathistory", "#x"] for m in out)
    notices = [m.params[-1] for m in sim.lines(plain) if m.command == "NOTICE"]
    assert [n.split("] ", 1)[1] for n in notices if "said" in n] == [
        "<alice> said 0",
        "<alice> said 1",
        "<alice> said 2",
    ]


def test_the_home_refuses_a_non_member() -> None:
    sim = line3()
    setup(sim)
    service = sim[B].linking.history
    answers: list[list[Packet] | None] = []
    assert service.ask(A, "#x", "psyc://b.test/~nobody", "LATEST", ["*"], 5, 0, answers.append)
    sim.run()
    assert answers == [None]
    # A server may not ask in the name of another server's person.
    assert service.ask(A, "#x", "psyc://a.test/~alice", "LATEST", ["*"], 5, 0, answers.append)
    sim.run()
    assert answers == [None, None]


# -- the away log lives with the recipient


def away_account(sim: Sim, server: str, fake: FakeClient, account: str) -> None:
    sim[server].core.clients[fake.nick].account = account
    sim.do(fake, "AWAY :gone fishing")
    sim.tick(1.0)  # the roster carries account and away
    sim.lines(fake)


def test_private_message_to_a_remote_away_person_is_kept_at_its_server() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    bob = sim[C].client("bob", caps=["batch", "server-time"])
    away_account(sim, C, bob, "bobacct")
    sim.do(alice, "PRIVMSG bob :are you there?")
    sim.run()
    notes = [m.params[-1] for m in sim.lines(alice) if m.command == "NOTICE"]
    assert any("recorded" in n for n in notes)
    awaylog_a, awaylog_c = sim[A].core.awaylog, sim[C].core.awaylog
    assert awaylog_a is not None and awaylog_c is not None
    assert awaylog_a.entries("bobacct") == []
    assert [e.body for e in awaylog_c.entries("bobacct")] == ["are you there?"]
    sim.lines(bob)
    sim.do(bob, "AWAY")
    out = sim.lines(bob)
    assert [m.params[-1] for m in out if m.command == "PRIVMSG"] == ["are you there?"]


def test_mention_of_a_remote_away_member_is_kept_at_its_server() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    bob = sim[C].client("bob")
    sim.do(alice, "JOIN #x")
    sim.do(bob, "JOIN #x")
    sim.settle()
    away_account(sim, C, bob, "bobacct")
    sim.do(alice, "PRIVMSG #x :bob: lunch?")
    sim.do(alice, "PRIVMSG #x :nobody mentioned")
    sim.run()
    awaylog_a, awaylog_c = sim[A].core.awaylog, sim[C].core.awaylog
    assert awaylog_a is not None and awaylog_c is not None
    assert [(e.channel, e.body) for e in awaylog_c.entries("bobacct")] == [("#x", "bob: lunch?")]
    assert awaylog_a.entries("bobacct") == []


def test_away_member_joining_a_remote_channel_is_watched() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    bob = sim[C].client("bob")
    sim.do(alice, "JOIN #x")
    away_account(sim, C, bob, "bobacct")
    sim.do(bob, "JOIN #x")
    sim.settle()
    sim.do(alice, "PRIVMSG #x :hey bob")
    sim.run()
    awaylog_c = sim[C].core.awaylog
    assert awaylog_c is not None
    assert [e.body for e in awaylog_c.entries("bobacct")] == ["hey bob"]


def test_members_split_off_past_the_grace_get_what_they_missed() -> None:
    sim = line3(split_grace=2.0)
    alice, _, bob, _ = setup(sim)
    sim.lines(bob)
    sim.cut(A, B)
    sim.tick(4.0)  # past the grace: #x is orphaned on b
    for n in range(3):
        sim.now += 1
        sim.do(alice, f"PRIVMSG #x :while apart {n}")
    sim.lines(bob)
    sim.connect(A, B)
    sim.tick(3.0)
    got = sim.lines(bob)
    replay = [line.params[-1] for line in got if line.command == "PRIVMSG"]
    assert replay == ["while apart 0", "while apart 1", "while apart 2"], [
        line.format() for line in got
    ]
    batch = next(line for line in got if line.command == "BATCH")
    assert batch.params[1:] == ["chathistory", "#x"]
    sim.do(alice, "PRIVMSG #x :live again")
    sim.settle()
    assert [line.params[-1] for line in sim.lines(bob) if line.command == "PRIVMSG"] == [
        "live again"
    ]


def test_stats_show_the_network_services() -> None:
    sim = line3()
    stats = sim[A].core.net.stats()  # what STATS L prints
    assert {"accounts", "history", "awaylog", "replicas", "links"} <= set(stats)


def _stamp(line: Line) -> int:
    """server-time of a line, in ms."""
    from ircpsyc.ircd.commands.chathistory import parse_timestamp

    assert line.tags is not None
    return parse_timestamp(line.tags["time"])


def test_a_line_queued_during_a_split_keeps_the_time_it_was_said() -> None:
    """bob (on b) speaks while a, the home of #x, is unreachable: the line waits in
    b's queue and reaches a when the link is back; members, the echo and the history
    date it when it was said, not when it arrived."""
    sim = line3(split_grace=30.0)
    alice, carol, bob, _ = setup(sim)
    sim.lines(alice)
    sim.lines(bob)
    sim.cut(A, B)
    sim.tick(2.0)
    said = int(sim.now * 1000)
    sim.do(bob, "PRIVMSG #x :said during the split")
    sim.tick(20.0)  # longer than any clock slack (within the grace: nobody leaves)
    sim.do(alice, "PRIVMSG #x :said at the home meanwhile")
    sim.connect(A, B)
    sim.settle()
    arrived = int(sim.now * 1000)
    assert arrived - said > ORIGIN_SLACK * 1000
    heard = [ln for ln in sim.lines(carol) if ln.command == "PRIVMSG"]
    assert [ln.params[-1] for ln in heard] == [
        "said at the home meanwhile",
        "said during the split",
    ]
    assert _stamp(heard[1]) == said  # server-time: when it was said
    sim.lines(bob)
    # The history at the home: by time, it sits before the home's own line.
    remote = ask(sim, bob, "CHATHISTORY BEFORE #x timestamp=2099-01-01T00:00:00.000Z 2")
    local = ask(sim, carol, "CHATHISTORY BEFORE #x timestamp=2099-01-01T00:00:00.000Z 2")
    for got in (remote, local):
        lines = {ln.params[-1]: _stamp(ln) for ln in got if ln.command == "PRIVMSG"}
        assert lines["said during the split"] == said
        assert lines["said at the home meanwhile"] > said
    before_home = ask(sim, carol, f"CHATHISTORY BEFORE #x timestamp={_iso(said + 1)} 10")
    assert "said during the split" in [ln.params[-1] for ln in before_home]


def _iso(ms: int) -> str:
    from ircpsyc.ircd.lines import server_time

    return server_time(ms)


def test_an_implausible_origin_time_counts_as_now() -> None:
    """A server that stamps a line far in the past or the future (a broken clock, or
    a lie) does not get it dated so: the home takes its own time."""
    sim = line3()
    _alice, carol, _bob, _ = setup(sim)
    sim.lines(carol)
    home = sim[A].places.places["#x"]
    now = int(sim.now * 1000)
    sender = sim[B].core.find("bob")
    assert sender is not None
    for stamp in (now - 3_600_000, now + 3_600_000, "junk"):
        vars = {"_nick": "bob", "_prefix": "bob!bob@host", "_nick_place": "#x"}
        vars["_time"] = str(stamp)
        routing = {"_source": sender.uniform, "_target": home.uniform}
        sim[B].router.send(Packet("_message_public", routing, dict(vars), "odd clock"))
        sim.settle()
        heard = [ln for ln in sim.lines(carol) if ln.command == "PRIVMSG"]
        assert len(heard) == 1
        assert abs(_stamp(heard[0]) - int(sim.now * 1000)) < 2000, stamp
