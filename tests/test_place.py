"""Places: the channel authority, driven by PSYC packets and through IRC sessions."""

from __future__ import annotations

import pytest
from helpers import SERVER, START, FakeClient, Recorder, World, cmds, numerics, only

from ircpsyc.channels.place import Place, PlaceObserver
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import person, place

# -- packet level: a place and bare recording entities


def _member(world: World, nick: str) -> Recorder:
    rec = Recorder(person(SERVER, nick))
    world.router.register(rec)
    return rec


def _enter(world: World, rec: Recorder, channel: str, **extra: str) -> None:
    nick = rec.uniform.rsplit("~", 1)[1]
    routing = {"_source": rec.uniform, "_target": place(SERVER, channel[1:])}
    if "_tag" in extra:
        routing["_tag"] = extra.pop("_tag")
    vars = {"_nick": nick, "_user": "u", "_host": "h.example", "_nick_place": channel}
    vars.update(extra)
    world.router.send(Packet("_request_enter", routing, dict(vars)))


def _request(world: World, rec: Recorder, channel: str, method: str, body: str = "", **v: str):
    nick = rec.uniform.rsplit("~", 1)[1]
    vars = {"_nick": nick, "_prefix": f"{nick}!u@h.example", "_nick_place": channel}
    vars.update(v)
    world.router.send(
        Packet(
            method,
            {"_source": rec.uniform, "_target": place(SERVER, channel[1:])},
            dict(vars),
            body,
        )
    )


def test_enter_creates_place_with_founder_op_and_echo() -> None:
    world = World()
    alice = _member(world, "alice")
    _enter(world, alice, "#Lobby", _tag="t1")
    lobby = world.places.get("#lobby")
    assert lobby is not None
    assert lobby.name == "#Lobby"
    assert world.router.lookup(place(SERVER, "LOBBY")) is lobby
    member = lobby.member(alice.uniform)
    assert member is not None and member.is_op
    assert [p.method for p in alice.packets] == ["_echo_place_enter"]
    echo = alice.packets[0]
    assert echo.target == alice.uniform
    assert echo.context == lobby.uniform
    assert echo.routing["_tag_relay"] == "t1"
    assert echo.get_list("_list_members") == [alice.uniform]
    assert echo.get_list("_list_members_nicks") == ["alice"]
    assert echo.get("_topic") == ""
    assert echo.get("_nick_place") == "#Lobby"


def test_second_member_is_announced_to_the_others_as_a_context_cast() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    alice.take()
    _enter(world, bob, "#c", _realname="Bob B")
    notice = only_packet(alice, "_notice_place_enter")
    # A context cast carries _context and _source_relay, not _source/_target.
    assert notice.context == place(SERVER, "c")
    assert notice.routing["_source_relay"] == bob.uniform
    assert "_source" not in notice.routing and "_target" not in notice.routing
    assert notice.get("_nick") == "bob"
    assert notice.get("_prefix") == "bob!u@h.example"
    assert notice.get("_realname") == "Bob B"
    echo = only_packet(bob, "_echo_place_enter")
    assert sorted(echo.get_list("_list_members_nicks")) == ["alice", "bob"]
    lobby = world.places.get("#c")
    assert lobby is not None
    member = lobby.member(bob.uniform)
    assert member is not None and not member.is_op and member.modes == ""


def only_packet(rec: Recorder, method: str) -> Packet:
    found = [p for p in rec.packets if p.method == method]
    assert len(found) == 1, rec.methods()
    return found[0]


def test_cast_is_one_object_for_all_and_counter_increases() -> None:
    world = World()
    recs = [_member(world, n) for n in ("a", "b", "c")]
    for rec in recs:
        _enter(world, rec, "#c")
    for rec in recs:
        rec.take()
    _request(world, recs[0], "#c", "_message_public", "hello")
    _request(world, recs[1], "#c", "_message_public", "again")
    first = [rec.packets[0] for rec in recs]
    assert all(p is first[0] for p in first)
    assert first[0].body == "hello"
    assert first[0].get("_nick") == "a"
    assert first[0].get("_time") == str(int(START * 1000))
    second = recs[2].packets[1]
    assert int(second.routing["_counter"]) == int(first[0].routing["_counter"]) + 1
    assert first[0].get("_id") and first[0].get("_id") != second.get("_id")


