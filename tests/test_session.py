"""Sessions: registration, the dispatcher, capabilities, tags, timers and input limits."""

from __future__ import annotations

import re

import pytest
from helpers import START, World, cmds, numerics, only, parse_output

from ircpsyc.ircd import caps as C

SERVER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# -- registration


def test_registration_burst() -> None:
    world = World()
    fake = world.connect()
    assert fake.send("NICK alice") == []
    out = fake.send("USER alice 0 * :Alice Liddell")
    commands = cmds(out)
    assert commands[:4] == ["001", "002", "003", "004"]
    assert "005" in commands
    for code in ("251", "252", "253", "254", "255", "265", "266", "375", "372", "376"):
        assert code in commands, code
    assert commands.index("005") < commands.index("251") < commands.index("375")
    assert commands[-1] == "376"
    for line in out:
        assert line.source == "irc.localhost"
        assert line.params[0] == "alice"
    welcome = out[0]
    assert "alice" in welcome.params[1]
    myinfo = out[3]
    assert myinfo.params[1] == "irc.localhost"
    assert len(myinfo.params) >= 5
    isupport = [tok for line in numerics(out, "005") for tok in line.params[1:-1]]
    assert "CASEMAPPING=rfc1459" in isupport
    assert "CHANTYPES=#" in isupport
    assert "PREFIX=(qaohv)~&@%+" in isupport
    assert "NICKLEN=30" in isupport
    assert any(tok.startswith("CHANMODES=") for tok in isupport)
    assert "NETWORK=ircpsyc" in isupport
    for line in numerics(out, "005"):
        assert len(line.params) <= 15  # at most 13 tokens plus the nick and the text
    motd = numerics(out, "372")
    assert [m.params[1] for m in motd] == ["- Welcome to ircpsyc."]
    assert fake.session.registered
    assert world.core.find("ALICE") is fake.client


def test_user_before_nick_registers_too() -> None:
    world = World()
    fake = world.connect()
    assert fake.send("USER u 0 * :R") == []
    assert "001" in cmds(fake.send("NICK bob"))
    assert fake.client.user.endswith("u")
    assert fake.client.realname == "R"


def test_empty_motd_gives_422() -> None:
    world = World(motd="")
    fake = world.connect()
    out = fake.register("alice")
    assert "422" in cmds(out)
    assert "375" not in cmds(out) and "372" not in cmds(out)
    assert cmds(fake.send("MOTD")) == ["422"]


def test_multi_line_motd() -> None:
    world = World(motd="one\ntwo\n\nfour")
    fake = world.client("alice")
    out = fake.send("MOTD")
    assert cmds(out) == ["375", "372", "372", "372", "372", "376"]
    assert [ln.params[1] for ln in numerics(out, "372")] == ["- one", "- two", "- ", "- four"]


def test_lusers_counts() -> None:
    world = World()
    world.client("alice")
    world.client("bob").send("JOIN #x")
    world.connect()  # one unregistered connection
    carol = world.client("carol")
    out = carol.send("LUSERS")
    assert "3 users" in only(out, "251").params[1]
    assert only(out, "252").params[1] == "0"
    assert only(out, "253").params[1] == "1"
    assert only(out, "254").params[1] == "1"
    assert "3 clients" in only(out, "255").params[1]
    assert only(out, "265").params[1:3] == ["3", "3"]
    assert only(out, "266").params[1:3] == ["3", "3"]


@pytest.mark.parametrize("line", ["JOIN #chan", "PRIVMSG bob :hi", "WHOIS bob", "MODE x"])
def test_451_before_registration(line: str) -> None:
    world = World()
    fake = world.connect()
    err = only(fake.send(line), "451")
    assert err.params[0] == "*"
    assert len(world.places) == 0


def test_unknown_command_before_and_after_registration() -> None:
    world = World()
    fake = world.connect()
    assert cmds(fake.send("FROBNICATE")) in (["451"], ["421"])
    fake.register("alice")
    err = only(fake.send("FROBNICATE x y"), "421")
    assert err.params[:2] == ["alice", "FROBNICATE"]
    # Commands are case-insensitive.
    assert "PONG" in cmds(fake.send("ping :abc"))


