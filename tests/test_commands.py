"""IRC commands through sessions: messaging, queries, server info and operators."""

from __future__ import annotations

import pytest
from helpers import START, FakeClient, World, cmds, numerics, only

OPER_PASSWORD = "hunter2-but-longer"


def oper_world(hostmask: str = "*@*") -> World:
    return World(opers=[("admin", OPER_PASSWORD, hostmask)])


def make_oper(world: World, nick: str) -> FakeClient:
    fake = world.client(nick)
    out = fake.send(f"OPER admin {OPER_PASSWORD}")
    assert "381" in cmds(out), [ln.format() for ln in out]
    fake.clear()
    return fake


# -- NICK and QUIT as channel peers see them


def test_nick_change_seen_once_by_a_peer_in_two_channels() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#one", alice, bob)
    world.channel("#two", alice, bob)
    loner = world.client("loner")
    out = alice.send("NICK alicia")
    assert only(out, "NICK").params == ["alicia"]
    seen = only(bob.take(), "NICK")
    assert seen.source == "alice!~user@127.0.0.1"
    assert seen.params == ["alicia"]
    assert loner.take() == []
    assert world.core.find("alice") is None
    assert world.core.find("alicia") is alice.client
    # Messages now come from the new nick.
    alice.send("PRIVMSG #one :hi")
    assert only(bob.take(), "PRIVMSG").source.startswith("alicia!")
    world.check_consistency()


def test_nick_change_frees_the_old_nick_and_is_remembered() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("NICK alicia")
    bob = world.client("bob")
    assert "314" in cmds(bob.send("WHOWAS alice"))
    assert "NICK" in cmds(bob.send("NICK alice"))


def test_nick_in_use_after_registration() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    err = only(bob.send("NICK ALICE"), "433")
    assert err.params[:2] == ["bob", "ALICE"]
    assert bob.nick == "bob"
    assert alice.take() == []


def test_quit_seen_once_by_a_peer_sharing_two_channels() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#one", alice, bob)
    world.channel("#two", alice, bob)
    loner = world.client("loner")
    alice.send("QUIT :bye now")
    seen = only(bob.take(), "QUIT")
    assert seen.source == "alice!~user@127.0.0.1"
    assert seen.params == ["Quit: bye now"]
    assert loner.take() == []
    for name in ("#one", "#two"):
        view = world.places.get(name)
        assert view is not None and view.member_by_nick("alice") is None
    world.check_consistency()


def test_quit_of_last_member_drops_channels() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("JOIN #a,#b")
    alice.send("QUIT")
    assert len(world.places) == 0
    world.check_consistency()


# -- PRIVMSG and NOTICE


def test_privmsg_and_notice_to_nick() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    assert alice.send("PRIVMSG BOB :hello there") == []
    msg = only(bob.take(), "PRIVMSG")
    assert msg.source == "alice!~user@127.0.0.1"
    assert msg.params == ["bob", "hello there"]
    assert alice.send("NOTICE bob :psst") == []
    notice = only(bob.take(), "NOTICE")
    assert notice.params == ["bob", "psst"]


def test_privmsg_and_notice_to_channel() -> None:
    world = World()
    alice, bob, carol = world.client("alice"), world.client("bob"), world.client("carol")
    world.channel("#chan", alice, bob, carol)
    assert alice.send("PRIVMSG #CHAN :hi all") == []
    for fake in (bob, carol):
        msg = only(fake.take(), "PRIVMSG")
        assert msg.source.startswith("alice!")
        assert msg.params == ["#chan", "hi all"]
    assert alice.take() == []
    alice.send("NOTICE #chan :note")
    assert only(bob.take(), "NOTICE").params == ["#chan", "note"]


def test_privmsg_to_several_targets() -> None:
    world = World()
    alice, bob, carol = world.client("alice"), world.client("bob"), world.client("carol")
    world.channel("#chan", alice, carol)
    alice.send("PRIVMSG bob,#chan :multi")
    assert only(bob.take(), "PRIVMSG").params == ["bob", "multi"]
    assert only(carol.take(), "PRIVMSG").params == ["#chan", "multi"]


def test_privmsg_to_self() -> None:
    world = World()
    alice = world.client("alice")
    msg = only(alice.send("PRIVMSG alice :me"), "PRIVMSG")
    assert msg.params == ["alice", "me"]


