"""Channels and persons across servers, sans-IO: the home decides, replicas follow.

Three servers in a line (a - b - c) unless a test says otherwise; channels are
picked so their home is where the test wants it."""

from __future__ import annotations

from helpers import FakeClient
from netsim import Sim

from ircpsyc.channels.replica import Replica

NAMES = ["a.test", "b.test", "c.test"]
LINE = [("a.test", "b.test"), ("b.test", "c.test")]


def line3(**options: float) -> Sim:
    sim = Sim(NAMES, LINE, **options)  # type: ignore[arg-type]
    sim.link_all()
    return sim


def homed(sim: Sim, server: str, prefix: str = "#chan") -> str:
    """A channel name whose home is `server`."""
    network = sim[NAMES[0]].network
    return next(f"{prefix}{i}" for i in range(1000) if network.home_of(f"{prefix}{i}") == server)


def view_of(sim: Sim, server: str, channel: str):  # type: ignore[no-untyped-def]
    view = sim[server].places.get(channel)
    assert view is not None, f"{server} has no view of {channel}"
    return view


def names(sim: Sim, server: str, channel: str) -> dict[str, str]:
    view = view_of(sim, server, channel)
    return {m.nick: m.modes for m in view.members.values()}


def converged(sim: Sim, channel: str, servers: list[str]) -> None:
    """Every server answers the same NAMES, TOPIC and MODE for the channel."""
    views = [view_of(sim, s, channel) for s in servers]
    first = views[0]
    for view in views[1:]:
        assert {m.nick: m.modes for m in view.members.values()} == {
            m.nick: m.modes for m in first.members.values()
        }, (view.name, view.router.host)
        assert (view.topic, view.topic_setter) == (first.topic, first.topic_setter)
        assert view.mode_string(True) == first.mode_string(True)
        assert {m: [e.mask for e in entries] for m, entries in view.lists.items()} == {
            m: [e.mask for e in entries] for m, entries in first.lists.items()
        }


def join_all(sim: Sim, channel: str, *fakes: FakeClient) -> None:
    for fake in fakes:
        sim.do(fake, f"JOIN {channel}")
    sim.settle()
    for fake in fakes:
        sim.lines(fake)


def test_remote_join_builds_a_replica_that_answers_names_topic_mode() -> None:
    sim = line3()
    channel = homed(sim, "c.test")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    sim.do(carol, f"JOIN {channel}", f"TOPIC {channel} :the topic", f"MODE {channel} +k sesame")
    sim.lines(carol)
    sim.do(alice, f"JOIN {channel} sesame")
    got = sim.lines(alice)
    assert [line.command for line in got][:5] == ["JOIN", "332", "333", "353", "366"]
    assert got[3].params[-1] == "@carol alice"
    view = view_of(sim, "a.test", channel)
    assert isinstance(view, Replica)
    assert view.topic == "the topic" and view.key == "sesame"
    converged(sim, channel, ["a.test", "c.test"])
    assert sim["b.test"].places.get(channel) is None  # nobody there: no replica
    assert [line.command for line in sim.lines(carol)] == ["JOIN"]
    sim.do(alice, f"MODE {channel}")
    mode = next(line for line in sim.lines(alice) if line.command == "324")
    assert mode.params[2:] == ["+ntk", "sesame"]


