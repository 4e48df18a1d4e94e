"""Private conversations across servers, sans-IO.

* Private history: a message between persons of two servers is logged on both
  (same msgid, time and party keys), so CHATHISTORY and TARGETS on either side
  show the whole conversation, one entry per message per server.
* The away log follows the account: it lives at the account's home
  (ircpsyc.services.awaylog_net); any server hands lines there and fetches them
  when the account comes back, and AWAYLOG acts on it.
* Mentions of an absent account are kept once, at the account's home.

Three servers in a line (a - b - c) with their stores and services; `#x` is pinned
to a; account names are picked so their home is where the test wants it."""

from __future__ import annotations

from helpers import FakeClient
from irctokens.line import Line
from netsim import Sim

from ircpsyc.services.awaylog import AwayLog
from ircpsyc.services.history import Query, conversation, party_key

A, B, C = "a.test", "b.test", "c.test"
CAPS = ["batch", "server-time", "message-tags", "draft/chathistory", "echo-message"]
EVER = "timestamp=2000-01-01T00:00:00.000Z timestamp=2099-01-01T00:00:00.000Z"


def line3() -> Sim:
    sim = Sim([A, B, C], [(A, B), (B, C)], services=True, pins={"#x": A})
    sim.link_all()
    return sim


def homed(sim: Sim, server: str, prefix: str) -> str:
    """An account name whose home is `server`."""
    nickserv = sim[A].core.nickserv
    assert nickserv is not None
    return next(
        f"{prefix}{i}" for i in range(1000) if nickserv.sync.home_of_name(f"{prefix}{i}") == server
    )


def register(sim: Sim, server: str, nick: str, caps: list[str] | None = None) -> FakeClient:
    fake = sim[server].client(nick, caps=caps or [])
    sim.do(fake, "PRIVMSG NickServ :REGISTER secret-pw")
    sim.settle()
    out = sim.lines(fake)
    assert "900" in [m.command for m in out], [m.format() for m in out]
    sim.tick(1.0)  # the account reaches every server, the roster carries it
    return fake


def identify(sim: Sim, server: str, nick: str, caps: list[str] | None = None) -> FakeClient:
    fake = sim[server].client(nick, caps=caps or [])
    sim.do(fake, f"NS IDENTIFY {nick} secret-pw")
    sim.settle()
    return fake


def awaylog(sim: Sim, server: str) -> AwayLog:
    log = sim[server].core.awaylog
    assert log is not None
    return log


def kept(sim: Sim, server: str, account: str) -> list[str]:
    return [e.body for e in awaylog(sim, server).entries(account, unread_only=False)]


def notices(lines: list[Line]) -> list[str]:
    """Texts of NOTICEs from the server, and the away log's word about a private
    message (from the recipient's nick), not from NickServ."""
    return [
        m.params[-1]
        for m in lines
        if m.command == "NOTICE"
        and ("!" not in (m.source or "") or "!awaylog@" in (m.source or ""))
    ]


def privmsgs(lines: list[Line]) -> list[tuple[str, str]]:
    return [(m.source or "", m.params[-1]) for m in lines if m.command == "PRIVMSG"]


def msgids(lines: list[Line]) -> list[str]:
    return [m.tags["msgid"] for m in lines if m.command == "PRIVMSG" and m.tags]


def history_of(sim: Sim, server: str, key_a: str, key_b: str) -> list[str]:
    history = sim[server].core.history
    assert history is not None
    return [e.source.body for e in history.query(Query(conversation(key_a, key_b), limit=100))]


# -- private history on both sides


def talk(sim: Sim, alice: FakeClient, bob: FakeClient) -> list[str]:
    """alice (on a) and bob (on c) exchange three lines; the msgids delivered."""
    ids = []
    for sender, target, text in (
        (alice, "bob", "hi bob"),
        (bob, "alice", "hello alice"),
        (alice, "bob", "how are you?"),
    ):
        sim.now += 1
        sim.do(sender, f"PRIVMSG {target} :{text}")
        sim.settle()
        sim.lines(sender)  # its echo
        ids += msgids(sim.lines(bob if sender is alice else alice))
    sim.lines(alice)
    sim.lines(bob)
    return ids