def test_401_no_such_nick() -> None:
    world = World()
    alice = world.client("alice")
    err = only(alice.send("PRIVMSG nobody :hi"), "401")
    assert err.params[:2] == ["alice", "nobody"]


def test_privmsg_to_unknown_channel() -> None:
    world = World()
    alice = world.client("alice")
    out = alice.send("PRIVMSG #nowhere :hi")
    assert len(out) == 1
    assert out[0].command in ("401", "403", "404")
    assert out[0].params[1] == "#nowhere"
    assert len(world.places) == 0


@pytest.mark.parametrize("target", ["nobody", "#nowhere", "#closed"])
def test_notice_never_gets_error_replies(target: str) -> None:
    # RFC 1459 4.4.2: servers must not send any error reply in answer to a NOTICE.
    world = World()
    alice = world.client("alice")
    bob = world.client("bob")
    bob.send("JOIN #closed")  # +n: alice is an outsider
    assert alice.send(f"NOTICE {target} :hi") == []
    assert bob.take() == []


def test_411_and_412() -> None:
    world = World()
    alice = world.client("alice")
    world.client("bob")
    assert only(alice.send("PRIVMSG"), "411").params[0] == "alice"
    assert only(alice.send("PRIVMSG :"), "411").params[0] == "alice"
    assert only(alice.send("PRIVMSG bob"), "412").params[0] == "alice"
    assert only(alice.send("PRIVMSG bob :"), "412").params[0] == "alice"
    assert alice.send("NOTICE") == []
    assert alice.send("NOTICE bob") == []


def test_407_too_many_targets() -> None:
    world = World(max_targets=2)
    alice = world.client("alice")
    bob, carol, dave = world.client("bob"), world.client("carol"), world.client("dave")
    err = only(alice.send("PRIVMSG bob,carol,dave :hi"), "407")
    assert err.params[0] == "alice"
    for fake in (bob, carol, dave):
        assert fake.take() == []
    assert alice.send("PRIVMSG bob,carol :hi") == []
    assert cmds(carol.take()) == ["PRIVMSG"]


def test_statusmsg_reaches_only_ops() -> None:
    world = World()
    alice, bob, carol, dave = (world.client(n) for n in ("alice", "bob", "carol", "dave"))
    world.channel("#chan", alice, bob, carol, dave)
    alice.send("MODE #chan +o-v+v bob carol dave")
    for fake in (alice, bob, carol, dave):
        fake.clear()
    carol.send("PRIVMSG @#chan :ops only")
    for op in (alice, bob):
        msg = only(op.take(), "PRIVMSG")
        assert msg.params == ["@#chan", "ops only"]
        assert msg.source.startswith("carol!")
    assert dave.take() == []
    assert carol.take() == []
    carol.send("NOTICE +#chan :voice and up")
    for fake in (alice, bob, dave):
        assert only(fake.take(), "NOTICE").params == ["+#chan", "voice and up"]


def test_away_301_305_306() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    assert only(bob.send("AWAY :out to lunch"), "306").params[0] == "bob"
    out = alice.send("PRIVMSG bob :are you there")
    away = only(out, "301")
    assert away.params == ["alice", "bob", "out to lunch"]
    assert only(bob.take(), "PRIVMSG").params[1] == "are you there"
    # No 301 for NOTICE.
    assert alice.send("NOTICE bob :x") == []
    assert only(bob.send("AWAY"), "305").params[0] == "bob"
    assert alice.send("PRIVMSG bob :back?") == []


def test_away_notify() -> None:
    world = World()
    alice = world.client("alice", caps=["away-notify"])
    bob = world.client("bob")
    world.channel("#chan", alice, bob)
    bob.send("AWAY :gone")
    away = only(alice.take(), "AWAY")
    assert away.source.startswith("bob!")
    assert away.params == ["gone"]
    bob.send("AWAY")
    assert only(alice.take(), "AWAY").params == []


# -- WHO