def test_casts_follow_every_change_of_membership() -> None:
    # A place works out where its casts go once per change of members (Members):
    # every entering, leaving, kick and nick change must be seen by the next line.
    world = World()
    a, b, c, d = (_member(world, n) for n in ("a", "b", "c", "d"))
    for rec in (a, b, c):
        _enter(world, rec, "#c")
    _request(world, a, "#c", "_message_public", "one")
    assert [r.methods()[-1] for r in (a, b, c)] == ["_message_public"] * 3
    _request(world, c, "#c", "_request_leave")
    for rec in (a, b, c):
        rec.take()
    _request(world, a, "#c", "_message_public", "two")
    assert a.methods() == b.methods() == ["_message_public"] and c.packets == []
    _enter(world, d, "#c")
    _request(
        world, d, "#c", "_notice_person_nick", _nick_new="dee", _uniform_new=person(SERVER, "dee")
    )
    for rec in (a, b, d):
        rec.take()
    _request(world, b, "#c", "_message_public", "three")
    assert [r.methods() for r in (a, b, c, d)] == [["_message_public"]] * 2 + [[]] + [
        ["_message_public"]
    ]
    _request(world, a, "#c", "_request_kick", _nick_target="b")
    for rec in (a, b, d):
        rec.take()
    _request(world, a, "#c", "_message_public", "four")
    assert (a.methods(), b.methods(), d.methods()) == (["_message_public"], [], ["_message_public"])


def test_observers_that_want_no_lines_are_not_called_for_them() -> None:
    seen: list[tuple[str, str]] = []

    class Lines(PlaceObserver):
        def place_cast(self, place: Place, packet: Packet) -> None:
            seen.append(("lines", packet.method))

    class Modes(PlaceObserver):
        casts_messages = False

        def place_cast(self, place: Place, packet: Packet) -> None:
            seen.append(("modes", packet.method))

    world = World()
    world.places.observers.extend([Lines(), PlaceObserver()])
    world.places.observers.append(Modes())  # added later: the places see it too
    a = _member(world, "a")
    _enter(world, a, "#c")
    seen.clear()
    _request(world, a, "#c", "_message_public", "hi")
    _request(world, a, "#c", "_message_public_notice", "hi")
    _request(world, a, "#c", "_request_set_topic", _topic="a topic")
    assert seen == [
        ("lines", "_message_public"),
        ("lines", "_message_public_notice"),
        ("lines", "_notice_place_topic"),
        ("modes", "_notice_place_topic"),
    ]


def test_rejoin_is_a_no_op() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    _enter(world, bob, "#c")
    alice.take()
    bob.take()
    _enter(world, bob, "#c")
    assert alice.packets == [] and bob.packets == []
    lobby = world.places.get("#c")
    assert lobby is not None and len(lobby.members) == 2


def test_enter_from_an_unknown_entity_leaves_no_empty_place() -> None:
    world = World()
    ghost = Recorder(person(SERVER, "ghost"))  # not registered with the router
    _enter(world, ghost, "#empty")
    assert world.places.get("#empty") is None, "an empty place must not linger"
    assert world.router.lookup(place(SERVER, "empty")) is None


def test_leave_casts_to_everybody_and_last_leave_drops_the_place() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    _enter(world, bob, "#c")
    alice.take()
    bob.take()
    _request(world, bob, "#c", "_request_leave", _reason="bye")
    assert alice.methods() == bob.methods() == ["_notice_place_leave"]
    assert alice.packets[0].get("_reason") == "bye"
    assert alice.packets[0].routing["_source_relay"] == bob.uniform
    lobby = world.places.get("#c")
    assert lobby is not None and lobby.member(bob.uniform) is None
    _request(world, alice, "#c", "_request_leave")
    assert world.places.get("#c") is None
    assert len(world.places) == 0
    assert world.router.lookup(place(SERVER, "c")) is None


def test_leave_by_non_member() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    _request(world, bob, "#c", "_request_leave")
    assert bob.methods() == ["_error_necessary_membership"]
    bob.take()
    # A disconnect that arrives after the member is gone is not answered.
    _request(world, bob, "#c", "_request_leave_disconnect")
    assert bob.packets == []