@pytest.mark.parametrize(
    ("line", "command"),
    [("JOIN", "JOIN"), ("KICK #c", "KICK"), ("OPER x", "OPER"), ("ISON", "ISON")],
)
def test_461_for_missing_parameters(line: str, command: str) -> None:
    world = World()
    fake = world.client("alice")
    err = only(fake.send(line), "461")
    assert err.params[:2] == ["alice", command]


def test_461_for_user_before_registration() -> None:
    world = World()
    fake = world.connect()
    err = only(fake.send("USER onlyone"), "461")
    assert err.params[:2] == ["*", "USER"]


def test_462_after_registration() -> None:
    world = World()
    fake = world.client("alice")
    assert only(fake.send("USER a 0 * :b"), "462").params[0] == "alice"
    assert "462" in cmds(fake.send("PASS secret"))


def test_431_no_nickname() -> None:
    world = World()
    fake = world.connect()
    assert only(fake.send("NICK"), "431").params[0] == "*"
    assert "431" in cmds(fake.send("NICK :"))


@pytest.mark.parametrize(
    "nick", ["1abc", "-abc", "a!b", "a@b", "#chan", "a,b", "a.b", "a*b", "x" * 31, ":x"]
)
def test_432_erroneous_nicknames(nick: str) -> None:
    world = World()
    fake = world.connect()
    out = fake.send(f"NICK {nick}" if not nick.startswith(":") else "NICK ::x")
    err = only(out, "432")
    assert err.params[0] == "*"
    assert not fake.session.registered
    fake.send("USER u 0 * :r")
    assert not fake.session.registered


@pytest.mark.parametrize("nick", ["a", "[x]", "x\\y", "`a", "_a-1", "a^b{c}|d", "x" * 30])
def test_valid_nicknames(nick: str) -> None:
    world = World()
    fake = world.connect()
    assert "001" in cmds(fake.register(nick))
    assert fake.nick == nick


def test_433_registered_nick_in_use_case_insensitively() -> None:
    world = World()
    world.client("Alice[1]")
    fake = world.connect()
    err = only(fake.send("NICK alice{1}"), "433")
    assert err.params[:2] == ["*", "alice{1}"]
    fake.send("USER u 0 * :r")
    assert not fake.session.registered
    assert "001" in cmds(fake.send("NICK other"))


def test_433_between_two_unregistered_sessions() -> None:
    world = World()
    first, second = world.connect(), world.connect()
    assert first.send("NICK dup") == []
    assert only(second.send("NICK dup"), "433").params[1] == "dup"
    # When the first one takes another nick, the name is free again.
    first.send("NICK other")
    assert second.send("NICK DUP") == []
    assert "001" in cmds(second.send("USER u 0 * :r"))
    assert "001" in cmds(first.send("USER u 0 * :r"))


def test_reserved_nick_is_freed_when_the_connection_goes() -> None:
    world = World()
    first, second = world.connect(), world.connect()
    first.send("NICK dup")
    first.send("QUIT")
    assert first.closed
    assert second.send("NICK dup") == []


def test_registered_client_cannot_take_reserved_nick() -> None:
    world = World()
    pending = world.connect()
    pending.send("NICK wanted")
    alice = world.client("alice")
    assert "433" in cmds(alice.send("NICK wanted"))
    assert alice.nick == "alice"


def test_nick_change_of_own_case() -> None:
    world = World()
    alice = world.client("alice")
    out = alice.send("NICK ALICE")
    nick = only(out, "NICK")
    assert nick.source.startswith("alice!")
    assert nick.params == ["ALICE"]
    assert world.core.find("alice") is alice.client
    assert alice.client.nick == "ALICE"
    assert alice.send("NICK ALICE") == []
    world.check_consistency()


def test_ping_pong_before_registration() -> None:
    world = World()
    fake = world.connect()
    pong = only(fake.send("PING :token 1"), "PONG")
    assert pong.params == ["irc.localhost", "token 1"]
    assert fake.send("PONG :whatever") == []


def test_quit() -> None:
    world = World()
    alice = world.client("alice")
    out = alice.send("QUIT :gone fishing")
    err = only(out, "ERROR")
    assert "gone fishing" in err.params[0]
    assert alice.closed and alice.sink.closed
    assert alice.session not in world.core.sessions
    assert world.core.find("alice") is None
    assert world.router.lookup(alice.client.uniform) is None
    world.check_consistency()