def test_both_servers_keep_the_whole_conversation() -> None:
    sim = line3()
    alice = sim[A].client("alice", caps=CAPS)
    bob = sim[C].client("bob", caps=CAPS)
    ids = talk(sim, alice, bob)
    assert len(ids) == 3
    texts = ["hi bob", "hello alice", "how are you?"]
    for fake, other in ((alice, "bob"), (bob, "alice")):
        sim.do(fake, f"CHATHISTORY LATEST {other} * 10")
        out = sim.lines(fake)
        assert [text for _, text in privmsgs(out)] == texts, fake.nick
        assert msgids(out) == ids  # the same messages, not copies with new ids
        assert out[0].command == "BATCH" and out[0].params[1:] == ["chathistory", other]
    # One entry per message on each server (echo-message did not add any), and none
    # on the server in the middle.
    keys = (party_key("", "alice"), party_key("", "bob"))
    assert history_of(sim, A, *keys) == texts
    assert history_of(sim, C, *keys) == texts
    assert history_of(sim, B, *keys) == []


def test_the_same_times_and_selectors_on_both_sides() -> None:
    sim = line3()
    alice = sim[A].client("alice", caps=CAPS)
    bob = sim[C].client("bob", caps=CAPS)
    ids = talk(sim, alice, bob)
    for query in (
        f"CHATHISTORY BEFORE {{}} msgid={ids[2]} 10",
        f"CHATHISTORY AFTER {{}} msgid={ids[0]} 1",
        f"CHATHISTORY AROUND {{}} msgid={ids[1]} 3",
    ):
        sim.do(alice, query.format("bob"))
        here = sim.lines(alice)
        sim.do(bob, query.format("alice"))
        there = sim.lines(bob)
        assert privmsgs(here) == privmsgs(there) and privmsgs(here), query
        times = [m.tags["time"] for m in here if m.command == "PRIVMSG" and m.tags]
        assert times == [m.tags["time"] for m in there if m.command == "PRIVMSG" and m.tags]


def test_targets_lists_the_correspondent_on_both_sides() -> None:
    sim = line3()
    alice = sim[A].client("alice", caps=CAPS)
    bob = sim[C].client("bob", caps=CAPS)
    talk(sim, alice, bob)
    for fake, other in ((alice, "bob"), (bob, "alice")):
        sim.do(fake, f"CHATHISTORY TARGETS {EVER} 10")
        out = sim.lines(fake)
        assert [m.params[1] for m in out if m.command == "CHATHISTORY"] == [other]


def test_accounts_are_the_party_keys_on_both_sides() -> None:
    sim = line3()
    alice_name, bob_name = homed(sim, B, "alice"), homed(sim, B, "bob")
    alice = register(sim, A, alice_name, CAPS)
    bob = register(sim, C, bob_name, CAPS)
    sim.do(alice, f"PRIVMSG {bob_name} :as accounts")
    sim.settle()
    sim.do(bob, f"PRIVMSG {alice_name} :indeed")
    sim.settle()
    keys = (party_key(alice_name, ""), party_key(bob_name, ""))
    assert history_of(sim, A, *keys) == ["as accounts", "indeed"]
    assert history_of(sim, C, *keys) == ["as accounts", "indeed"]
    # bob logs in again on another server with another nick: the conversation is his.
    sim.do(bob, "QUIT :moving")
    sim.settle()
    elsewhere = sim[C].client("bobby", caps=CAPS)
    sim.do(elsewhere, f"NS IDENTIFY {bob_name} secret-pw")
    sim.settle()
    sim.lines(elsewhere)
    sim.do(elsewhere, f"CHATHISTORY LATEST {alice_name} * 10")
    assert [t for _, t in privmsgs(sim.lines(elsewhere))] == ["as accounts", "indeed"]