def test_message_from_outsider_with_n_is_refused() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    alice.take()
    _request(world, bob, "#c", "_message_public", "spam")
    assert bob.methods() == ["_error_place_message_forbidden"]
    assert bob.packets[0].get("_nick_place") == "#c"
    assert alice.packets == []


def test_unknown_request_is_answered_unsupported() -> None:
    world = World()
    alice = _member(world, "alice")
    _enter(world, alice, "#c")
    alice.take()
    _request(world, alice, "#c", "_request_do_something_odd")
    assert alice.methods() == ["_error_unsupported_method"]
    assert alice.packets[0].get("_method_relay") == "_request_do_something_odd"


def test_inherited_method_is_handled_by_its_parent() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    _enter(world, bob, "#c")
    alice.take()
    _request(world, bob, "#c", "_message_public_whatever", "hi")
    assert alice.methods() == ["_message_public_whatever"]
    assert alice.packets[0].body == "hi"


def test_set_mode_packet() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#c")
    _enter(world, bob, "#c")
    alice.take()
    bob.take()
    _request(world, alice, "#c", "_request_set_mode", _mode="+lv", _list_parameters="5")
    # _list_parameters as a list
    world.router.send(
        Packet(
            "_request_set_mode",
            {"_source": alice.uniform, "_target": place(SERVER, "c")},
            {"_nick": "alice", "_mode": "+v", "_list_parameters": ["bob"]},
        )
    )
    modes = [p for p in bob.packets if p.method == "_notice_place_mode"]
    assert [(p.get("_mode"), p.get_list("_list_parameters")) for p in modes] == [
        ("+l", ["5"]),
        ("+v", ["bob"]),
    ]
    # "+lv 5" had no parameter for v: the requester hears about it.
    assert "_error_necessary_parameter" in alice.methods()
    lobby = world.places.get("#c")
    assert lobby is not None and lobby.limit == 5
    member = lobby.member(bob.uniform)
    assert member is not None and member.modes == "v"


# -- through IRC sessions


def _join(world: World, channel: str, *nicks: str) -> list[FakeClient]:
    clients = [world.client(nick) for nick in nicks]
    world.channel(channel, *clients)
    return clients


def test_join_replies_and_founder_op() -> None:
    world = World()
    alice = world.client("alice")
    out = alice.send("JOIN #chan")
    assert cmds(out) == ["JOIN", "353", "366"]
    assert out[0].source == "alice!~user@127.0.0.1"
    assert out[0].params == ["#chan"]
    assert out[1].params == ["alice", "=", "#chan", "@alice"]
    assert out[2].params[:2] == ["alice", "#chan"]


def test_second_member_sees_names_and_first_sees_join() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    alice.send("JOIN #chan")
    alice.clear()
    out = bob.send("JOIN #Chan")
    assert out[0].command == "JOIN"
    names = only(out, "353")
    assert sorted(names.params[3].split()) == ["@alice", "bob"]
    seen = alice.take()
    assert cmds(seen) == ["JOIN"]
    assert seen[0].source == "bob!~user@127.0.0.1"
    assert seen[0].params[0].lower() == "#chan"


def test_join_of_a_channel_already_joined_is_silent() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    assert bob.send("JOIN #CHAN") == []
    assert alice.take() == []


@pytest.mark.parametrize("bad", ["chan", "#", "#a\x07b"])
def test_join_bad_names(bad: str) -> None:
    world = World()
    alice = world.client("alice")
    out = alice.send(f"JOIN {bad}")
    assert cmds(out)[0] in ("403", "476", "479")
    assert len(world.places) == 0


def test_channels_whose_names_differ_only_after_a_hash_are_distinct() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    alice.send("JOIN #a")
    alice.clear()
    out = bob.send("JOIN #a#b")
    join = only(out, "JOIN")
    assert join.params[0] == "#a#b"
    assert alice.take() == [], "a join of #a#b must not show up in #a"
    assert world.places.get("#a#b") is not None
    world.check_consistency()


def test_invite_only_refuses_then_invite_lets_in() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    bob = world.client("bob")
    alice.send("MODE #chan +i")
    alice.clear()
    refused = only(bob.send("JOIN #chan"), "473")
    assert refused.params[:2] == ["bob", "#chan"]
    out = alice.send("INVITE bob #chan")
    assert only(out, "341").params == ["alice", "bob", "#chan"]
    invite = only(bob.take(), "INVITE")
    assert invite.source.startswith("alice!")
    assert invite.params == ["bob", "#chan"]
    assert "JOIN" in cmds(bob.send("JOIN #chan"))
    # The invitation is used up.
    bob.send("PART #chan")
    assert "473" in cmds(bob.send("JOIN #chan"))