def test_quit_before_registration() -> None:
    world = World()
    fake = world.connect()
    fake.send("NICK x")
    assert "ERROR" in cmds(fake.send("QUIT"))
    assert fake.closed
    assert not world.core.sessions


# -- CAP


def test_cap_ls_302_and_registration_waits_for_cap_end() -> None:
    world = World()
    fake = world.connect()
    out = fake.send("CAP LS 302")
    lines = numerics(out, "CAP")
    assert lines and all(ln.params[:2] == ["*", "LS"] for ln in lines)
    offered = " ".join(ln.params[-1] for ln in lines).split()
    names = {tok.split("=")[0] for tok in offered}
    for cap in (C.LABELED_RESPONSE, C.MESSAGE_TAGS, C.SERVER_TIME, C.ECHO_MESSAGE, C.BATCH):
        assert cap in names
    # Continuation lines carry "*" before the list; the last one does not.
    for ln in lines[:-1]:
        assert ln.params[2] == "*"
    assert fake.send("NICK alice") == []
    assert fake.send("USER u 0 * :r") == []
    assert not fake.session.registered
    out = fake.send("CAP END")
    assert "001" in cmds(out)


def test_cap_ls_without_version() -> None:
    world = World()
    fake = world.connect()
    out = fake.send("CAP LS")
    line = only(out, "CAP")
    assert line.params[:2] == ["*", "LS"]
    assert "=" not in line.params[2]


def test_cap_req_ack_and_list() -> None:
    world = World()
    fake = world.connect()
    fake.send("CAP LS 302")
    ack = only(fake.send("CAP REQ :server-time echo-message"), "CAP")
    assert ack.params == ["*", "ACK", "server-time echo-message"]
    assert {"server-time", "echo-message"} <= fake.session.caps
    listed = only(fake.send("CAP LIST"), "CAP")
    assert listed.params[1] == "LIST"
    assert {"server-time", "echo-message"} <= set(listed.params[2].split())
    ack = only(fake.send("CAP REQ :-echo-message"), "CAP")
    assert ack.params[1:] == ["ACK", "-echo-message"]
    assert "echo-message" not in fake.session.caps
    assert "server-time" in fake.session.caps


def test_cap_nak_carries_the_whole_request_and_changes_nothing() -> None:
    world = World()
    fake = world.connect()
    fake.send("CAP LS 302")
    nak = only(fake.send("CAP REQ :batch no-such-cap server-time"), "CAP")
    assert nak.params == ["*", "NAK", "batch no-such-cap server-time"]
    assert "batch" not in fake.session.caps
    assert "server-time" not in fake.session.caps


def test_cap_after_registration_uses_the_nick() -> None:
    world = World()
    fake = world.client("alice")
    ack = only(fake.send("CAP REQ server-time"), "CAP")
    assert ack.params == ["alice", "ACK", "server-time"]
    assert fake.send("CAP END") == []


def test_cap_invalid_subcommand() -> None:
    world = World()
    fake = world.connect()
    assert only(fake.send("CAP FROB"), "410").params[1] == "FROB"


# -- labeled-response and batches


def test_labeled_single_reply_gets_the_label() -> None:
    world = World()
    fake = world.client("alice", caps=["labeled-response"])
    out = fake.send("@label=abc PING :tok")
    pong = only(out, "PONG")
    assert pong.tags == {"label": "abc"}


def test_labeled_command_without_reply_gets_ack() -> None:
    world = World()
    fake = world.client("alice", caps=["labeled-response"])
    world.client("bob")
    out = fake.send("@label=xyz PRIVMSG bob :hi")
    assert len(out) == 1
    assert out[0].command == "ACK"
    assert out[0].tags == {"label": "xyz"}
    assert out[0].source == "irc.localhost"