def test_a_copy_that_arrives_twice_is_logged_once() -> None:
    sim = line3()
    alice = sim[A].client("alice", caps=CAPS)
    sim[C].client("bob", caps=CAPS)
    delivered = []
    bob_client = sim[C].core.clients["bob"]
    sessions = bob_client.sessions
    bob_client.sessions = []  # keep nothing from the spy's way
    sim.do(alice, "PRIVMSG bob :once")
    sim.settle()
    bob_client.sessions = sessions
    history = sim[C].core.history
    assert history is not None
    delivered = [
        e.source
        for e in history.query(
            Query(conversation(party_key("", "alice"), party_key("", "bob")), limit=10)
        )
    ]
    assert [p.body for p in delivered] == ["once"]
    bob_client.receive(delivered[0])  # the same packet again (a retransmission)
    keys = (party_key("", "alice"), party_key("", "bob"))
    assert history_of(sim, C, *keys) == ["once"]


def test_private_notices_and_services_follow_the_local_rules() -> None:
    sim = line3()
    alice = sim[A].client("alice", caps=CAPS)
    bob = sim[C].client("bob", caps=CAPS)
    sim.do(alice, "NOTICE bob :a notice")
    sim.do(bob, "PRIVMSG NickServ :HELP")
    sim.settle()
    keys = (party_key("", "alice"), party_key("", "bob"))
    assert history_of(sim, C, *keys) == ["a notice"]
    assert history_of(sim, A, *keys) == ["a notice"]
    sim.do(bob, f"CHATHISTORY TARGETS {EVER} 10")
    assert [m.params[1] for m in sim.lines(bob) if m.command == "CHATHISTORY"] == ["alice"]


# -- the away log lives at the account's home


def offline_account(sim: Sim, home: str, typed_on: str = A) -> str:
    """A registered account homed on `home` whose owner quit: nobody uses its nick."""
    name = homed(sim, home, "bob")
    owner = register(sim, typed_on, name)
    sim.do(owner, "QUIT :bye")
    sim.settle()
    return name


def test_message_to_an_offline_account_is_kept_at_its_home_and_shown_anywhere() -> None:
    sim = line3()
    name = offline_account(sim, home=B)
    carol = sim[C].client("carol", caps=CAPS)
    sim.do(carol, f"PRIVMSG {name} :are you there?")
    sim.settle()
    assert any("recorded" in n for n in notices(sim.lines(carol)))
    assert kept(sim, B, name) == ["are you there?"]
    assert kept(sim, A, name) == [] and kept(sim, C, name) == []
    # The account logs in on a: it gets the line from b, with its time and msgid.
    back = identify(sim, A, name, CAPS)
    out = sim.lines(back)
    assert [t for _, t in privmsgs(out)] == ["are you there?"]
    batch = next(m for m in out if m.command == "BATCH")
    assert batch.params[1:] == ["chathistory", "carol"]
    assert any(n.startswith("Away log: 1 message") for n in notices(out))
    # Read at the home: logging in again shows nothing new.
    assert awaylog(sim, B).entries(name) == []
    sim.do(back, "QUIT :again")
    sim.settle()
    again = identify(sim, C, name, CAPS)
    assert privmsgs(sim.lines(again)) == []


def test_plain_clients_get_the_original_lines_from_the_home_s_log() -> None:
    sim = line3()
    name = offline_account(sim, home=C)
    carol = sim[A].client("carol")
    sim.do(carol, f"PRIVMSG {name} :plain words")
    sim.settle()
    back = identify(sim, B, name)
    got = [ln for ln in sim.lines(back) if ln.command == "PRIVMSG"]
    assert [ln.source.split("!")[0] for ln in got] == ["carol"], got
    text = got[0].params[-1]
    assert text.startswith("[") and text.endswith("] plain words"), text