def test_invite_exception_lets_in_without_invite() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    alice.send("MODE #chan +iI *!*@127.0.0.1")
    bob = world.client("bob")
    assert "JOIN" in cmds(bob.send("JOIN #chan"))


def test_invite_errors() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    carol = world.client("carol")
    assert only(alice.send("INVITE bob #chan"), "443").params[:3] == ["alice", "bob", "#chan"]
    assert only(alice.send("INVITE nobody #chan"), "401").params[1] == "nobody"
    assert "442" in cmds(carol.send("INVITE alice #chan"))
    alice.send("MODE #chan +i")
    dave = world.client("dave")
    assert "482" in cmds(bob.send("INVITE dave #chan"))
    assert dave.take() == []


def test_key() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    out = alice.send("MODE #chan +k sesame")
    mode = only(out, "MODE")
    assert mode.params == ["#chan", "+k", "sesame"]
    bob = world.client("bob")
    assert only(bob.send("JOIN #chan"), "475").params[1] == "#chan"
    assert "475" in cmds(bob.send("JOIN #chan wrong"))
    assert "JOIN" in cmds(bob.send("JOIN #chan sesame"))
    # Members see the key, others do not.
    assert only(bob.send("MODE #chan"), "324").params[2:] == ["+ntk", "sesame"]
    carol = world.client("carol")
    hidden = only(carol.send("MODE #chan"), "324")
    assert hidden.params[2] == "+ntk"
    assert "sesame" not in hidden.params


def test_limit() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    alice.send("MODE #chan +l 2")
    carol = world.client("carol")
    assert only(carol.send("JOIN #chan"), "471").params[1] == "#chan"
    bob.send("PART #chan")
    assert "JOIN" in cmds(carol.send("JOIN #chan"))


def test_ban_and_exception() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    out = alice.send("MODE #chan +b bob")
    assert only(out, "MODE").params == ["#chan", "+b", "bob!*@*"]
    bob = world.client("bob")
    assert only(bob.send("JOIN #chan"), "474").params[1] == "#chan"
    alice.send("MODE #chan +e *!*@127.0.0.1")
    assert "JOIN" in cmds(bob.send("JOIN #chan"))


def test_ban_is_case_insensitive() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    alice.send("MODE #chan +b BOB[x]!*@*")
    bob = world.client("bob{X}")
    assert "474" in cmds(bob.send("JOIN #chan"))


def test_invite_overrides_ban() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    alice.send("MODE #chan +b bob")
    bob = world.client("bob")
    alice.send("INVITE bob #chan")
    assert "JOIN" in cmds(bob.send("JOIN #chan"))


def test_no_external_messages() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    bob = world.client("bob")
    out = bob.send("PRIVMSG #chan :hello")
    assert only(out, "404").params[:2] == ["bob", "#chan"]
    assert alice.take() == []
    alice.send("MODE #chan -n")
    alice.clear()
    assert bob.send("PRIVMSG #chan :hello") == []
    msg = only(alice.take(), "PRIVMSG")
    assert msg.source.startswith("bob!")
    assert msg.params == ["#chan", "hello"]


def test_moderated() -> None:
    world = World()
    alice, bob, carol = _join(world, "#chan", "alice", "bob", "carol")
    alice.send("MODE #chan +mv carol")
    alice.clear()
    bob.clear()
    assert only(bob.send("PRIVMSG #chan :shh"), "404").params[1] == "#chan"
    assert alice.take() == []
    assert carol.send("PRIVMSG #chan :voiced") == []
    assert only(bob.take(), "PRIVMSG").params == ["#chan", "voiced"]
    assert alice.send("PRIVMSG #chan :op") == []
    assert only(bob.take(), "PRIVMSG").params == ["#chan", "op"]


def test_banned_member_cannot_speak_but_voiced_can() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    alice.send("MODE #chan +b bob")
    alice.clear()
    assert "404" in cmds(bob.send("PRIVMSG #chan :hi"))
    assert alice.take() == []
    alice.send("MODE #chan +v bob")
    alice.clear()
    assert bob.send("PRIVMSG #chan :hi") == []
    assert cmds(alice.take()) == ["PRIVMSG"]