def test_who_channel() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#chan", alice, bob)
    out = bob.send("WHO #chan")
    replies = numerics(out, "352")
    assert len(replies) == 2
    by_nick = {r.params[5]: r for r in replies}
    alice_reply = by_nick["alice"]
    assert alice_reply.params[:5] == ["bob", "#chan", "~user", "127.0.0.1", "irc.localhost"]
    assert alice_reply.params[6] == "H@"
    assert alice_reply.params[7] == "0 Real Name"
    assert by_nick["bob"].params[6] == "H"
    assert only(out, "315").params[:2] == ["bob", "#chan"]
    assert out[-1].command == "315"


def test_who_flags_away_and_oper() -> None:
    world = oper_world()
    admin = make_oper(world, "admin")
    admin.send("AWAY :busy")
    bob = world.client("bob")
    reply = only(bob.send("WHO admin"), "352")
    assert reply.params[6] == "G*"


def test_who_nick_mask_and_unknown() -> None:
    world = World()
    world.client("alice")
    world.client("alfred")
    bob = world.client("bob")
    out = bob.send("WHO al*")
    assert sorted(r.params[5] for r in numerics(out, "352")) == ["alfred", "alice"]
    out = bob.send("WHO nobody")
    assert cmds(out) == ["315"]
    assert out[0].params[1] == "nobody"


def test_whox_fields_and_token() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#chan", alice, bob)
    out = bob.send("WHO #chan %tcuhnfar,42")
    replies = numerics(out, "354")
    assert len(replies) == 2
    by_nick = {r.params[5]: r for r in replies}
    assert by_nick["alice"].params == [
        "bob",
        "42",
        "#chan",
        "~user",
        "127.0.0.1",
        "alice",
        "H@",
        "0",
        "Real Name",
    ]
    assert numerics(out, "352") == []
    assert out[-1].command == "315"


def test_whox_field_order_is_fixed_and_no_token() -> None:
    world = World()
    world.client("alice")
    bob = world.client("bob")
    reply = only(bob.send("WHO alice %nu"), "354")
    # Fields come in the order t c u i h s n f d l a o r, whatever order was asked.
    assert reply.params == ["bob", "~user", "alice"]


def test_who_hides_invisible_users_from_strangers() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("MODE alice +i")
    bob = world.client("bob")
    assert [r.params[5] for r in numerics(bob.send("WHO *"), "352")] == ["bob"]
    # An exact nick is still answered.
    assert len(numerics(bob.send("WHO alice"), "352")) == 1


# -- WHOIS, WHOWAS


def test_whois() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#chan", alice, bob)
    alice.send("AWAY :brb")
    world.advance(42)
    out = bob.send("WHOIS alice")
    user = only(out, "311")
    assert user.params == ["bob", "alice", "~user", "127.0.0.1", "*", "Real Name"]
    server = only(out, "312")
    assert server.params[:3] == ["bob", "alice", "irc.localhost"]
    channels = only(out, "319")
    assert channels.params[:2] == ["bob", "alice"]
    assert channels.params[2].split() == ["@#chan"]
    assert only(out, "301").params == ["bob", "alice", "brb"]
    idle = only(out, "317")
    assert idle.params[:2] == ["bob", "alice"]
    assert idle.params[3] == str(int(START))
    assert int(idle.params[2]) >= 42
    assert "313" not in cmds(out)
    assert out[-1].command == "318"
    assert out[-1].params[:2] == ["bob", "alice"]


def test_whois_idle_is_reset_by_talking_not_by_whois() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.advance(100)
    alice.send("WHOIS bob")
    assert only(bob.send("WHOIS alice"), "317").params[2] == "100"
    alice.send("PRIVMSG bob :hi")
    world.advance(3)
    assert only(bob.send("WHOIS alice"), "317").params[2] == "3"


def test_whois_oper_and_unknown() -> None:
    world = oper_world()
    make_oper(world, "admin")
    bob = world.client("bob")
    assert only(bob.send("WHOIS admin"), "313").params[:2] == ["bob", "admin"]
    out = bob.send("WHOIS nobody")
    assert cmds(out) == ["401", "318"]
    assert out[0].params[1] == "nobody"
    assert only(bob.send("WHOIS irc.localhost admin"), "311").params[1] == "admin"


def test_whois_hides_secret_channels() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    alice.send("JOIN #secret")
    alice.send("MODE #secret +s")
    alice.send("JOIN #open")
    out = bob.send("WHOIS alice")
    assert only(out, "319").params[2].split() == ["@#open"]