def test_the_home_decides_ops_bans_kicks_topic_from_any_server() -> None:
    sim = line3()
    channel = homed(sim, "b.test")
    alice = sim["a.test"].client("alice")
    bob = sim["b.test"].client("bob")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, bob, carol)
    assert names(sim, "c.test", channel) == {"alice": "o", "bob": "", "carol": ""}
    # carol is no operator: the home refuses, wherever she is.
    sim.do(carol, f"TOPIC {channel} :mine")
    assert [line.command for line in sim.lines(carol)] == ["482"]
    sim.do(alice, f"MODE {channel} +o carol")
    sim.do(carol, f"TOPIC {channel} :carol's topic", f"MODE {channel} +b bob!*@*")
    for fake in (alice, bob, carol):
        got = sim.lines(fake)
        assert [line.command for line in got] == ["MODE", "TOPIC", "MODE"], fake.nick
    sim.do(carol, f"KICK {channel} bob :go away")
    for fake in (alice, bob, carol):
        kick = [line for line in sim.lines(fake) if line.command == "KICK"]
        assert [k.params[1] for k in kick] == ["bob"], fake.nick
    converged(sim, channel, ["a.test", "b.test", "c.test"])
    assert names(sim, "a.test", channel) == {"alice": "o", "carol": "o"}
    # bob is banned now: the home refuses his JOIN.
    sim.do(bob, f"JOIN {channel}")
    assert [line.command for line in sim.lines(bob)] == ["474"]
    sim.do(alice, f"MODE {channel} b")
    bans = [line.params[2] for line in sim.lines(alice) if line.command == "367"]
    assert bans == ["bob!*@*"]


def test_part_quit_and_nick_changes_reach_every_server_once() -> None:
    sim = line3()
    one, two = homed(sim, "a.test"), homed(sim, "c.test")
    alice = sim["a.test"].client("alice")
    bob = sim["b.test"].client("bob")
    carol = sim["c.test"].client("carol")
    join_all(sim, one, alice, bob, carol)
    join_all(sim, two, alice, bob, carol)
    sim.do(bob, "NICK robert")
    for fake in (alice, carol):
        assert [line.command for line in sim.lines(fake)] == ["NICK"], fake.nick
    assert "robert" in names(sim, "a.test", one) and "robert" in names(sim, "c.test", two)
    sim.do(bob, "QUIT :bye")
    for fake in (alice, carol):
        got = sim.lines(fake)
        assert [(line.command, line.params) for line in got] == [("QUIT", ["Quit: bye"])]
    assert "robert" not in names(sim, "c.test", one)
    sim.do(carol, f"PART {one}")
    assert [line.command for line in sim.lines(alice)] == ["PART"]
    assert sim["c.test"].places.get(one) is None  # carol was its last member there


def test_statusmsg_reaches_only_ops_on_every_server() -> None:
    sim = line3()
    channel = homed(sim, "b.test")
    alice = sim["a.test"].client("alice")
    bob = sim["b.test"].client("bob")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, carol, alice, bob)
    sim.do(bob, f"PRIVMSG @{channel} :ops only")
    assert sim.texts(carol) == ["ops only"]
    assert sim.texts(alice) == []


def test_broken_link_loses_nothing_and_duplicates_nothing() -> None:
    sim = line3()
    channel = homed(sim, "a.test")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, carol)
    sent = []
    for n in range(5):
        sent.append(f"m{n}")
        alice.send(f"PRIVMSG {channel} :m{n}")  # not delivered yet: on the wire
    sim.cut("a.test", "b.test")  # what was on the wire is lost
    for n in range(5, 8):
        sent.append(f"m{n}")
        sim.do(alice, f"PRIVMSG {channel} :m{n}")  # queued while the link is down
    sim.tick(2.0)
    sim.connect("a.test", "b.test")
    sim.settle()
    assert sim.texts(carol) == sent
    assert sim["a.test"].peer("b.test").stats.resent > 0
    sim.do(carol, f"PRIVMSG {channel} :back")
    assert sim.texts(alice) == ["back"]


def test_split_within_grace_is_invisible() -> None:
    sim = line3(split_grace=10.0)
    channel = homed(sim, "b.test")
    alice = sim["a.test"].client("alice")
    bob = sim["b.test"].client("bob")
    join_all(sim, channel, alice, bob)
    sim.cut("a.test", "b.test")
    sim.do(bob, f"PRIVMSG {channel} :during")
    sim.tick(5.0)
    sim.connect("a.test", "b.test")
    sim.settle()
    assert [(line.command, line.params[-1]) for line in sim.lines(alice)] == [("PRIVMSG", "during")]
    assert [line.command for line in sim.lines(bob)] == []


