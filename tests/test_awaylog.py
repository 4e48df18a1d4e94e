"""The away log: recording for away or absent accounts, mentions, replay, AWAYLOG.

Accounts belong to the account service; here a client "logs in" by setting
`client.account` and telling the person observers (`account_changed`), and
`AwayLog.resolve` (nick -> registered account) is a small in-test table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import FakeClient, World, make_config, only, parse_output
from irctokens.line import Line

from ircpsyc.assemble import attach_store
from ircpsyc.config import Config
from ircpsyc.ircd.awaylog_hooks import returned
from ircpsyc.ircd.service_users import set_account
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.awaylog import AwayLog, mentioned
from ircpsyc.store import Store

TIMED = ["batch", "server-time", "message-tags"]
STAMP = "[2023-11-14 22:13 UTC]"


def config(**awaylog: Any) -> Config:
    base = make_config()
    return dataclasses.replace(base, awaylog=dataclasses.replace(base.awaylog, **awaylog))


ACCOUNTS = {"bob": "Bob", "carol": "Carol"}


def world_with_accounts(**awaylog: Any) -> World:
    world = World(config(**awaylog))
    log = awaylog_of(world)
    log.resolve = lambda nick: ACCOUNTS.get(casefold(nick), "")
    return world


def awaylog_of(world: World) -> AwayLog:
    log = world.core.awaylog
    assert log is not None
    return log


def login(world: World, fake: FakeClient, account: str) -> list[Line]:
    """Log in as a successful IDENTIFY does (the account service's `set_account`)."""
    start = len(fake.raw)
    set_account(fake.client, account)
    fake.clear()
    return parse_output(fake.raw[start:])


def notices(lines: list[Line]) -> list[str]:
    return [ln.params[-1] for ln in lines if ln.command == "NOTICE"]


def batches(lines: list[Line]) -> dict[str, list[Line]]:
    """chathistory batches in `lines`: target -> its lines."""
    out: dict[str, list[Line]] = {}
    refs: dict[str, str] = {}
    for ln in lines:
        if ln.command == "BATCH" and ln.params[0].startswith("+"):
            assert ln.params[1] == "chathistory"
            refs[ln.params[0][1:]] = ln.params[2]
            out[ln.params[2]] = []
        elif ln.tags and ln.tags.get("batch") in refs:
            out[refs[ln.tags["batch"]]].append(ln)
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(str(tmp_path / "awaylog.sqlite3"))
    try:
        yield opened
    finally:
        opened.close()


# -- mention matching


@pytest.mark.parametrize(
    ("text", "nick", "hit"),
    [
        ("bob: ping", "bob", True),
        ("hey Bob, look", "bob", True),
        ("(BOB)", "bob", True),
        ("bobby is here", "bob", False),
        ("thebob", "bob", False),
        ("cc @bob!", "bob", True),
        ("ask [bob]", "[bob]", True),
        ("ask {BOB}", "[bob]", True),  # rfc1459: [] and {} are the same letters
        ("x_bob_x", "bob", False),
        ("", "bob", False),
    ],
)
def test_mentions_are_casefolded_words(text: str, nick: str, hit: bool) -> None:
    assert (casefold(nick) in mentioned(text)) is hit


# -- an away account


def test_private_message_to_an_away_account_is_kept_and_replayed_when_back() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob", TIMED)
    login(world, bob, "Bob")
    bob.send("AWAY :lunch")
    world.advance(60)
    out = alice.send("PRIVMSG bob :are you there?")
    assert only(out, "301").params[1:] == ["bob", "lunch"]
    assert notices(out) == [
        "bob is away; your message has been recorded and will be shown when they return."
    ]
    # From bob's nick, so clients show it in the query with bob.
    assert only(out, "NOTICE").source is not None
    assert only(out, "NOTICE").source.startswith("bob!awaylog@")
    alice.send("NOTICE bob :a notice is kept but not answered")
    assert notices(alice.take()) == []
    bob.clear()
    out = bob.send("AWAY")
    assert out[0].command == "305"
    assert "Away log: 2 messages" in notices(out)[0]
    got = batches(out)
    assert list(got) == ["alice"]
    assert [ln.params for ln in got["alice"]] == [
        ["bob", "are you there?"],
        ["bob", "a notice is kept but not answered"],
    ]
    assert got["alice"][0].tags is not None
    assert got["alice"][0].tags["time"] == "2023-11-14T22:14:20.000Z"
    assert "msgid" in got["alice"][0].tags
    # Marked read: going away and back again replays nothing.
    bob.send("AWAY :again")
    assert bob.send("AWAY")[1:] == []


def test_plain_clients_get_timestamped_notices() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    login(world, bob, "Bob")
    world.channel("#c", alice, bob)
    bob.send("AWAY :gone")
    alice.send("PRIVMSG bob :private one")
    alice.send("PRIVMSG #c :bob: in the channel")
    alice.send("PRIVMSG #c :\x01ACTION pokes bob\x01")
    out = bob.send("AWAY")
    assert notices(out) == [
        "Away log: 3 messages recorded while you were away (AWAYLOG CLEAR deletes them).",
        f"{STAMP} <alice> private one",
        f"{STAMP} #c <alice> bob: in the channel",
        f"{STAMP} #c * alice pokes bob",
        "End of away log.",
    ]
    assert all(ln.source == "irc.localhost" for ln in out if ln.command == "NOTICE")


def test_channel_mentions_while_away() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob", TIMED)
    dave = world.client("dave")
    world.channel("#c", alice, bob, dave)
    world.channel("#d", alice, bob)
    login(world, bob, "Bob")
    bob.send("AWAY :busy")
    alice.send("PRIVMSG #c :BOB, review please")
    alice.send("PRIVMSG #c :bobby is someone else")
    alice.send("PRIVMSG #d :also bob here")
    alice.send("PRIVMSG @#c :ops see bob only")
    bob.send("PRIVMSG #c :I bob myself")
    dave.send("PRIVMSG #c :no mention")
    bob.send("PART #d")
    alice.send("PRIVMSG #d :bob left, not kept")
    got = batches(bob.send("AWAY"))
    assert {k: [ln.params[1] for ln in v] for k, v in got.items()} == {
        "#c": ["BOB, review please"],
        "#d": ["also bob here"],
    }
    assert got["#c"][0].params[0] == "#c"


def test_unregistered_or_present_users_get_nothing_kept() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    dave = world.client("dave")
    dave.send("AWAY :not registered")
    out = alice.send("PRIVMSG dave :hi")
    assert only(out, "301") and notices(out) == []
    bob = world.client("bob")
    login(world, bob, "Bob")
    assert notices(alice.send("PRIVMSG bob :he is here")) == []
    assert awaylog_of(world).entries("bob") == []


def test_ctcp_and_tagmsg_are_not_kept() -> None:
    world = world_with_accounts()
    alice = world.client("alice", ["message-tags"])
    bob = world.client("bob")
    login(world, bob, "Bob")
    bob.send("AWAY :x")
    alice.send("PRIVMSG bob :\x01VERSION\x01")
    alice.send("@+typing=active TAGMSG bob")
    alice.send("PRIVMSG bob :\x01ACTION waves\x01")
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["\x01ACTION waves\x01"]


# -- an absent account


def test_messages_for_an_absent_account_and_the_replay_at_login() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    world.channel("#c", alice, bob)
    login(world, bob, "Bob")
    bob.send("QUIT :bye")
    world.advance(30)
    out = alice.send("PRIVMSG bob :see this later")
    assert [ln.command for ln in out] == ["NOTICE"]
    assert notices(out) == [
        "bob is not online; your message has been recorded and will be shown when they return."
    ]
    alice.send("PRIVMSG #c :has anyone seen bob?")
    alice.send("PRIVMSG #c :nobody mentioned")
    # Somebody else, not registered, is "nobody": still a 401.
    assert only(alice.send("PRIVMSG nobody :x"), "401")
    world.advance(30)
    again = world.client("bob_", TIMED)
    assert again.take() == []
    out = login(world, again, "Bob")
    got = batches(out)
    assert [ln.params for ln in got["alice"]] == [["bob_", "see this later"]]
    assert [ln.params for ln in got["#c"]] == [["#c", "has anyone seen bob?"]]
    assert got["alice"][0].tags is not None
    assert got["alice"][0].tags["time"] == "2023-11-14T22:13:50.000Z"
    # Read now; and back in the channel, mentions are no longer kept.
    assert awaylog_of(world).entries("Bob") == []
    assert awaylog_of(world).watched_in("#c") == {}


def test_an_absent_account_stops_being_watched_when_it_rejoins() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    world.channel("#c", alice, bob)
    login(world, bob, "Bob")
    bob.send("QUIT")
    assert awaylog_of(world).watched_in("#c") == {"bob": "bob"}
    bob = world.client("bob")
    bob.client.account = "Bob"  # logged in by SASL: person_online does the replay
    for observer in world.core.person_observers:
        observer.person_online(bob.client)
    assert awaylog_of(world).watched_in("#c") == {}


def test_a_nick_change_while_away_moves_the_watch() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    world.channel("#c", alice, bob)
    login(world, bob, "Bob")
    bob.send("AWAY :x")
    bob.send("NICK robert")
    alice.send("PRIVMSG #c :robert?")
    alice.send("PRIVMSG #c :bob?")
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["robert?"]


def test_a_rename_while_away_moves_the_watch() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    world.channel("#c", alice, bob)
    login(world, bob, "Bob")
    bob.send("AWAY :x")
    alice.send("RENAME #c #renamed")
    alice.send("PRIVMSG #renamed :bob, see the new name")
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["bob, see the new name"]
    assert awaylog_of(world).watched_in("#c") == {}


def test_joining_while_away_watches_that_channel_too() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    world.channel("#c", alice)
    bob = world.client("bob")
    login(world, bob, "Bob")
    bob.send("AWAY :x")
    bob.send("JOIN #c")
    alice.send("PRIVMSG #c :hi bob")
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["hi bob"]


# -- limits and AWAYLOG


def test_limits_per_account() -> None:
    world = world_with_accounts(max_entries=3, max_age_days=1)
    alice = world.client("alice")
    bob = world.client("bob")
    login(world, bob, "Bob")
    bob.send("QUIT")
    alice.send("PRIVMSG bob :too old")
    world.advance(2 * 86400)
    for i in range(5):
        alice.send(f"PRIVMSG bob :m{i}")
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["m2", "m3", "m4"]


def test_awaylog_command() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    assert only(bob.send("AWAYLOG"), "FAIL").params[:2] == ["AWAYLOG", "ACCOUNT_REQUIRED"]
    login(world, bob, "Bob")
    world.channel("#c", alice, bob)
    bob.send("AWAY :x")
    alice.send("PRIVMSG bob :one")
    alice.send("PRIVMSG #c :bob two")
    listing = notices(bob.send("AWAYLOG LIST"))
    assert listing[0] == "Away log: 2 kept, 2 unread."
    assert listing[1].startswith("  alice: 1 private message, the last at 2023-11-14")
    assert listing[2].startswith("  #c: 1 mention, the last at")
    played = notices(bob.send("AWAYLOG PLAY"))
    assert played[1:3] == [f"{STAMP} <alice> one", f"{STAMP} #c <alice> bob two"]
    assert notices(bob.send("AWAYLOG list"))[0] == "Away log: 2 kept, 0 unread."
    assert bob.send("AWAY")[1:] == []  # already read
    assert notices(bob.send("AWAYLOG CLEAR")) == ["Away log cleared (2 entries)."]
    assert notices(bob.send("AWAYLOG PLAY")) == ["Your away log is empty."]
    fail = only(bob.send("AWAYLOG FOO"), "FAIL")
    assert fail.params[:3] == ["AWAYLOG", "INVALID_PARAMS", "FOO"]


def test_disabled_awaylog_keeps_nothing() -> None:
    world = world_with_accounts(enabled=False)
    alice = world.client("alice")
    bob = world.client("bob")
    login(world, bob, "Bob")
    bob.send("AWAY :x")
    assert notices(alice.send("PRIVMSG bob :hi")) == []
    bob.send("QUIT")
    assert only(alice.send("PRIVMSG bob :hi"), "401")


def test_returned_is_a_no_op_while_away() -> None:
    world = world_with_accounts()
    alice = world.client("alice")
    bob = world.client("bob")
    login(world, bob, "Bob")
    bob.send("AWAY :x")
    alice.send("PRIVMSG bob :hi")
    assert returned(bob.client) == 0
    assert len(awaylog_of(world).entries("bob")) == 1


# -- with the store


def test_store_keeps_entries_marks_and_watches(store: Store) -> None:
    world = world_with_accounts()
    attach_store(world.core, store)
    alice = world.client("alice")
    bob = world.client("bob", TIMED)
    world.channel("#c", alice, bob)
    login(world, bob, "Bob")
    bob.send("QUIT")
    alice.send("PRIVMSG bob :first")
    # Pending (not yet committed) entries are seen by a read.
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["first"]
    store.flush()
    alice.send("PRIVMSG #c :bob second")
    assert [e.body for e in awaylog_of(world).entries("bob")] == ["first", "bob second"]
    store.flush()
    store.close()

    reopened = Store(store.path)
    try:
        world2 = world_with_accounts()
        attach_store(world2.core, reopened)
        log2 = awaylog_of(world2)
        assert log2.watched_in("#c") == {"bob": "bob"}
        assert [e.body for e in log2.entries("bob")] == ["first", "bob second"]
        alice2 = world2.client("alice")
        alice2.send("JOIN #c")
        alice2.send("PRIVMSG #c :bob third")
        bob2 = world2.client("bob", TIMED)
        got = batches(login(world2, bob2, "Bob"))
        assert [ln.params[1] for lines in got.values() for ln in lines] == [
            "first",
            "bob second",
            "bob third",
        ]
        # Read straight away (the UPDATE may still be queued) and after the commit.
        assert log2.entries("bob") == []
        reopened.flush()
        assert log2.entries("bob") == []
        assert log2.counts("bob") == (3, 0)
        assert log2.clear("bob") == 3
        assert log2.entries("bob", unread_only=False) == []
        reopened.flush()
        left = reopened.db.execute("SELECT count(*) FROM awaylog").fetchone()[0]
        assert left == 0
    finally:
        reopened.close()


def test_store_bounds_each_account(store: Store) -> None:
    world = world_with_accounts(max_entries=10)
    attach_store(world.core, store)
    alice = world.client("alice")
    bob = world.client("bob")
    login(world, bob, "Bob")
    bob.send("QUIT")
    for i in range(40):
        alice.send(f"PRIVMSG bob :m{i}")
    store.flush()
    assert [e.body for e in awaylog_of(world).entries("bob")] == [f"m{i}" for i in range(30, 40)]
    count = store.db.execute("SELECT count(*) FROM awaylog").fetchone()[0]
    assert 10 <= count < 20