def test_the_home_unreachable_tells_the_sender_at_once() -> None:
    sim = line3()
    name = offline_account(sim, home=A)
    carol = sim[C].client("carol")
    sim.cut(A, B)
    sim.do(carol, f"PRIVMSG {name} :into the void")
    sim.settle()
    texts = notices(sim.lines(carol))
    assert any("could not be kept" in t and A in t for t in texts), texts
    assert not any("recorded" in t for t in texts)
    assert kept(sim, C, name) == [] and kept(sim, A, name) == []


def test_a_home_that_does_not_answer_gets_the_sender_a_second_notice() -> None:
    sim = line3()
    name = offline_account(sim, home=A)
    carol = sim[C].client("carol")
    service = sim[A].linking.awaylog
    service._answer = lambda packet: None  # type: ignore[method-assign]
    sim.do(carol, f"PRIVMSG {name} :anyone?")
    sim.run()
    assert any("recorded" in t for t in notices(sim.lines(carol)))
    sim.tick(6.0)
    assert any("may not have been kept after all" in t for t in notices(sim.lines(carol)))
    assert not sim[C].linking.awaylog.requests


def test_awaylog_list_play_clear_act_on_the_home() -> None:
    sim = line3()
    name = offline_account(sim, home=B)
    carol = sim[C].client("carol")
    for text in ("one", "two"):
        sim.do(carol, f"PRIVMSG {name} :{text}")
    sim.settle()
    back = identify(sim, A, name, CAPS)
    sim.lines(back)
    sim.do(back, "AWAYLOG LIST")
    sim.settle()
    listing = notices(sim.lines(back))
    assert listing[0] == "Away log: 2 kept, 0 unread.", listing
    assert any(t.startswith("  carol: 2 private messages") for t in listing)
    sim.do(back, "AWAYLOG PLAY")
    sim.settle()
    assert [t for _, t in privmsgs(sim.lines(back))] == ["one", "two"]
    sim.do(back, "@label=c1 AWAYLOG CLEAR")
    sim.settle()
    assert notices(sim.lines(back)) == ["Away log cleared (2 entries)."]
    assert kept(sim, B, name) == []
    sim.do(back, "AWAYLOG PLAY")
    sim.settle()
    assert notices(sim.lines(back)) == ["Your away log is empty."]
    # The home unreachable: CLEAR says so instead of pretending.
    sim.cut(A, B)
    sim.do(back, "AWAYLOG CLEAR")
    sim.settle()
    fail = [m for m in sim.lines(back) if m.command == "FAIL"]
    assert [m.params[:2] for m in fail] == [["AWAYLOG", "TEMPORARILY_UNAVAILABLE"]]


def test_away_person_on_another_server_than_its_home() -> None:
    sim = line3()
    name = homed(sim, A, "bob")
    bob = register(sim, C, name, CAPS)
    sim.do(bob, "AWAY :lunch")
    sim.tick(1.0)
    carol = sim[B].client("carol")
    sim.do(carol, f"PRIVMSG {name} :while you eat")
    sim.settle()
    assert any("recorded" in t for t in notices(sim.lines(carol)))
    assert kept(sim, A, name) == ["while you eat"]
    assert kept(sim, C, name) == [] and kept(sim, B, name) == []
    sim.lines(bob)
    sim.do(bob, "AWAY")
    sim.settle()
    assert [t for _, t in privmsgs(sim.lines(bob))] == ["while you eat"]
    assert awaylog(sim, A).entries(name) == []


# -- mentions: kept once, at the account's home