def test_topic_protection_and_replies() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    assert only(bob.send("TOPIC #chan :mine"), "482").params[:2] == ["bob", "#chan"]
    only(bob.send("TOPIC #chan"), "331")
    world.advance(5)
    alice.send("TOPIC #chan :the topic")
    seen = only(bob.take(), "TOPIC")
    assert seen.source.startswith("alice!")
    assert seen.params == ["#chan", "the topic"]
    out = bob.send("TOPIC #chan")
    assert only(out, "332").params == ["bob", "#chan", "the topic"]
    who = only(out, "333")
    assert who.params[1] == "#chan"
    assert who.params[2].split("!")[0] == "alice"
    assert who.params[3] == str(int(START + 5))
    carol = world.client("carol")
    joined = carol.send("JOIN #chan")
    assert cmds(joined)[:3] == ["JOIN", "332", "333"]
    # Without +t anybody may set it.
    alice.send("MODE #chan -t")
    bob.send("TOPIC #chan :bob's")
    assert only(carol.take(), "TOPIC").params == ["#chan", "bob's"]


def test_topic_errors() -> None:
    world = World()
    alice = world.client("alice")
    assert only(alice.send("TOPIC #nowhere :x"), "403").params[1] == "#nowhere"
    (_bob,) = _join(world, "#chan", "bob")
    assert only(alice.send("TOPIC #chan :x"), "442").params[1] == "#chan"


def test_topic_is_cut_to_topiclen() -> None:
    world = World(topiclen=10)
    (alice,) = _join(world, "#chan", "alice")
    alice.send("TOPIC #chan :0123456789abcdef")
    lobby = world.places.get("#chan")
    assert lobby is not None and lobby.topic == "0123456789"


def test_kick() -> None:
    world = World()
    alice, bob, carol = _join(world, "#chan", "alice", "bob", "carol")
    assert only(bob.send("KICK #chan carol"), "482").params[:2] == ["bob", "#chan"]
    err = only(alice.send("KICK #chan nobody"), "441")
    assert err.params[:3] == ["alice", "nobody", "#chan"]
    alice.send("KICK #chan bob :go away")
    for fake in (bob, carol):
        kick = only(fake.take(), "KICK")
        assert kick.source.startswith("alice!")
        assert kick.params == ["#chan", "bob", "go away"]
    lobby = world.places.get("#chan")
    assert lobby is not None and lobby.member_by_nick("bob") is None
    assert "#chan" not in bob.client.channels
    assert "442" in cmds(bob.send("KICK #chan alice"))
    assert "404" in cmds(bob.send("PRIVMSG #chan :let me back"))
    world.check_consistency()


def test_kick_default_reason_and_unknown_channel() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    alice.send("KICK #chan bob")
    kick = only(bob.take(), "KICK")
    assert kick.params[:2] == ["#chan", "bob"]
    assert kick.params[2]  # some reason is given
    assert "403" in cmds(alice.send("KICK #nowhere bob"))


def test_op_voice_modes_and_names_prefixes() -> None:
    world = World()
    alice, bob, carol = _join(world, "#chan", "alice", "bob", "carol")
    alice.send("MODE #chan +ov bob carol")
    seen = only(carol.take(), "MODE")
    assert seen.source.startswith("alice!")
    assert seen.params == ["#chan", "+ov", "bob", "carol"]
    names = only(carol.send("NAMES #chan"), "353")
    assert sorted(names.params[3].split()) == ["+carol", "@alice", "@bob"]
    bob.send("MODE #chan -o alice")
    assert only(carol.take(), "MODE").params == ["#chan", "-o", "alice"]
    # Now alice is not an op any more.
    assert "482" in cmds(alice.send("MODE #chan +m"))
    # Setting a mode that is already set changes nothing and says nothing.
    bob.clear()
    alice.clear()
    bob.send("MODE #chan +v carol")
    assert alice.take() == []


def test_multi_prefix_names() -> None:
    world = World()
    alice = world.client("alice", caps=["multi-prefix"])
    alice.send("JOIN #chan")
    alice.send("MODE #chan +v alice")
    names = only(alice.send("NAMES #chan"), "353")
    assert names.params[3] == "@+alice"