def test_labeled_several_replies_come_in_a_batch() -> None:
    world = World()
    fake = world.client("alice", caps=["labeled-response", "batch"])
    out = fake.send("@label=L1 JOIN #chan")
    assert out[0].command == "BATCH"
    assert out[0].tags == {"label": "L1"}
    ref = out[0].params[0]
    assert ref.startswith("+")
    assert out[0].params[1] == "labeled-response"
    assert out[-1].command == "BATCH"
    assert out[-1].params == ["-" + ref[1:]]
    inner = out[1:-1]
    assert cmds(inner) == ["JOIN", "353", "366"]
    for line in inner:
        assert line.tags is not None and line.tags.get("batch") == ref[1:]
        assert "label" not in line.tags


def test_label_is_ignored_without_the_cap() -> None:
    world = World()
    fake = world.client("alice")
    out = fake.send("@label=abc PING :tok")
    assert only(out, "PONG").tags is None


def test_labeled_echo_message_carries_the_label() -> None:
    world = World()
    fake = world.client("alice", caps=["labeled-response", "echo-message"])
    world.channel("#chan", fake, world.client("bob"))
    out = fake.send("@label=e1 PRIVMSG #chan :hello")
    msg = only(out, "PRIVMSG")
    assert msg.tags is not None and msg.tags.get("label") == "e1"
    assert msg.params == ["#chan", "hello"]


# -- echo-message, server-time, message-tags


def test_echo_message_channel_and_private() -> None:
    world = World()
    alice = world.client("alice", caps=["echo-message"])
    bob = world.client("bob")
    world.channel("#chan", alice, bob)
    echo = only(alice.send("PRIVMSG #chan :to all"), "PRIVMSG")
    assert echo.source.startswith("alice!")
    assert echo.params == ["#chan", "to all"]
    echo = only(alice.send("PRIVMSG bob :to you"), "PRIVMSG")
    assert echo.params == ["bob", "to you"]
    echo = only(alice.send("NOTICE bob :notice"), "NOTICE")
    assert echo.params == ["bob", "notice"]
    # Without the cap, no echo.
    assert bob.send("PRIVMSG #chan :x") == []
    assert bob.send("PRIVMSG alice :x") == []


def test_server_time_on_channel_messages() -> None:
    world = World()
    alice = world.client("alice", caps=["server-time"])
    bob = world.client("bob")
    world.channel("#chan", alice, bob)
    world.advance(1.5)
    bob.send("PRIVMSG #chan :hi")
    msg = only(alice.take(), "PRIVMSG")
    assert msg.tags is not None
    stamp = msg.tags["time"]
    assert SERVER_TIME.match(stamp), stamp
    assert stamp == "2023-11-14T22:13:21.500Z"


def test_server_time_on_private_messages_uses_the_server_clock() -> None:
    world = World()
    alice = world.client("alice", caps=["server-time"])
    bob = world.client("bob")
    world.advance(0.25)
    bob.send("PRIVMSG alice :hi")
    msg = only(alice.take(), "PRIVMSG")
    assert msg.tags is not None
    assert SERVER_TIME.match(msg.tags["time"])
    assert msg.tags["time"] == "2023-11-14T22:13:20.250Z"


def test_no_tags_without_caps() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#chan", alice, bob)
    bob.send("@+example=1 PRIVMSG #chan :hi")
    assert only(alice.take(), "PRIVMSG").tags is None


def test_client_tags_are_relayed_to_message_tags_clients_only() -> None:
    world = World()
    alice = world.client("alice", caps=["message-tags"])
    bob = world.client("bob", caps=["message-tags"])
    carol = world.client("carol")
    world.channel("#chan", alice, bob, carol)
    alice.send("@+example=a\\sb;+draft/react=x;server-only=1 PRIVMSG #chan :hi")
    tags = only(bob.take(), "PRIVMSG").tags
    assert tags is not None
    assert tags["+example"] == "a b"
    assert tags["+draft/react"] == "x"
    assert "server-only" not in tags
    assert tags.get("msgid")
    assert only(carol.take(), "PRIVMSG").tags is None
    # Private messages too.
    alice.send("@+example=pm PRIVMSG bob :hi")
    tags = only(bob.take(), "PRIVMSG").tags
    assert tags is not None and tags["+example"] == "pm"