def test_split_past_grace_shows_netsplit_quits_then_joins() -> None:
    sim = line3(split_grace=3.0)
    channel = homed(sim, "b.test")
    alice = sim["a.test"].client("alice")
    bob = sim["b.test"].client("bob")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, bob, carol)
    sim.do(alice, f"MODE {channel} +v carol")
    for fake in (alice, bob, carol):
        sim.lines(fake)
    sim.cut("a.test", "b.test")
    sim.tick(5.0)
    # b and c lost alice; a lost everybody else (its replica is orphaned).
    for fake in (bob, carol):
        got = sim.lines(fake)
        assert [(line.command, line.source.split("!")[0]) for line in got] == [("QUIT", "alice")], (
            fake.nick
        )
        assert got[0].params[-1] == "b.test a.test"
    got = sim.lines(alice)
    assert sorted(line.source.split("!")[0] for line in got if line.command == "QUIT") == [
        "bob",
        "carol",
    ]
    assert names(sim, "a.test", channel) == {"alice": "o"}
    assert names(sim, "c.test", channel) == {"bob": "", "carol": "v"}
    # The home is gone past the grace: a message would only wait for it, so alice
    # is told (within the grace it waits: a short split loses nothing).
    sim.do(alice, f"PRIVMSG {channel} :hello?")
    error = [line for line in sim.lines(alice) if line.command == "404"]
    assert error and "b.test is unreachable" in error[0].params[-1]
    sim.connect("a.test", "b.test")
    sim.tick(2.0)
    converged(sim, channel, NAMES)
    assert names(sim, "b.test", channel) == {"alice": "o", "bob": "", "carol": "v"}
    joins = [line.source.split("!")[0] for line in sim.lines(alice) if line.command == "JOIN"]
    assert sorted(joins) == ["bob", "carol"]
    assert [line.source.split("!")[0] for line in sim.lines(bob) if line.command == "JOIN"] == [
        "alice"
    ]
    sim.do(bob, f"PRIVMSG {channel} :together again")
    assert sim.texts(alice) == ["together again"] and sim.texts(carol) == ["together again"]


def test_restarted_server_members_leave_at_once() -> None:
    sim = line3(split_grace=30.0)
    channel = homed(sim, "a.test")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, carol)
    sim.kill("c.test")
    sim.tick(1.0)
    assert sim.lines(alice) == []  # within the grace: maybe it comes back
    sim.start("c.test")
    sim.connect("b.test", "c.test")
    sim.settle()
    got = sim.lines(alice)
    assert [(line.command, line.source.split("!")[0]) for line in got] == [("QUIT", "carol")]
    assert names(sim, "a.test", channel) == {"alice": "o"}


def test_home_restart_is_repaired_from_the_replicas() -> None:
    sim = line3(split_grace=30.0)
    channel = homed(sim, "c.test")
    alice = sim["a.test"].client("alice")
    bob = sim["b.test"].client("bob")
    join_all(sim, channel, alice, bob)
    sim.do(alice, f"TOPIC {channel} :keep me", f"MODE {channel} +v bob", f"MODE {channel} +s")
    created = view_of(sim, "a.test", channel).created
    sim.lines(alice)
    sim.lines(bob)
    sim.kill("c.test")
    sim.start("c.test")
    sim.connect("b.test", "c.test")
    sim.tick(3.0)
    home = sim["c.test"].places.get(channel)
    assert home is not None and not isinstance(home, Replica)
    assert home.topic == "keep me" and "s" in home.flags and home.created == created
    converged(sim, channel, [*NAMES[:2], "c.test"])
    assert names(sim, "c.test", channel) == {"alice": "o", "bob": "v"}
    assert [line.command for line in sim.lines(alice)] == []  # nothing visible happened
    sim.do(bob, f"PRIVMSG {channel} :still here")
    assert sim.texts(alice) == ["still here"]


def test_replica_gap_is_repaired_by_a_replay() -> None:
    sim = line3()
    channel = homed(sim, "a.test")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, carol)
    sim.cut("a.test", "b.test")
    sim.do(alice, f"PRIVMSG {channel} :lost 1", f"PRIVMSG {channel} :lost 2")
    peer = sim["a.test"].peer("b.test")
    peer.acknowledge(peer.sent)  # as if the link queue overflowed: both are gone
    sim.connect("a.test", "b.test")
    sim.settle()  # c asks a.test to resync its replica when a.test is back
    assert sim.texts(carol) == ["lost 1", "lost 2"]
    assert sim["a.test"].linking.masters.replayed == 2
    sim.do(alice, f"PRIVMSG {channel} :next")
    assert sim.texts(carol) == ["next"]