def test_whowas() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("QUIT")
    bob = world.client("bob")
    out = bob.send("WHOWAS alice")
    entry = only(out, "314")
    assert entry.params == ["bob", "alice", "~user", "127.0.0.1", "*", "Real Name"]
    assert only(out, "312").params[:3] == ["bob", "alice", "irc.localhost"]
    assert out[-1].command == "369"
    assert out[-1].params[:2] == ["bob", "alice"]


def test_whowas_unknown_and_count() -> None:
    world = World()
    for _ in range(3):
        fake = world.client("alice")
        fake.send("QUIT")
    bob = world.client("bob")
    out = bob.send("WHOWAS nobody")
    assert cmds(out) == ["406", "369"]
    assert out[0].params[:2] == ["bob", "nobody"]
    assert len(numerics(bob.send("WHOWAS alice"), "314")) == 3
    assert len(numerics(bob.send("WHOWAS alice 2"), "314")) == 2


# -- ISON, USERHOST


def test_ison() -> None:
    world = World()
    world.client("alice")
    world.client("Bob")
    carol = world.client("carol")
    reply = only(carol.send("ISON alice nobody BOB"), "303")
    assert reply.params[0] == "carol"
    assert reply.params[1].split() == ["alice", "Bob"]
    assert only(carol.send("ISON :alice bob"), "303").params[1].split() == ["alice", "Bob"]
    assert only(carol.send("ISON nobody"), "303").params[1] == ""


def test_userhost() -> None:
    world = oper_world()
    make_oper(world, "admin")
    alice = world.client("alice")
    alice.send("AWAY :x")
    bob = world.client("bob")
    reply = only(bob.send("USERHOST alice admin nobody bob"), "302")
    assert reply.params[0] == "bob"
    assert reply.params[1].split() == [
        "alice=-~user@127.0.0.1",
        "admin*=+~user@127.0.0.1",
        "bob=+~user@127.0.0.1",
    ]


# -- server queries


def test_motd_lusers_version_time_info_admin_links() -> None:
    world = World()
    alice = world.client("alice")
    assert cmds(alice.send("MOTD")) == ["375", "372", "376"]
    assert cmds(alice.send("LUSERS"))[0] == "251"
    out = alice.send("VERSION")
    version = only(out, "351")
    assert version.params[2] == "irc.localhost"
    assert "ircpsyc" in version.params[1]
    assert "005" in cmds(out)
    tm = only(alice.send("TIME"), "391")
    assert tm.params[1] == "irc.localhost"
    assert tm.params[-1].startswith("Tuesday November 14 2023")
    out = alice.send("INFO")
    assert cmds(out)[-1] == "374"
    assert set(cmds(out)[:-1]) == {"371"}
    out = alice.send("ADMIN")
    assert cmds(out) == ["256", "257", "258", "259"]
    assert out[0].params[1] == "irc.localhost"
    out = alice.send("LINKS")
    assert cmds(out) == ["364", "365"]
    assert out[0].params[1:3] == ["irc.localhost", "irc.localhost"]
    assert out[0].params[3].startswith("0 ")


@pytest.mark.parametrize("command", ["MOTD", "VERSION", "TIME", "INFO", "ADMIN"])
def test_402_for_other_servers(command: str) -> None:
    world = World()
    alice = world.client("alice")
    err = only(alice.send(f"{command} other.example"), "402")
    assert err.params[:2] == ["alice", "other.example"]
    assert "402" not in cmds(alice.send(f"{command} irc.localhost"))


def test_stats() -> None:
    world = oper_world("*@127.*")
    alice = world.client("alice")
    world.advance(3 * 86400 + 3600 + 62)
    out = alice.send("STATS u")
    assert only(out, "242").params[1] == "Server Up 3 days 1:01:02"
    assert only(out, "219").params[:2] == ["alice", "u"]
    assert "481" in cmds(alice.send("STATS o"))  # the O-lines are for operators only
    alice.send(f"OPER admin {OPER_PASSWORD}")
    out = alice.send("STATS o")
    oline = only(out, "243")
    assert oline.params[1:5] == ["O", "*@127.*", "*", "admin"]
    alice.send("WHOIS alice")
    alice.send("WHOIS alice")
    out = alice.send("STATS m")
    counts = {ln.params[1]: int(ln.params[2]) for ln in numerics(out, "212")}
    assert counts["WHOIS"] == 2
    assert counts["STATS"] >= 2
    assert out[-1].command == "219"
    assert "461" in cmds(alice.send("STATS"))