def test_mode_errors() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    assert only(bob.send("MODE #chan +o bob"), "482").params[:2] == ["bob", "#chan"]
    assert only(alice.send("MODE #chan +Z"), "472").params[:2] == ["alice", "Z"]
    # A nick nobody has is 401 (as irctest expects), one outside the channel 441.
    assert only(alice.send("MODE #chan +o nobody"), "401").params[1] == "nobody"
    assert only(alice.send("MODE #nowhere +m"), "403").params[1] == "#nowhere"
    carol = world.client("carol")
    assert only(alice.send("MODE #chan +o carol"), "441").params[1:3] == ["carol", "#chan"]
    assert "442" in cmds(carol.send("MODE #chan +m"))


def test_list_mode_queries() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    world.advance(7)
    alice.send("MODE #chan +b *!*@bad.example")
    out = alice.send("MODE #chan +b")
    item = only(out, "367")
    assert item.params[:3] == ["alice", "#chan", "*!*@bad.example"]
    assert item.params[3].startswith("alice")
    assert item.params[4] == str(int(START + 7))
    assert only(out, "368").params[:2] == ["alice", "#chan"]
    out = alice.send("MODE #chan e")
    assert cmds(out) == ["349"]
    out = alice.send("MODE #chan I")
    assert cmds(out) == ["347"]
    alice.send("MODE #chan -b *!*@bad.example")
    assert cmds(alice.send("MODE #chan b")) == ["368"]


def test_channel_mode_query_and_creation_time() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    out = alice.send("MODE #chan")
    assert only(out, "324").params == ["alice", "#chan", "+nt"]
    assert only(out, "329").params == ["alice", "#chan", str(int(START))]
    alice.send("MODE #chan +ml 10")
    assert only(alice.send("MODE #chan"), "324").params == ["alice", "#chan", "+mntl", "10"]


def test_place_disappears_when_empty() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    alice.send("TOPIC #chan :old")
    alice.send("PART #chan")
    assert world.places.get("#chan") is not None
    bob.send("PART #chan :bye")
    assert world.places.get("#chan") is None
    assert numerics(bob.send("LUSERS"), "254")[0].params[1] == "0"
    # A new channel of the same name starts fresh.
    out = bob.send("JOIN #chan")
    assert only(out, "353").params[3] == "@bob"
    assert "332" not in cmds(out)


def test_part() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    bob.send("PART #chan :see you")
    part = only(alice.take(), "PART")
    assert part.source.startswith("bob!")
    assert part.params == ["#chan", "see you"]
    assert "#chan" not in bob.client.channels
    assert only(bob.send("PART #chan"), "442").params[:2] == ["bob", "#chan"]
    assert only(bob.send("PART #nowhere"), "403").params[:2] == ["bob", "#nowhere"]


def test_join_zero_parts_everything() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("JOIN #a,#b")
    alice.clear()
    out = alice.send("JOIN 0")
    assert sorted(p.params[0] for p in numerics(out, "PART")) == ["#a", "#b"]
    assert alice.client.channels == {}
    assert len(world.places) == 0


def test_names_of_secret_channel_hidden_from_outsiders() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    alice.send("MODE #chan +s")
    assert only(alice.send("NAMES #chan"), "353").params[1] == "@"
    bob = world.client("bob")
    out = bob.send("NAMES #chan")
    assert cmds(out) == ["366"]


def test_names_of_several_channels_ends_the_list_once() -> None:
    """NAMES #a,#b: each channel its 353 lines, then one 366 naming the list (RFC 2812,
    modern.ircdocs.horse; irctest's testNamesMultipleChannels2812); a channel that does
    not exist or is secret to the asker is left out, and a name given twice is answered
    once."""
    world = World()
    alice, bob = _join(world, "#a", "alice", "bob")
    world.channel("#b", bob)
    world.channel("#s", bob)
    bob.send("MODE #s +s")
    out = alice.send("NAMES #a,#b,#nosuch,#s,#A")
    assert [m.format() for m in out] == [
        ":irc.localhost 353 alice = #a :@alice bob",
        ":irc.localhost 353 alice = #b @bob",
        ":irc.localhost 366 alice #a,#b,#nosuch,#s,#A :End of /NAMES list",
    ]
    start = len(alice.sink.data)
    alice.send("NAMES #b")
    raw = bytes(alice.sink.data[start:]).split(b"\r\n")[0]
    assert raw == b":irc.localhost 353 alice = #b :@bob"  # the list is always trailing