def test_replica_gap_older_than_the_buffer_gets_the_state() -> None:
    sim = line3(resync_buffer=2)
    channel = homed(sim, "a.test")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, carol)
    sim.cut("a.test", "b.test")
    sim.do(alice, *(f"PRIVMSG {channel} :m{n}" for n in range(4)), f"TOPIC {channel} :new")
    peer = sim["a.test"].peer("b.test")
    peer.acknowledge(peer.sent)
    sim.connect("a.test", "b.test")
    sim.settle()
    got = sim.lines(carol)
    assert [(line.command, line.params[-1]) for line in got] == [("TOPIC", "new")]
    converged(sim, channel, ["a.test", "c.test"])
    assert sim["a.test"].linking.masters.states_sent >= 1


def test_nicks_are_unique_across_servers() -> None:
    sim = line3()
    sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    sim.do(carol, "NICK alice")
    assert [line.command for line in sim.lines(carol)] == ["433"]
    late = FakeClient(sim["c.test"])  # type: ignore[arg-type]
    out = late.register("ALICE")
    assert "433" in [line.command for line in out]


def test_nick_collision_at_link_time_renames_the_later_one() -> None:
    sim = Sim(NAMES, LINE)
    first = sim["a.test"].client("sam")
    sim.tick(1.0)
    second = sim["c.test"].client("sam")
    sim.link_all()
    sim.tick(1.0)
    assert first.client.nick == "sam"
    assert second.client.nick.startswith("Guest")
    assert any("collision" in line.params[-1] for line in sim.lines(second))


def test_whois_ison_userhost_monitor_lusers_see_remote_persons() -> None:
    sim = line3()
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol", caps=["extended-monitor"])
    sim.do(carol, "MONITOR + alice,dave", "ISON alice dave", "WHOIS alice", "USERHOST alice")
    got = sim.lines(carol)
    by = {line.command: line for line in got}
    assert by["730"].params[-1].startswith("alice!")
    assert by["303"].params[-1] == "alice"
    assert by["312"].params[2] == "a.test"
    assert by["302"].params[-1].startswith("alice=+")
    sim.do(alice, "AWAY :lunch")
    sim.tick(1.0)
    sim.do(carol, "WHOIS alice")
    assert [line.params[-1] for line in sim.lines(carol) if line.command == "301"] == ["lunch"]
    dave = sim["b.test"].client("dave")
    assert [line.command for line in sim.lines(carol)] == ["730"]
    sim.do(carol, "LUSERS")
    luser = next(line for line in sim.lines(carol) if line.command == "251")
    assert luser.params[-1] == "There are 3 users and 0 invisible on 3 servers"
    sim.do(dave, "QUIT :bye")
    assert [line.command for line in sim.lines(carol)] == ["731"]


def test_links_map_and_stats() -> None:
    sim = line3()
    admin = sim["b.test"].client("admin")
    sim.do(admin, "LINKS", "MAP", "STATS l")
    got = sim.lines(admin)
    links = [line.params[1] for line in got if line.command == "364"]
    assert links == ["a.test", "b.test", "c.test"]
    maps = [line.params[-1] for line in got if line.command == "015"]
    assert maps[0].startswith("b.test") and len(maps) == 3
    stats = [line.params[1] for line in got if line.command == "211"]
    assert stats == ["a.test[up]", "c.test[up]"]
    sim.do(admin, "STATS L")
    assert next(line.command for line in sim.lines(admin)) == "481"  # operators only