def test_help() -> None:
    world = World()
    alice = world.client("alice")
    out = alice.send("HELP")
    assert cmds(out)[0] == "704" and cmds(out)[-1] == "706"
    assert "524" in cmds(alice.send("HELP NOSUCHTHING"))


# -- operators


def test_oper_wrong_password_and_unknown_name() -> None:
    world = oper_world()
    alice = world.client("alice")
    assert only(alice.send("OPER admin wrong"), "464").params[0] == "alice"
    assert "464" in cmds(alice.send(f"OPER nobody {OPER_PASSWORD}"))
    assert not alice.client.is_oper


def test_oper_bad_host() -> None:
    world = oper_world("*@10.0.0.*")
    alice = world.client("alice")
    assert only(alice.send(f"OPER admin {OPER_PASSWORD}"), "491").params[0] == "alice"
    assert not alice.client.is_oper


def test_oper_from_a_wrong_host_tells_nothing_of_the_password() -> None:
    """The host is checked first: a right and a wrong password get the same 491."""
    world = oper_world("*@10.0.0.*")
    alice = world.client("alice")
    assert only(alice.send("OPER admin wrong"), "491").params[0] == "alice"
    assert only(alice.send(f"OPER admin {OPER_PASSWORD}"), "491").params[0] == "alice"


def test_oper_failures_from_one_address_are_bounded() -> None:
    """Five wrong passwords from an address: OPER from it is refused, even with the
    right password, before any check; another address is not affected."""
    world = oper_world()
    mallory = world.client("mallory", ip="192.0.2.7")
    for _ in range(5):
        assert "464" in cmds(mallory.send("OPER admin guess"))
    refused = only(mallory.send(f"OPER admin {OPER_PASSWORD}"), "FAIL")
    assert refused.params[:2] == ["OPER", "TOO_MANY_ATTEMPTS"]
    assert not mallory.client.is_oper
    alice = world.client("alice", ip="192.0.2.8")
    assert "381" in cmds(alice.send(f"OPER admin {OPER_PASSWORD}"))


def test_oper_success() -> None:
    world = oper_world("~user@127.0.0.*")
    alice = world.client("alice")
    out = alice.send(f"OPER admin {OPER_PASSWORD}")
    assert only(out, "381").params[0] == "alice"
    mode = only(out, "MODE")
    assert mode.params == ["alice", "+o"]
    assert alice.client.is_oper
    assert only(alice.send("LUSERS"), "252").params[1] == "1"
    assert only(alice.send("MODE alice"), "221").params[1] == "+o"


def test_user_mode_cannot_grant_oper() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("MODE alice +o")
    assert not alice.client.is_oper
    out = alice.send("MODE alice +iw")
    assert only(out, "MODE").params == ["alice", "+iw"]
    assert only(alice.send("MODE alice"), "221").params[1] == "+iw"
    world.client("bob")
    assert "502" in cmds(alice.send("MODE bob +i"))
    assert "501" in cmds(alice.send("MODE alice +Q"))


def test_kill_needs_privileges() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    err = only(alice.send("KILL bob :bye"), "481")
    assert err.params[0] == "alice"
    assert not bob.closed


def test_kill() -> None:
    world = oper_world()
    admin = make_oper(world, "admin")
    bob, carol = world.client("bob"), world.client("carol")
    world.channel("#chan", bob, carol)
    assert only(admin.send("KILL nobody :x"), "401").params[1] == "nobody"
    admin.send("KILL bob :spamming")
    assert bob.closed and bob.sink.closed
    got = bob.take()
    assert "KILL" in cmds(got) and "ERROR" in cmds(got)
    quit_line = only(carol.take(), "QUIT")
    assert quit_line.source.startswith("bob!")
    assert "spamming" in quit_line.params[0]
    assert world.core.find("bob") is None
    world.check_consistency()