def test_tagmsg_only_reaches_message_tags_clients() -> None:
    world = World()
    alice = world.client("alice", caps=["message-tags"])
    bob = world.client("bob", caps=["message-tags"])
    carol = world.client("carol")
    world.channel("#chan", alice, bob, carol)
    alice.send("@+typing=active TAGMSG #chan")
    tagmsg = only(bob.take(), "TAGMSG")
    assert tagmsg.params == ["#chan"]
    assert tagmsg.tags is not None and tagmsg.tags["+typing"] == "active"
    assert carol.take() == []


def test_417_when_client_tags_are_too_long() -> None:
    world = World()
    alice = world.client("alice", caps=["message-tags"])
    bob = world.client("bob", caps=["message-tags"])
    out = alice.send("@+big=" + "x" * 4100 + " PRIVMSG bob :hi")
    assert only(out, "417").params[0] == "alice"
    assert bob.take() == []


def test_417_when_the_tag_section_is_over_8191_bytes() -> None:
    world = World()
    alice = world.client("alice")
    bob = world.client("bob")
    out = alice.send("@a=" + "x" * 9000 + " PRIVMSG bob :hi")
    assert "417" in cmds(out)
    assert bob.take() == []


# -- flood control


def test_flood_delay_token_bucket() -> None:
    world = World(flood_burst=5, flood_rate=2.0)
    fake = world.client("alice")
    now = START + 100
    fake.session.tokens = 5.0
    fake.session.last_refill = now
    delays = [fake.session.flood_delay(now) for _ in range(5)]
    assert delays == [0.0] * 5
    delay = fake.session.flood_delay(now)
    assert delay == pytest.approx(0.5)
    # Half a second later one token is back.
    assert fake.session.flood_delay(now + 0.5) == 0.0
    assert fake.session.flood_delay(now + 0.5) > 0
    # After a long pause the bucket is full again, but not fuller than the burst.
    later = now + 1000
    assert [fake.session.flood_delay(later) for _ in range(5)] == [0.0] * 5
    assert fake.session.flood_delay(later) > 0


def test_flood_control_off_and_opers_exempt() -> None:
    world = World(flood_rate=0.0)
    fake = world.client("alice")
    assert all(fake.session.flood_delay(START) == 0.0 for _ in range(100))
    world = World(flood_burst=1, flood_rate=1.0)
    fake = world.client("alice")
    fake.client.modes = fake.client.modes | {"o"}
    assert all(fake.session.flood_delay(START) == 0.0 for _ in range(100))


# -- timers


def test_registration_timeout() -> None:
    world = World(registration_timeout=30.0)
    fake = world.connect()
    fake.send("NICK slow")
    world.core.tick(START + 29)
    assert not fake.closed
    world.core.tick(START + 31)
    assert fake.closed and fake.sink.closed
    error = only(fake.lines, "ERROR")
    assert "Registration timeout" in error.params[0]
    assert fake.session not in world.core.sessions
    assert "slow" not in world.core.reserved


def test_registered_session_is_not_hit_by_registration_timeout() -> None:
    world = World(registration_timeout=30.0)
    fake = world.client("alice")
    fake.send("PING x", now=START + 25)
    world.core.tick(START + 60)
    assert not fake.closed


def test_ping_and_ping_timeout() -> None:
    world = World(ping_interval=120.0, ping_timeout=60.0)
    fake = world.client("alice")
    peer = world.client("bob")
    world.channel("#chan", fake, peer)
    world.core.tick(START + 100)
    assert fake.take() == []
    world.core.tick(START + 121)
    ping = only(fake.take(), "PING")
    assert ping.params == ["irc.localhost"]
    world.core.tick(START + 150)
    assert not fake.closed
    assert fake.take() == []  # one PING only
    peer.send("PONG :irc.localhost", now=START + 170)  # the peer stays alive
    world.core.tick(START + 182)
    assert fake.closed
    assert "Ping timeout" in only(fake.take(), "ERROR").params[0]
    quit_line = only(peer.take(), "QUIT")
    assert quit_line.source.startswith("alice!")
    assert "Ping timeout" in quit_line.params[0]
    assert world.core.find("alice") is None
    world.check_consistency()


def test_pong_keeps_the_connection() -> None:
    world = World(ping_interval=120.0, ping_timeout=60.0)
    fake = world.client("alice")
    world.core.tick(START + 121)
    assert cmds(fake.take()) == ["PING"]
    fake.send("PONG :irc.localhost", now=START + 130)
    world.core.tick(START + 200)
    assert not fake.closed
    # Silence again after the answer starts a new PING cycle.
    world.core.tick(START + 251)
    assert cmds(fake.take()) == ["PING"]