def test_private_channel_names_symbol() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    alice.send("MODE #chan +p")
    # RFC 2812 3.2.5 / RPL_NAMREPLY: "*" for private channels, "@" for secret ones.
    assert only(alice.send("NAMES #chan"), "353").params[1] == "*"


def test_nick_change_updates_the_place() -> None:
    world = World()
    alice, bob = _join(world, "#chan", "alice", "bob")
    bob.send("NICK robert")
    lobby = world.places.get("#chan")
    assert lobby is not None
    assert lobby.member_by_nick("bob") is None
    member = lobby.member_by_nick("robert")
    assert member is not None and member.prefix.startswith("robert!")
    alice.send("MODE #chan +o robert")
    assert member.is_op
    world.check_consistency()


def test_ban_list_full() -> None:
    world = World(max_bans=2)
    (alice,) = _join(world, "#chan", "alice")
    out = alice.send("MODE #chan +bbb a b c")
    assert only(out, "MODE").params == ["#chan", "+bb", "a!*@*", "b!*@*"]
    assert only(out, "478").params[:2] == ["alice", "#chan"]
    lobby = world.places.get("#chan")
    assert lobby is not None and len(lobby.lists["b"]) == 2


def test_rank_mode_without_parameter() -> None:
    world = World()
    (alice,) = _join(world, "#chan", "alice")
    out = alice.send("MODE #chan +o")
    assert cmds(out) in (["461"], ["696"])
    assert "MODE" not in cmds(out)


def test_kick_several_and_part_several() -> None:
    world = World()
    alice, _, _ = _join(world, "#chan", "alice", "bob", "carol")
    alice.send("KICK #chan bob,carol :out")
    lobby = world.places.get("#chan")
    assert lobby is not None and list(lobby.by_nick) == ["alice"]
    alice.send("JOIN #two")
    out = alice.send("PART #chan,#two :done")
    assert [p.params for p in numerics(out, "PART")] == [["#chan", "done"], ["#two", "done"]]
    assert len(world.places) == 0
    world.check_consistency()


def test_away_member_joining_is_announced_with_away_notify() -> None:
    world = World()
    alice = world.client("alice", caps=["away-notify"])
    alice.send("JOIN #chan")
    bob = world.client("bob")
    bob.send("AWAY :not here")
    bob.send("JOIN #chan")
    got = alice.take()
    assert cmds(got) == ["JOIN", "AWAY"]
    assert got[1].source.startswith("bob!")
    assert got[1].params == ["not here"]


def test_rename_at_the_packet_level() -> None:
    world = World()
    alice, bob = _member(world, "alice"), _member(world, "bob")
    _enter(world, alice, "#here")
    _enter(world, bob, "#here")
    here = world.places.place("#here")
    assert here is not None
    old_uniform = here.uniform
    alice.packets.clear()
    for bad in ("#two words", "#psyc://elsewhere/@x", "nohash", "#" + "x" * 300, "#here"):
        _request(world, alice, "#here", "_request_rename", _nick_place_new=bad)
        assert alice.packets[-1].method == "_error_place_rename_forbidden", bad
    _request(world, bob, "#here", "_request_rename", _nick_place_new="#there")
    assert bob.packets[-1].method == "_error_place_privilege_operator"
    alice.packets.clear()
    bob.packets.clear()
    _request(world, alice, "#here", "_request_rename", _nick_place_new="#There", _reason="why")
    for rec in (alice, bob):
        (notice,) = rec.packets
        assert notice.method == "_notice_place_rename"
        assert notice.context == old_uniform  # replicas find themselves by the old uniform
        assert (notice.get("_nick_place"), notice.get("_nick_place_new")) == ("#here", "#There")
        assert notice.get("_reason") == "why"
    assert world.places.place("#there") is here and world.places.place("#here") is None
    assert here.name == "#There" and here.uniform == place(SERVER, "There")
    assert world.router.lookup(place(SERVER, "there")) is here
    assert world.places.renamed_place(old_uniform) is here
    assert {m.nick for m in here.members.values()} == {"alice", "bob"}
