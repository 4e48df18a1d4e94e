"""IRCv3 metadata without sockets: the rules of ircpsyc.ircd.metadata, the place's
decision over channel metadata and its replicas' copies, the roster's field, the
METADATA command through sans-IO sessions, and two servers of an in-memory network."""

from __future__ import annotations

from pathlib import Path

from account_helpers import ServicesWorld
from helpers import SERVER, Recorder, World, cmds, make_config, only
from irctokens.line import Line
from netsim import Sim

from ircpsyc.assemble import install_always_on
from ircpsyc.channels.place import METADATA_MAX_KEYS, METADATA_MAX_VALUE_BYTES
from ircpsyc.channels.replica import METADATA_COLUMNS, apply_metadata, place_state
from ircpsyc.ircd import metadata as meta
from ircpsyc.persons.roster import metadata_of, metadata_text
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import person, place
from ircpsyc.store import Store

CAPS = ("draft/metadata-2", "batch")

# -- the rules


def test_keys_values_and_diffs() -> None:
    assert meta.valid_key("display-name") and meta.valid_key("im.xmpp/x_1")
    for bad in ("", "Display", "a b", "$url", ":x", "é", "k" * 65):
        assert not meta.valid_key(bad), bad
    assert meta.valid_value("") and meta.valid_value("💜" * (METADATA_MAX_VALUE_BYTES // 4))
    assert not meta.valid_value("x" * (METADATA_MAX_VALUE_BYTES + 1))
    assert not meta.valid_value("bad \ufffd")  # how an invalid UTF-8 line reads
    assert meta.diff({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == {
        "b": "3",
        "c": "4",
        "a": None,
    }
    assert meta.key_value("srv", "me", "you", "k", "v w") == b":srv 761 me you k * :v w\r\n"
    assert meta.key_value("srv", "", "you", "k", None) == b":srv 766 * you k :key not set\r\n"
    batch = meta.batch_lines("srv", "r1", "#c", [b":srv 761 me #c k * :v\r\n"])
    assert batch == [
        b":srv BATCH +r1 metadata #c\r\n",
        b"@batch=r1 :srv 761 me #c k * :v\r\n",
        b":srv BATCH -r1\r\n",
    ]


class FakeSession:
    def __init__(self, nick: str, caps: set[str], subs: list[str]) -> None:
        self.nick = nick
        self.caps = caps
        self.metadata_subs = dict.fromkeys(subs)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)


def test_changes_reach_subscribed_sessions_with_the_cap_only() -> None:
    subscribed = FakeSession("a", {"draft/metadata-3"}, ["avatar"])
    other_key = FakeSession("b", {"draft/metadata-2"}, ["color"])
    no_cap = FakeSession("c", set(), ["avatar"])
    actor = FakeSession("d", {"draft/metadata-2"}, ["avatar"])
    sessions = [subscribed, other_key, no_cap, actor, object()]
    meta.tell_change("srv", sessions, "alice", {"avatar": "u", "color": None}, skip=actor)
    assert subscribed.sent == [b":srv 761 a alice avatar * :u\r\n"]
    assert other_key.sent == [b":srv 766 b alice color :key not set\r\n"]
    assert no_cap.sent == [] and actor.sent == []


def test_account_store_and_login_merge() -> None:
    store = Store(":memory:")
    try:
        kept = meta.AccountMetadata()
        kept.attach(store)
        kept.save("Alice", {"avatar": "a.png", "color": "red"})
        kept.save("alice", {"color": None})
        assert kept.load("ALICE") == {"avatar": "a.png"}
        world = World()
        fake = world.client("alice")
        client = fake.client
        client.account = "alice"
        client.metadata = {"avatar": "new.png", "pronouns": "she"}
        changes = meta.logged_in(client, kept)
        # What the person set wins, what the account kept joins, and both are kept.
        assert client.metadata == {"avatar": "new.png", "pronouns": "she"}
        assert changes == {}
        client.metadata = {"color": "blue"}
        assert meta.logged_in(client, kept) == {"avatar": "new.png", "pronouns": "she"}
        assert kept.load("alice") == {"avatar": "new.png", "pronouns": "she", "color": "blue"}
    finally:
        store.close()


def test_roster_field_reads_only_what_it_should() -> None:
    assert metadata_of(metadata_text({"a": "1", "b": "💜"})) == {"a": "1", "b": "💜"}
    # Keys outside the spec's names are dropped, line breaks in values become spaces.
    sent = metadata_text({"é": "x", "bad key": "x", "ok": "a\r\nQUIT :x"})
    assert metadata_of(sent) == {"ok": "a  QUIT :x"}
    assert metadata_text({}) == "{}"
    for bad in ("", "{", "[1, 2]", '"text"', '{"a": 1, "b": null, "c": "ok"}', "x" * 40000):
        got = metadata_of(bad)
        assert got in ({}, {"c": "ok"}), bad


# -- the place decides


def _member(world: World, nick: str, channel: str) -> Recorder:
    rec = Recorder(person(SERVER, nick))
    world.router.register(rec)
    routing = {"_source": rec.uniform, "_target": place(SERVER, channel[1:])}
    vars = {"_nick": nick, "_user": "u", "_host": "h.example", "_nick_place": channel}
    world.router.send(Packet(V.REQUEST_ENTER, routing, vars))
    return rec


def _set(world: World, rec: Recorder, channel: str, **vars: object) -> None:
    routing = {"_source": rec.uniform, "_target": place(SERVER, channel[1:])}
    world.router.send(Packet(V.REQUEST_SET_METADATA, routing, dict(vars)))  # type: ignore[arg-type]


def test_only_operators_change_a_place_and_every_member_hears_it() -> None:
    world = World()
    op, member = _member(world, "op", "#m"), _member(world, "member", "#m")
    op.take(), member.take()
    _set(world, member, "#m", _list_metadata_keys=["url"], _list_metadata_values=["x"])
    assert member.methods() == [V.ERROR_PLACE_PRIVILEGE_OPERATOR] and op.methods() == []
    member.take()
    _set(world, op, "#m", _list_metadata_keys=["url"], _list_metadata_values=["https://a/"])
    for rec in (op, member):
        (cast,) = rec.take()
        assert cast.method == V.NOTICE_PLACE_METADATA
        assert cast.rows(METADATA_COLUMNS) == [("url", "https://a/")]
        assert cast.routing[V.SOURCE_RELAY] == op.uniform
    view = world.places.get("#m")
    assert view is not None and dict(view.metadata) == {"url": "https://a/"}
    # The limit of keys: refused as a whole.
    keys = [f"k{i}" for i in range(METADATA_MAX_KEYS)]
    _set(world, op, "#m", _list_metadata_keys=keys, _list_metadata_values=keys)
    assert op.methods() == [V.ERROR_PLACE_METADATA_LIMIT]
    op.take()
    # An overlong value from a peer is cut, not stored whole.
    _set(world, op, "#m", _list_metadata_keys=["big"], _list_metadata_values=["💜" * 200])
    assert len(view.metadata["big"].encode()) <= METADATA_MAX_VALUE_BYTES
    op.take(), member.take()
    _set(world, op, "#m", _flag_clear="1")
    (cast,) = member.take()
    assert sorted(cast.get_list(V.LIST_METADATA_UNSET)) == ["big", "url"]
    assert dict(view.metadata) == {}
    op.take()
    _set(world, op, "#m", _list_metadata_unset=["nothing"])
    assert op.take() == []  # nothing changed: nothing cast


def test_replicas_copy_the_state_and_apply_the_casts() -> None:
    world = World()
    op = _member(world, "op", "#r")
    _set(world, op, "#r", _list_metadata_keys=["a", "b"], _list_metadata_values=["1", "2"])
    view = world.places.get("#r")
    assert view is not None
    state = Packet(V.STATUS_PLACE_STATE, {}, place_state(view))
    copy = {k: v for k, v in state.rows(METADATA_COLUMNS)}
    assert copy == {"a": "1", "b": "2"}
    apply_metadata(copy, Packet(V.NOTICE_PLACE_METADATA, {}, {V.LIST_METADATA_UNSET: ["a"]}))
    change = {V.LIST_METADATA_KEYS: ["c"], V.LIST_METADATA_VALUES: ["3"]}
    apply_metadata(copy, Packet(V.NOTICE_PLACE_METADATA, {}, change))
    assert copy == {"b": "2", "c": "3"}
    apply_metadata(copy, Packet(V.NOTICE_PLACE_METADATA, {}, {V.FLAG_CLEAR: "1"}))
    assert copy == {}
    hostile = {V.LIST_METADATA_KEYS: ["a b", "ok"], V.LIST_METADATA_VALUES: ["x", "1\n2"]}
    apply_metadata(copy, Packet(V.NOTICE_PLACE_METADATA, {}, hostile))
    assert copy == {"ok": "1 2"}


# -- the command, through sans-IO sessions


def kv(lines: list[Line]) -> list[tuple[str, ...]]:
    return [tuple(m.params[1:]) for m in lines if m.command in ("761", "766")]


def test_command_replies_and_join_burst() -> None:
    world = World()
    alice = world.client("alice", CAPS)
    bob = world.client("bob", CAPS)
    plain = world.client("plain")
    assert only(bob.send("METADATA * SUB avatar url"), "770").params[1:] == ["avatar", "url"]
    assert kv(alice.send("METADATA * SET avatar :https://a.example/a.png")) == [
        ("alice", "avatar", "*", "https://a.example/a.png")
    ]
    world.channel("#x", alice)
    out = bob.send("JOIN #x")
    assert ("alice", "avatar", "*", "https://a.example/a.png") in kv(out)
    assert "BATCH" in cmds(out)
    alice.send("METADATA #x SET url :https://x.example/")
    assert kv(bob.take()) == [("#x", "url", "*", "https://x.example/")]
    # Without the capability: answers, no notifications.
    plain.send("JOIN #x")
    alice.send("METADATA * SET avatar")
    assert kv(plain.take()) == []
    assert kv(bob.take()) == [("alice", "avatar", "key not set")]
    failed = plain.send("METADATA #x SET url :mine")
    assert only(failed, "FAIL").params[:4] == ["METADATA", "KEY_NO_PERMISSION", "#x", "url"]
    # Subscribing later: the current values of the new keys come right after 770.
    alice.send("METADATA * SET color :teal")
    carol = world.client("carol", CAPS)
    carol.send("JOIN #x")
    out = carol.send("METADATA * SUB color url")
    assert cmds(out)[0] == "770"
    assert sorted(kv(out)) == [
        ("#x", "url", "*", "https://x.example/"),
        ("alice", "color", "*", "teal"),
    ]
    assert kv(carol.send("METADATA * SUB color")) == []  # already subscribed: nothing new


def test_metadata_crosses_two_servers() -> None:
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")])
    sim.link_all()
    sim.settle()
    alice = sim["a.test"].client("alice", CAPS)
    bob = sim["b.test"].client("bob", CAPS)
    sim.do(bob, "METADATA * SUB status")
    sim.do(alice, "JOIN #net")
    sim.do(bob, "JOIN #net")
    sim.settle()
    sim.lines(bob)
    sim.do(alice, "METADATA * SET status :away at sea")
    sim.settle()
    assert kv(sim.lines(bob)) == [("alice", "status", "*", "away at sea")]
    sim.do(bob, "METADATA alice LIST")
    assert kv(sim.lines(bob)) == [("alice", "status", "*", "away at sea")]
    sim.do(alice, "METADATA * CLEAR")
    sim.settle()
    assert kv(sim.lines(bob)) == [("alice", "status", "key not set")]


def test_an_attaching_session_brings_what_it_set_before_registering() -> None:
    world = ServicesWorld()
    alice = world.registered("alice", "secret-pw", caps=CAPS)
    alice.send("METADATA * SUB display-name")
    alice.send("METADATA * SET pronouns :she/her")
    tablet = world.connect()
    tablet.send("CAP LS 302")
    tablet.send("CAP REQ :draft/metadata-2 batch")
    tablet.send("PASS alice@tablet:secret-pw")
    assert kv(tablet.send("METADATA * SET display-name :Alice T.")) == [
        ("*", "display-name", "*", "Alice T.")
    ]
    tablet.send("NICK someone-else")
    tablet.send("USER t 0 * :Tablet")
    burst = tablet.send("CAP END")
    assert tablet.client is alice.client
    assert alice.client.metadata == {"pronouns": "she/her", "display-name": "Alice T."}
    # The other session hears of it; the new one gets the person's keys in its welcome.
    assert kv(alice.take()) == [("alice", "display-name", "*", "Alice T.")]
    assert sorted(kv(burst)) == [
        ("alice", "display-name", "*", "Alice T."),
        ("alice", "pronouns", "*", "she/her"),
    ]


def test_monitor_brings_the_subscribed_keys_and_their_changes() -> None:
    world = World()
    alice = world.client("alice", CAPS)
    watcher = world.client("watcher", CAPS)
    alice.send("METADATA * SET status :reading")
    watcher.send("METADATA * SUB status")
    assert kv(watcher.send("MONITOR + alice")) == [("alice", "status", "*", "reading")]
    alice.send("METADATA * SET status :writing")
    assert kv(watcher.take()) == [("alice", "status", "*", "writing")]


def _always_on_world(path: Path) -> ServicesWorld:
    world = ServicesWorld(make_config(), path=path)
    world.core.account_metadata.attach(world.store)  # as Server.start: attach_store first
    install_always_on(world.core, world.store)
    return world


def test_an_always_on_person_comes_back_with_its_metadata(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    world = _always_on_world(path)
    alice = world.registered("alice", "secret-pw", caps=CAPS)
    alice.send("JOIN #c")
    alice.send("METADATA * SET avatar :https://a.example/a.png")
    alice.send("QUIT")
    assert world.core.find("alice") is not None  # kept, with no connection
    world.close()
    again = _always_on_world(path)
    restored = again.core.find("alice")
    assert restored is not None and not restored.sessions
    assert restored.metadata == {"avatar": "https://a.example/a.png"}
    bob = again.client("bob", CAPS)
    assert kv(bob.send("METADATA alice LIST")) == [
        ("alice", "avatar", "*", "https://a.example/a.png")
    ]
    again.close()