def test_wallops() -> None:
    world = oper_world()
    admin = make_oper(world, "admin")
    alice, bob = world.client("alice"), world.client("bob")
    alice.send("MODE alice +w")
    alice.clear()
    assert "481" in cmds(bob.send("WALLOPS :hey"))
    admin.send("WALLOPS :maintenance at noon")
    wallops = only(alice.take(), "WALLOPS")
    assert wallops.source.startswith("admin!")
    assert wallops.params == ["maintenance at noon"]
    assert bob.take() == []


def test_list() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#big", alice, bob)
    alice.send("JOIN #small")
    alice.send("TOPIC #small :tiny")
    alice.send("JOIN #hidden")
    alice.send("MODE #hidden +s")
    carol = world.client("carol")
    out = carol.send("LIST")
    assert cmds(out)[0] == "321" and cmds(out)[-1] == "323"
    rows = {r.params[1]: r for r in numerics(out, "322")}
    assert set(rows) == {"#big", "#small"}
    assert rows["#big"].params[2] == "2"
    assert rows["#small"].params[3].endswith("tiny")
    rows = {r.params[1] for r in numerics(carol.send("LIST >1"), "322")}
    assert rows == {"#big"}


def test_join_several_with_keys_and_channel_limit() -> None:
    world = World(max_channels=2)
    alice = world.client("alice")
    alice.send("JOIN #a,#b")
    alice.send("MODE #a +k ka")
    alice.send("MODE #b +k kb")
    bob = world.client("bob")
    out = bob.send("JOIN #a,#b ka,kb")
    assert [ln.params[0] for ln in numerics(out, "JOIN")] == ["#a", "#b"]
    err = only(bob.send("JOIN #c"), "405")
    assert err.params[:2] == ["bob", "#c"]
    assert world.places.get("#c") is None


def test_invite_to_away_user_says_301() -> None:
    world = World()
    alice = world.client("alice")
    alice.send("JOIN #chan")
    bob = world.client("bob")
    bob.send("AWAY :asleep")
    out = alice.send("INVITE bob #chan")
    assert "341" in cmds(out)
    assert only(out, "301").params == ["alice", "bob", "asleep"]


def test_invite_notify_tells_other_members() -> None:
    world = World()
    alice = world.client("alice")
    watcher = world.client("watcher", caps=["invite-notify"])
    plain = world.client("plain")
    world.channel("#chan", alice, watcher, plain)
    world.client("bob")
    alice.send("INVITE bob #chan")
    notify = only(watcher.take(), "INVITE")
    assert notify.source.startswith("alice!")
    assert notify.params == ["bob", "#chan"]
    assert plain.take() == []


def test_extended_join() -> None:
    world = World()
    alice = world.client("alice", caps=["extended-join"])
    bob = world.client("bob")
    alice.send("JOIN #chan")
    bob.send("JOIN #chan")
    join = only(alice.take(), "JOIN")
    assert join.params == ["#chan", "*", "Real Name"]


def test_monitor() -> None:
    world = World()
    alice = world.client("alice")
    world.client("bob")
    out = alice.send("MONITOR + bob,carol")
    assert only(out, "730").params[1] == "bob!~user@127.0.0.1"
    assert only(out, "731").params[1] == "carol"
    carol = world.client("carol")
    assert only(alice.take(), "730").params[1].startswith("carol!")
    carol.send("QUIT")
    assert only(alice.take(), "731").params[1] == "carol"
    out = alice.send("MONITOR L")
    assert sorted(only(out, "732").params[1].split(",")) == ["bob", "carol"]
    assert out[-1].command == "733"
    alice.send("MONITOR - bob")
    assert only(alice.send("MONITOR L"), "732").params[1] == "carol"
    alice.send("MONITOR C")
    assert cmds(alice.send("MONITOR L")) == ["733"]
    world.check_consistency()


def test_setname() -> None:
    world = World()
    alice = world.client("alice", caps=["setname"])
    bob = world.client("bob", caps=["setname"])
    world.channel("#chan", alice, bob)
    out = alice.send("SETNAME :New Name")
    assert only(out, "SETNAME").params == ["New Name"]
    assert only(bob.take(), "SETNAME").params == ["New Name"]
    assert only(bob.send("WHOIS alice"), "311").params[5] == "New Name"