# -- input limits and robustness


def test_input_beyond_512_bytes_is_cut() -> None:
    world = World(topiclen=2000)
    alice = world.client("alice")
    alice.send("JOIN #c")
    prefix = "TOPIC #c :"
    alice.send(prefix + "x" * 1000)
    lobby = world.places.get("#c")
    assert lobby is not None
    assert lobby.topic == "x" * (510 - len(prefix))


def test_tags_do_not_count_towards_the_512_bytes() -> None:
    world = World(topiclen=2000)
    alice = world.client("alice")
    alice.send("JOIN #c")
    prefix = "TOPIC #c :"
    alice.send("@tag=" + "t" * 1000 + " " + prefix + "y" * 1000)
    lobby = world.places.get("#c")
    assert lobby is not None
    assert lobby.topic == "y" * (510 - len(prefix))


def test_output_lines_are_at_most_512_bytes() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#chan", alice, bob)
    alice.send("PRIVMSG bob :" + "z" * 600)
    alice.send("PRIVMSG #chan :" + "é" * 600)
    raw = bob.raw
    lines = raw.split(b"\r\n")
    assert lines[-1] == b""
    for data in lines[:-1]:
        assert len(data) + 2 <= 512
        data.decode("utf-8")  # never cut inside a character
    msgs = numerics(parse_output(raw), "PRIVMSG")
    assert len(msgs) == 2
    assert set(msgs[0].params[1]) == {"z"}
    assert set(msgs[1].params[1]) == {"é"}


@pytest.mark.parametrize(
    "raw",
    [
        b"PRIVMSG bob :\xff\xfe broken",
        b"\xff\xfe\xfd",
        b"NICK \xc3",
        b"@+x=\xff PRIVMSG bob :a",
        b"PRIVMSG #chan :\xed\xa0\x80",
    ],
)
def test_invalid_utf8_does_not_crash(raw: bytes) -> None:
    world = World()
    alice = world.client("alice")
    bob = world.client("bob")
    world.channel("#chan", alice, bob)
    out = alice.send(raw)
    assert not any(ln.command == "FAIL" and "INTERNAL_ERROR" in ln.params for ln in out)
    assert "PONG" in cmds(alice.send("PING x"))
    assert not alice.closed
    world.check_consistency()


def test_invalid_utf8_nick_is_refused() -> None:
    world = World()
    fake = world.connect()
    assert "432" in cmds(fake.send(b"NICK \xff\xfe"))


@pytest.mark.parametrize(
    "raw", [b"", b"   ", b"@", b"@a=b", b":source", b":source ", b"@a :src", b"\x00", b" NICK"]
)
def test_degenerate_lines(raw: bytes) -> None:
    world = World()
    fake = world.client("alice")
    out = fake.send(raw)
    assert not any(ln.command == "FAIL" for ln in out)
    assert not fake.closed
    assert "PONG" in cmds(fake.send("PING x"))


def test_echo_carries_the_same_msgid_as_the_delivered_message() -> None:
    world = World()
    alice = world.client("alice", caps=["echo-message", "message-tags"])
    bob = world.client("bob", caps=["message-tags"])
    world.channel("#chan", alice, bob)
    for target in ("#chan", "bob"):
        echo = only(alice.send(f"PRIVMSG {target} :hi"), "PRIVMSG")
        got = only(bob.take(), "PRIVMSG")
        assert echo.tags is not None and got.tags is not None
        assert echo.tags["msgid"] == got.tags["msgid"]
        assert echo.params == got.params


def test_msgids_are_unique() -> None:
    world = World()
    alice = world.client("alice")
    bob = world.client("bob", caps=["message-tags"])
    world.channel("#chan", alice, bob)
    alice.send("PRIVMSG #chan :one")
    alice.send("PRIVMSG #chan :two")
    alice.send("PRIVMSG bob :three")
    ids = [ln.tags["msgid"] for ln in bob.take() if ln.tags]
    assert len(ids) == 3 and len(set(ids)) == 3