def test_federation_with_a_server_outside_the_network() -> None:
    # a and b are one network; c is a PSYC server of its own, linked to b.
    sim = Sim(NAMES, LINE, servers=["a.test", "b.test"])
    sim.link_all()
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    sim.do(carol, "JOIN #lounge")
    sim.lines(carol)
    sim.do(alice, "JOIN #psyc://c.test/@lounge")
    got = sim.lines(alice)
    assert (got[0].source, got[0].command, got[0].params) == (
        "alice!~user@127.0.0.1",
        "JOIN",
        ["#psyc://c.test/@lounge"],
    )
    names = next(line for line in got if line.command == "353").params[-1].split()
    assert sorted(names) == ["@psyc://c.test/~carol", "alice"]
    joined = sim.lines(carol)
    assert joined[0].source == "psyc://a.test/~alice!~user@127.0.0.1"
    assert joined[0].params == ["#lounge"]
    sim.do(carol, "PRIVMSG #lounge :hello from c")
    line = next(line for line in sim.lines(alice) if line.command == "PRIVMSG")
    assert line.source.startswith("psyc://c.test/~carol!")
    assert line.params == ["#psyc://c.test/@lounge", "hello from c"]
    sim.do(alice, "PRIVMSG #psyc://c.test/@lounge :hello from a")
    line = next(line for line in sim.lines(carol) if line.command == "PRIVMSG")
    assert line.source.startswith("psyc://a.test/~alice!")
    assert line.params == ["#lounge", "hello from a"]
    sim.do(alice, "PRIVMSG psyc://c.test/~carol :psst")
    line = next(line for line in sim.lines(carol) if line.command == "PRIVMSG")
    assert line.source.startswith("psyc://a.test/~alice!")
    assert line.params == ["carol", "psst"]
    sim.do(carol, "MODE #lounge +v psyc://a.test/~alice")
    mode = next(line for line in sim.lines(alice) if line.command == "MODE")
    assert mode.params == ["#psyc://c.test/@lounge", "+v", "alice"]
    assert names_of(sim, "a.test", "#psyc://c.test/@lounge") == {
        "alice": "v",
        "psyc://c.test/~carol": "o",
    }
    # c is not part of a's network: no roster, no nick uniqueness with it.
    other = sim["c.test"].client("alice")
    assert other.client.nick == "alice"


def names_of(sim: Sim, server: str, channel: str) -> dict[str, str]:
    return names(sim, server, channel)


def test_stats_l_rows_fit_in_a_line_and_read_back() -> None:
    from ircpsyc.ircd.linkinfo import JSON_ROW, json_rows, read_rows

    data = {f"key{i}": "x" * 50 for i in range(20)} | {"huge": "y" * 1000}
    rows = json_rows({"service": "accounts"}, data)
    assert len(rows) > 1 and all(len(row) <= JSON_ROW for row in rows)
    back = read_rows(['{"server":"a.test"}', '{"name":"b.test","state":"up"}', *rows])
    assert back["server"] == "a.test"
    assert back["links"] == {"b.test": {"name": "b.test", "state": "up"}}
    accounts = back["services"]["accounts"]
    assert {k: v for k, v in accounts.items() if k != "huge"} == {
        k: v for k, v in data.items() if k != "huge"
    }
    assert accounts["huge"].endswith("...")


def test_netjoin_brings_the_members_addresses_back_to_the_home() -> None:
    # The home matches bans on addresses and cloaks: a JOIN carries them, and so does
    # the netjoin that brings members back after a split (never cast to anybody).
    sim = line3(split_grace=3.0)
    channel = homed(sim, "a.test")
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    join_all(sim, channel, alice, carol)
    place = sim["a.test"].places.places[channel.lower()]
    carol_key = next(k for k, m in place.members.items() if m.nick == "carol")
    assert place.members[carol_key].ip == "127.0.0.1"
    sim.cut("a.test", "b.test")
    sim.tick(5.0)
    assert carol_key not in place.members
    sim.connect("a.test", "b.test")
    sim.tick(3.0)
    assert place.members[carol_key].ip == "127.0.0.1"
    sim.do(alice, f"MODE {channel} +b *!*@127.0.0.1", f"KICK {channel} carol")
    sim.settle()
    sim.do(carol, f"JOIN {channel}")
    assert "474" in [line.command for line in sim.lines(carol)]