def test_a_mention_is_kept_once_at_the_account_s_home() -> None:
    sim = line3()
    name = homed(sim, B, "bob")
    bob = register(sim, C, name)
    alice = sim[A].client("alice")
    dave = sim[C].client("dave")  # keeps c's replica of #x after bob is gone
    for fake in (alice, bob, dave):
        sim.do(fake, "JOIN #x")
    sim.settle()
    sim.do(bob, "AWAY :out")
    sim.tick(1.0)
    sim.do(alice, f"PRIVMSG #x :{name}: lunch?")
    sim.settle()
    assert kept(sim, B, name) == [f"{name}: lunch?"]
    # bob quits while away: a (the channel's home) and c (where he was away) both
    # watch for him now; the line is kept once, at b.
    sim.do(bob, "QUIT :gone")
    sim.settle()
    sim.do(alice, f"PRIVMSG #x :{name}: still there?")
    sim.settle()
    assert kept(sim, B, name) == [f"{name}: lunch?", f"{name}: still there?"]
    assert kept(sim, A, name) == [] and kept(sim, C, name) == []
    entries = awaylog(sim, B).entries(name)
    assert [e.channel for e in entries] == ["#x", "#x"]
    # He logs in on a and is not away: mentions are his own again, nothing more kept
    # (the stale watches are dropped), and what he missed is shown once.
    back = identify(sim, A, name, CAPS)
    sim.tick(1.0)
    out = sim.lines(back)
    assert [t for _, t in privmsgs(out)] == [f"{name}: lunch?", f"{name}: still there?"]
    # Back in #x and not away: mentions there are his own again.
    sim.do(back, "JOIN #x")
    sim.settle()
    sim.do(alice, f"PRIVMSG #x :{name}: welcome back")
    sim.settle()
    assert len(awaylog(sim, B).entries(name, unread_only=False)) == 2
    assert awaylog(sim, B).entries(name) == []
    for server in (A, B, C):  # the watches that outlived their reason are gone
        assert name not in awaylog(sim, server).watched_in("#x"), server


def test_a_mention_with_the_home_unreachable_is_kept_where_it_was_found() -> None:
    sim = line3()
    name = homed(sim, C, "bob")
    bob = register(sim, A, name)
    alice = sim[A].client("alice")
    for fake in (alice, bob):
        sim.do(fake, "JOIN #x")
    sim.settle()
    sim.do(bob, "QUIT :gone")
    sim.settle()
    sim.cut(B, C)
    sim.do(alice, f"PRIVMSG #x :{name}: are you there?")
    sim.settle()
    assert kept(sim, A, name) == [f"{name}: are you there?"]
    # Logging in on a shows it (and says the home could not be asked).
    back = identify(sim, A, name, CAPS)
    out = sim.lines(back)
    assert [t for _, t in privmsgs(out)] == [f"{name}: are you there?"]
    assert any("cannot be reached" in t for t in notices(out))


def test_a_line_kept_twice_after_a_timeout_is_shown_once() -> None:
    sim = line3()
    name = homed(sim, A, "bob")
    bob = register(sim, C, name, CAPS)
    sim.do(bob, "AWAY :lunch")
    sim.tick(1.0)
    home = sim[A].linking.awaylog
    held: list[object] = []
    answer = home._answer
    home._answer = held.append  # type: ignore[method-assign,assignment]
    carol = sim[B].client("carol")
    sim.do(carol, f"PRIVMSG {name} :slow home")
    sim.settle()
    sim.tick(6.0)  # c gives up waiting and keeps it itself
    assert kept(sim, C, name) == ["slow home"]
    home._answer = answer  # type: ignore[method-assign]
    for packet in held:
        answer(packet)  # type: ignore[arg-type]
    sim.settle()
    assert kept(sim, A, name) == ["slow home"]  # the home kept it too, late
    sim.lines(bob)
    sim.do(bob, "AWAY")
    sim.settle()
    assert [t for _, t in privmsgs(sim.lines(bob))] == ["slow home"]
    assert awaylog(sim, A).entries(name) == [] and awaylog(sim, C).entries(name) == []
