"""Channel moderation decided by the place: ranks, modes, lists, extbans, kicks, knocks.

Everything runs through IRC sessions (World/FakeClient) or PSYC packets to the
place, with injected time; nothing opens a socket.
"""

from __future__ import annotations

import dataclasses

import argon2
import pytest
from helpers import SERVER, FakeClient, World, cmds, make_config, numerics, only
from irctokens.line import Line

from ircpsyc.channels import extbans as X
from ircpsyc.channels.flood import QUIET_SECONDS, parse_flood
from ircpsyc.channels.place import Place, service_request
from ircpsyc.config import OperClassEntry, OperEntry
from ircpsyc.psyc_backend.uniform import place as place_uniform

OPER_PASSWORD = "moderation-test-password"
# A cheap argon2 hash: verifying it takes microseconds, so OPER keeps the tests fast.
OPER_HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(OPER_PASSWORD)


def channel(world: World, name: str, *nicks: str, **ranks: str) -> list[FakeClient]:
    """Clients joined to `name` in order; `ranks` sets member modes directly (nick="qo")."""
    clients = [world.client(nick) for nick in nicks]
    world.channel(name, *clients)
    view = world.places.get(name)
    assert view is not None
    for nick, modes in ranks.items():
        member = view.member_by_nick(nick)
        assert member is not None
        member.modes = modes
    return clients


def view_of(world: World, name: str = "#c") -> Place:
    view = world.places.get(name)
    assert view is not None
    return view


def modes_of(world: World, nick: str, name: str = "#c") -> str:
    member = view_of(world, name).member_by_nick(nick)
    assert member is not None
    return member.modes


def refused(lines: list[Line]) -> Line:
    """The one 482 in `lines` (and nothing was applied)."""
    assert "MODE" not in cmds(lines) and "KICK" not in cmds(lines), [ln.format() for ln in lines]
    return only(lines, "482")


# -- ranks: PREFIX and NAMES


def test_prefix_ranks_in_names_with_multi_prefix() -> None:
    world = World()
    _a, _b, _c, _d, e = channel(world, "#c", "a", "b", "c", "d", "e", a="q", b="ao", c="o", d="hv")
    viewer = world.client("viewer", caps=["multi-prefix"])
    names = only(viewer.send("NAMES #c"), "353").params[-1].split()
    assert sorted(names) == sorted(["~a", "&@b", "@c", "%+d", "e"])
    plain = only(e.send("NAMES #c"), "353").params[-1].split()
    assert sorted(plain) == sorted(["~a", "&b", "@c", "%d", "e"])


def test_isupport_advertises_ranks_modes_and_extbans() -> None:
    world = World()
    out = world.connect().register("alice")
    tokens = {t.split("=")[0]: t for ln in numerics(out, "005") for t in ln.params[1:-1]}
    assert tokens["PREFIX"] == "PREFIX=(qaohv)~&@%+"
    assert tokens["CHANMODES"] == "CHANMODES=beI,k,fl,CMRcimnprst"
    assert tokens["EXTBAN"] == "EXTBAN=,amr"
    assert tokens["ACCOUNTEXTBAN"] == "ACCOUNTEXTBAN=a"
    assert tokens["STATUSMSG"] == "STATUSMSG=~&@%+"
    assert tokens["EXCEPTS"] == "EXCEPTS=e" and tokens["INVEX"] == "INVEX=I"
    assert "KNOCK" in tokens


# -- rank permissions: (actor's modes, target's modes, command) -> allowed?

RANK_CASES = [
    # halfop: +v only among ranks; lists and everyday modes; kicks below halfop
    ("h", "", "MODE #c +v t", True),
    ("h", "v", "MODE #c -v t", True),
    ("h", "", "MODE #c +h t", False),
    ("h", "", "MODE #c +o t", False),
    ("h", "h", "MODE #c -h t", False),
    ("h", "o", "MODE #c -o t", False),
    ("h", "", "MODE #c +b x!*@*", True),
    ("h", "", "MODE #c +e x!*@*", True),
    ("h", "", "MODE #c +I x!*@*", True),
    ("h", "", "MODE #c +imnt-t", True),
    ("h", "", "MODE #c +k key", True),
    ("h", "", "MODE #c +l 5", True),
    ("h", "", "MODE #c +s", False),
    ("h", "", "MODE #c +p", False),
    ("h", "", "MODE #c +C", False),
    ("h", "", "MODE #c +f 5:10", False),
    ("h", "", "KICK #c t", True),
    ("h", "v", "KICK #c t", True),
    ("h", "h", "KICK #c t", False),
    ("h", "o", "KICK #c t", False),
    # op: +o +h +v, all channel modes; may not touch admins or founders
    ("o", "", "MODE #c +o t", True),
    ("o", "", "MODE #c +h t", True),
    ("o", "o", "MODE #c -o t", True),
    ("o", "", "MODE #c +a t", False),
    ("o", "", "MODE #c +q t", False),
    ("o", "a", "MODE #c -a t", False),
    ("o", "ao", "MODE #c -o t", False),
    ("o", "q", "MODE #c -q t", False),
    ("o", "", "MODE #c +spCcMR", True),
    ("o", "", "MODE #c +f 5:10", True),
    ("o", "", "MODE #c +r", False),
    ("o", "o", "KICK #c t", True),
    ("o", "a", "KICK #c t", False),
    ("o", "q", "KICK #c t", False),
    # admin: may touch admins, not founders; may not give +a
    ("a", "a", "KICK #c t", True),
    ("a", "a", "MODE #c -a t", False),
    ("a", "", "MODE #c +a t", False),
    ("a", "ao", "MODE #c -o t", True),
    ("a", "q", "KICK #c t", False),
    # founder: everything
    ("q", "", "MODE #c +q t", True),
    ("q", "", "MODE #c +a t", True),
    ("q", "q", "MODE #c -q t", True),
    ("q", "q", "KICK #c t", True),
    ("q", "", "MODE #c +r", False),
    # voice and nothing: nothing
    ("v", "", "MODE #c +v t", False),
    ("v", "", "MODE #c +m", False),
    ("v", "", "KICK #c t", False),
    ("", "", "MODE #c +b x!*@*", False),
    ("", "", "KICK #c t", False),
]


@pytest.mark.parametrize(("actor_modes", "target_modes", "command", "allowed"), RANK_CASES)
def test_rank_permissions(actor_modes: str, target_modes: str, command: str, allowed: bool) -> None:
    world = World()
    _founder, actor, _target, watcher = channel(
        world, "#c", "f", "actor", "t", "w", f="q", actor=actor_modes, t=target_modes
    )
    out = actor.send(command)
    seen = watcher.take()
    if allowed:
        assert "482" not in cmds(out), [ln.format() for ln in out]
        assert cmds(seen) and cmds(seen)[0] in ("MODE", "KICK"), [ln.format() for ln in seen]
    else:
        err = refused(out)
        assert err.params[:2] == ["actor", "#c"]
        assert err.params[2].startswith(("You must", "You may not", "Only services")), err.params
        assert "MODE" not in cmds(seen) and "KICK" not in cmds(seen)


def test_refusal_texts_name_the_rank_needed() -> None:
    world = World()
    _, half, _ = channel(world, "#c", "f", "half", "op", f="q", half="h", op="o")
    assert refused(half.send("MODE #c +o half")).params[2] == (
        "You must have channel op access or above to set channel mode o"
    )
    assert refused(half.send("MODE #c +s")).params[2] == (
        "You must have channel op access or above to set channel mode s"
    )
    assert refused(half.send("KICK #c op")).params[2] == (
        "You may not kick op: they are channel op (you are halfop)"
    )


def test_one_482_per_distinct_refusal_and_allowed_parts_still_apply() -> None:
    world = World()
    _, half, _other = channel(world, "#c", "f", "half", "other", f="q", half="h")
    out = half.send("MODE #c +vos other other")
    assert only(out, "MODE").params == ["#c", "+v", "other"]
    assert len(numerics(out, "482")) == 2


def test_anybody_may_drop_their_own_ranks_and_ranks_are_judged_at_the_start() -> None:
    world = World()
    _, op, voiced = channel(world, "#c", "f", "op", "voiced", f="q", op="o", voiced="v")
    assert only(voiced.send("MODE #c -v voiced"), "MODE").params == ["#c", "-v", "voiced"]
    # -o takes op away, yet +v in the same command was judged with op.
    assert only(op.send("MODE #c -o+v op op"), "MODE").params == ["#c", "-o+v", "op", "op"]
    assert modes_of(world, "op") == "v"
    assert "482" in cmds(op.send("MODE #c +v voiced"))


def test_halfop_topic_and_invite_under_t_and_i() -> None:
    world = World()
    _, half, plain = channel(world, "#c", "f", "half", "plain", f="q", half="h")
    world.client("guest")
    assert "TOPIC" in cmds(half.send("TOPIC #c :by a halfop"))
    assert refused(plain.send("TOPIC #c :nope")).params[2].endswith("change the topic (+t)")
    half.send("MODE #c +i")
    assert refused(plain.send("INVITE guest #c")).params[2].endswith("invite (+i)")
    assert "341" in cmds(half.send("INVITE guest #c"))


# -- modes


def test_moderated_voice_and_above_speak() -> None:
    world = World()
    f, half, voiced, plain = channel(world, "#c", "f", "h", "v", "p", f="q", h="h", v="v")
    f.send("MODE #c +m")
    for talker in (half, voiced):
        assert "404" not in cmds(talker.send("PRIVMSG #c :hi"))
    err = only(plain.send("PRIVMSG #c :hi"), "404")
    assert err.params[1:] == ["#c", "Cannot send to channel (moderated, +m)"]


def test_registered_only_join_R() -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    op.send("MODE #c +R")
    guest = world.client("guest")
    err = only(guest.send("JOIN #c"), "477")
    assert err.params[1] == "#c" and "+R" in err.params[2]
    guest.client.account = "guestacct"
    assert "JOIN" in cmds(guest.send("JOIN #c"))
    # an invite exception lets in who is not logged in
    other = world.client("other", ip="192.0.2.9")
    assert "477" in cmds(other.send("JOIN #c"))
    op.send("MODE #c +I *!*@192.0.2.9")
    assert "JOIN" in cmds(other.send("JOIN #c"))


def test_registered_only_speak_M() -> None:
    world = World()
    op, anon, voiced, known = channel(world, "#c", "op", "anon", "voiced", "known", voiced="v")
    known.client.account = "known"
    known.send("PART #c")
    known.send("JOIN #c")
    op.send("MODE #c +M")
    err = only(anon.send("PRIVMSG #c :hi"), "404")
    assert "+M" in err.params[2]
    assert "404" not in cmds(voiced.send("PRIVMSG #c :hi"))
    assert "404" not in cmds(known.send("PRIVMSG #c :hi"))
    # the place learns about a login (account-notify path) and lets them speak
    anon.client.account = "anon"
    anon.client.request("_notice_person_update", view_of(world).uniform, {"_account": "anon"})
    assert "404" not in cmds(anon.send("PRIVMSG #c :logged in now"))


def test_no_ctcp_C_allows_action() -> None:
    world = World()
    op, user = channel(world, "#c", "op", "user")
    op.send("MODE #c +C")
    op.clear()
    assert user.send("PRIVMSG #c :\x01ACTION waves\x01") == []
    err = only(user.send("PRIVMSG #c :\x01VERSION\x01"), "404")
    assert err.params[1:] == ["#c", "Cannot send CTCP to channel (+C)"]
    assert user.send("NOTICE #c :\x01PING 1\x01") == []  # NOTICE: refused silently
    got = op.take()
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == ["\x01ACTION waves\x01"]
    assert "NOTICE" not in cmds(got)
    op.send("MODE #c +v user")
    assert "404" in cmds(user.send("PRIVMSG #c :\x01VERSION\x01"))  # voice is not exempt


@pytest.mark.parametrize("code", ["\x02", "\x03", "\x034,5", "\x0f", "\x16", "\x1d", "\x1f"])
def test_no_colours_c_blocks_formatting(code: str) -> None:
    world = World()
    op, half, user = channel(world, "#c", "op", "half", "user", half="h")
    op.send("MODE #c +c")
    err = only(user.send(f"PRIVMSG #c :{code}red"), "404")
    assert "+c" in err.params[2]
    assert "404" not in cmds(user.send("PRIVMSG #c :plain"))
    assert "404" not in cmds(half.send(f"PRIVMSG #c :{code}halfops are exempt"))


def test_key_limit_invite_only_and_no_external() -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    guest, outsider = world.client("guest"), world.client("outsider")
    op.send("MODE #c +k sesame")
    assert "475" in cmds(guest.send("JOIN #c"))
    assert "JOIN" in cmds(guest.send("JOIN #c sesame"))
    guest.send("PART #c")
    op.send("MODE #c -k+l *  1")
    assert "471" in cmds(guest.send("JOIN #c"))
    op.send("MODE #c -l+i")
    assert "473" in cmds(guest.send("JOIN #c"))
    op.send("INVITE guest #c")
    assert "JOIN" in cmds(guest.send("JOIN #c"))
    assert "404" in cmds(outsider.send("PRIVMSG #c :from outside"))
    op.send("MODE #c -n")
    assert "404" not in cmds(outsider.send("PRIVMSG #c :from outside"))


def test_secret_and_private_hide_the_channel() -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    other = world.client("other")
    op.send("MODE #c +s")
    assert "322" not in cmds(other.send("LIST"))
    assert "353" not in cmds(other.send("NAMES #c"))
    op.send("MODE #c -s+p")
    assert "322" not in cmds(other.send("LIST"))
    assert only(op.send("NAMES #c"), "353").params[1] == "*"


def test_mode_query_shows_parameters() -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    op.send("MODE #c +CMRcfkl 4:5 key 9")
    reply = only(op.send("MODE #c"), "324")
    assert reply.params[2:] == ["+CMRcntklf", "key", "9", "4:5"]


def test_registered_r_only_from_services() -> None:
    world = World()
    (founder,) = channel(world, "#c", "founder", founder="q")
    assert refused(founder.send("MODE #c +r")).params[2] == "Only services may set channel mode r"
    founder.clear()
    service = f"psyc://{SERVER}/$chanserv"
    world.router.send(
        service_request(
            service,
            place_uniform(SERVER, "c"),
            "_request_set_mode",
            {"_mode": "+rq", "_list_parameters": ["founder"]},
            "ChanServ!ChanServ@services.int",
        )
    )
    change = only(founder.take(), "MODE")
    assert change.source == "ChanServ!ChanServ@services.int"
    assert change.params == ["#c", "+r"]  # founder already had +q
    assert "r" in view_of(world).flags
    # services also kick anyone, founders included, without being members
    world.router.send(
        service_request(
            service,
            place_uniform(SERVER, "c"),
            "_request_kick",
            {"_nick_target": "founder", "_reason": "channel closed"},
            "ChanServ!ChanServ@services.int",
        )
    )
    kick = only(founder.take(), "KICK")
    assert kick.params == ["#c", "founder", "channel closed"]


def test_invalid_parameters_are_696() -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    for bad in ("+f nonsense", "+f 0:5", "+l zero", "+b x:what", "+b m:m:nick"):
        err = only(op.send(f"MODE #c {bad}"), "696")
        assert err.params[1:3] == ["#c", bad[1]]
    assert "MODE" not in cmds(op.send("MODE #c +f 99999:1"))


# -- +f flood protection (injected time)


def test_flood_quiet_then_lifted_after_a_minute() -> None:
    world = World()
    op, flooder, friend = channel(world, "#c", "op", "flooder", "friend")
    assert only(op.send("MODE #c +f 3:10"), "MODE").params == ["#c", "+f", "3:10"]
    for _ in range(3):
        assert "404" not in cmds(flooder.send("PRIVMSG #c :spam"))
        world.advance(1)
    err = only(flooder.send("PRIVMSG #c :spam"), "404")
    assert "+f" in err.params[2]
    quiet = [m for m in friend.take() if m.command == "MODE"][-1]
    assert quiet.source == SERVER
    assert quiet.params == ["#c", "+b", "m:*!~user@127.0.0.1"]
    assert "404" in cmds(flooder.send("PRIVMSG #c :still muted"))
    # lines spaced out are fine for others; the quiet lifts by itself
    world.advance(QUIET_SECONDS)
    world.core.tick(world.now)
    lift = only([m for m in friend.take() if m.command == "MODE"], "MODE")
    assert lift.params == ["#c", "-b", "m:*!~user@127.0.0.1"]
    assert view_of(world).lists["b"] == []
    assert "404" not in cmds(flooder.send("PRIVMSG #c :behaving"))


def test_flood_window_slides() -> None:
    world = World()
    op, talker = channel(world, "#c", "op", "talker")
    op.send("MODE #c +f 2:10")
    for _ in range(10):
        assert "404" not in cmds(talker.send("PRIVMSG #c :steady"))
        world.advance(5.1)


def test_flood_kick_variant_and_ops_are_exempt() -> None:
    world = World()
    op, flooder, friend = channel(world, "#c", "op", "flooder", "friend")
    op.send("MODE #c +f k2:5")
    for _ in range(5):
        assert "404" not in cmds(op.send("PRIVMSG #c :ops are not counted"))
    flooder.send("PRIVMSG #c :1")
    flooder.send("PRIVMSG #c :2")
    out = flooder.send("PRIVMSG #c :3")
    kick = only(out, "KICK")
    assert kick.source == SERVER
    assert kick.params[:2] == ["#c", "flooder"]
    assert "more than 2 lines in 5 seconds" in kick.params[2]
    assert view_of(world).member_by_nick("flooder") is None
    assert "KICK" in cmds(friend.take())
    world.check_consistency()


def test_parse_flood() -> None:
    assert str(parse_flood("5:10")) == "5:10"
    assert str(parse_flood("K05:010")) == "k5:10"
    assert parse_flood("5") is None and parse_flood("0:1") is None and parse_flood("1:0") is None


# -- lists and ban matching


@pytest.mark.parametrize(
    ("mask", "nick", "banned"),
    [
        ("bad!*@*", "bad", True),
        ("bad!*@*", "badder", False),
        ("b?d!*@*", "bod", True),
        ("*!~user@127.0.0.*", "anyone", True),
        ("*!*@127.0.0.0/8", "anyone", True),
        ("*!*@10.0.0.0/8", "anyone", False),
        ("BAD!*@*", "bad", True),
        ("[x]!*@*", "{X}", True),  # rfc1459: [ ] fold to { }
        ("a\\b!*@*", "A|B", True),
        ("bad", "bad", True),  # completed to bad!*@*
        ("r:*Evil*", "someone", True),
        ("r:Good*", "someone", False),
        ("a:acct", "someone", True),
        ("a:other", "someone", False),
        ("m:bad!*@*", "bad", False),  # a quiet does not keep anyone out
    ],
)
def test_ban_matching_on_join(mask: str, nick: str, banned: bool) -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    assert "MODE" in cmds(op.send(f"MODE #c +b {mask}"))
    guest = world.client(nick)
    guest.client.realname = "an Evil one"
    guest.client.account = "ACCT"
    out = guest.send("JOIN #c")
    assert ("474" in cmds(out)) is banned, [ln.format() for ln in out]


def test_exceptions_lift_bans_and_quiets() -> None:
    world = World()
    op, quiet, excepted = channel(world, "#c", "op", "quiet", "excepted")
    op.send("MODE #c +bb m:quiet!*@* m:excepted!*@*")
    assert "404" in cmds(quiet.send("PRIVMSG #c :hi"))
    op.send("MODE #c +e m:excepted!*@*")
    assert "404" not in cmds(excepted.send("PRIVMSG #c :quiet exception"))
    # a plain exception lifts both bans and quiets; a quiet exception does not lift bans
    op.send("MODE #c +b *!*@127.0.0.1")
    assert "404" in cmds(excepted.send("PRIVMSG #c :banned now"))
    op.send("MODE #c +e quiet")
    assert "404" not in cmds(quiet.send("PRIVMSG #c :fully excepted"))
    newcomer = world.client("newcomer")
    assert "474" in cmds(newcomer.send("JOIN #c"))
    op.send("MODE #c +e a:trusted")
    newcomer.client.account = "trusted"
    assert "JOIN" in cmds(newcomer.send("JOIN #c"))


def test_quiet_voice_exempt_and_list_replies() -> None:
    world = World()
    op, bar = channel(world, "#c", "op", "Bar")
    op.send("MODE #c +b m:BAR!*@*")
    assert "404" in cmds(bar.send("PRIVMSG #c :hi"))
    listing = bar.send("MODE #c +b")
    assert only(listing, "367").params[1:4] == ["#c", "m:BAR!*@*", "op!~user@127.0.0.1"]
    op.send("MODE #c +v Bar")
    assert "404" not in cmds(bar.send("PRIVMSG #c :voiced"))
    op.send("MODE #c -v Bar")
    assert only(op.send("MODE #c -b m:bar!*@*"), "MODE").params == ["#c", "-b", "m:BAR!*@*"]
    assert "404" not in cmds(bar.send("PRIVMSG #c :free"))


def test_nested_and_account_quiets() -> None:
    world = World()
    op, anon, named = channel(world, "#c", "op", "anon", "named")
    named.client.account = "spammer"
    named.client.request("_notice_person_update", view_of(world).uniform, {"_account": "spammer"})
    assert only(op.send("MODE #c +b m:a:SPAM*"), "MODE").params == ["#c", "+b", "m:a:SPAM*"]
    assert "404" in cmds(named.send("PRIVMSG #c :hi"))
    assert "404" not in cmds(anon.send("PRIVMSG #c :hi"))


def test_banned_member_cannot_speak_nor_rejoin_after_kick() -> None:
    world = World()
    op, victim, _watcher = channel(world, "#c", "op", "victim", "watcher")
    op.send("MODE #c +b victim!*@*")
    assert "404" in cmds(victim.send("PRIVMSG #c :hi"))
    out = op.send("KICK #c victim :bye now")
    assert only(out, "KICK").params == ["#c", "victim", "bye now"]
    assert only(victim.take(), "KICK").params == ["#c", "victim", "bye now"]
    assert "474" in cmds(victim.send("JOIN #c"))
    op.send("MODE #c -b victim!*@*")
    assert "JOIN" in cmds(victim.send("JOIN #c"))


def test_extban_helpers() -> None:
    assert X.normalize_ban("m:nick") == "m:nick!*@*"
    assert X.normalize_ban("a:") is None and X.normalize_ban("q:x") is None
    assert X.normalize_ban("m:r:*bot*") == "m:r:*bot*"
    subject = X.Subject("Nick", "~u", "host.example", "2001:db8::5", "Real Name", "Acct")
    assert X.matches("*!*@2001:db8::/32", subject)
    assert not X.matches("*!*@2001:db9::/32", subject)
    assert X.matches("*!*@2001:DB8::5", subject)
    assert X.matches("r:real?name", subject)
    assert X.matches("a:acct", subject)
    assert not X.matches("a:*", X.Subject("n", "u", "h"))
    assert X.banned(["*!*@host.example"], [], subject)
    assert not X.banned(["*!*@host.example"], ["a:acct"], subject)
    assert X.muted(["m:nick!*@*"], ["m:other!*@*"], subject)


# -- KICK, INVITE, KNOCK


def test_kick_several_channels_and_users() -> None:
    world = World()
    op, a, _b = channel(world, "#c", "op", "a", "b")
    world.channel("#d", op, a)
    out = op.send("KICK #c,#d a,a :both")
    assert [m.params[:2] for m in numerics(out, "KICK")] == [["#c", "a"], ["#d", "a"]]
    out = op.send("KICK #c b,nobody :x")
    assert only(out, "KICK").params[1] == "b" and "441" in cmds(out)


def test_invite_list_336() -> None:
    world = World()
    (op,) = channel(world, "#c", "op")
    guest = world.client("guest")
    op.send("MODE #c +i")
    op.send("INVITE guest #c")
    out = guest.send("INVITE")
    assert only(out, "336").params[1] == "#c"
    assert only(out, "337")


def test_knock() -> None:
    world = World()
    op, half, plain = channel(world, "#c", "op", "half", "plain", half="h")
    guest = world.client("guest")
    assert only(guest.send("KNOCK #c"), "713").params[1] == "#c"
    assert "403" in cmds(guest.send("KNOCK #nowhere"))
    op.send("MODE #c +i")
    for client in (op, half, plain):
        client.clear()
    assert only(guest.send("KNOCK #c :let me in"), "711").params[1] == "#c"
    for client in (op, half):
        knock = only(client.take(), "710")
        assert knock.params[1:] == [
            "#c",
            "guest!~user@127.0.0.1",
            "has asked for an invite: let me in",
        ]
    assert plain.take() == []
    assert "712" in cmds(guest.send("KNOCK #c"))
    world.advance(61)
    assert "711" in cmds(guest.send("KNOCK #c"))
    assert "714" in cmds(plain.send("KNOCK #c"))


# -- operator override, announced by the place


def override_world(with_override: bool = True) -> World:
    config = make_config()
    classes = (
        OperClassEntry(name="chanfixer", privileges=("override",)),
        OperClassEntry(name="killer", privileges=("kill",)),
    )
    opers = (
        OperEntry(
            name="fixer",
            password_hash=OPER_HASH,
            oper_class="chanfixer" if with_override else "killer",
        ),
    )
    return World(dataclasses.replace(config, opers=opers, oper_classes=classes))


def oper_up(client: FakeClient) -> None:
    assert "381" in cmds(client.send(f"OPER fixer {OPER_PASSWORD}"))
    client.clear()


def test_override_is_applied_and_announced() -> None:
    world = override_world()
    _founder, member, oper = channel(world, "#c", "founder", "member", "oper", founder="q")
    oper_up(oper)
    out = oper.send("MODE #c +o oper")
    assert only(out, "MODE").params == ["#c", "+o", "oper"]
    note = only(member.take(), "NOTICE")
    assert note.source == SERVER and note.params[0] == "#c"
    assert note.params[1] == "*** oper used operator override: MODE +o oper"
    # now an op: deopping the founder still needs override, and is announced
    oper.send("KICK #c founder :taking over")
    got = member.take()
    assert "override: KICK founder" in only(got, "NOTICE").params[1]
    assert only(got, "KICK").params[1] == "founder"
    # ordinary op actions are not overrides
    assert "NOTICE" not in cmds(oper.send("MODE #c +v member"))


def test_override_joins_through_invite_only_and_bans() -> None:
    world = override_world()
    founder, member = channel(world, "#c", "founder", "member")
    founder.send("MODE #c +ib *!*@*")
    member.clear()
    oper = world.client("oper")
    oper_up(oper)
    out = oper.send("JOIN #c")
    assert "JOIN" in cmds(out)
    assert "override: JOIN despite +i" in only(member.take(), "NOTICE").params[1]


def test_without_override_privilege_the_rules_apply() -> None:
    world = override_world(with_override=False)
    founder, oper = channel(world, "#c", "founder", "oper")
    oper_up(oper)
    refused(oper.send("MODE #c +o oper"))
    founder.send("MODE #c +i")
    outsider = world.client("outsider")
    outsider.send(f"OPER fixer {OPER_PASSWORD}")
    assert "473" in cmds(outsider.send("JOIN #c"))


def test_override_cannot_set_registered() -> None:
    world = override_world()
    (_, oper) = channel(world, "#c", "founder", "oper")
    oper_up(oper)
    refused(oper.send("MODE #c +r"))


# -- concurrency: one order, one state for everybody


def _replay(lines: list[Line], state: dict[str, set[str]], flags: set[str]) -> None:
    """Apply the MODE lines a member saw to its own picture of the channel."""
    from ircpsyc.channels.modes import RANKS, parse_channel_modes

    for line in lines:
        if line.command != "MODE":
            continue
        parsed = parse_channel_modes(line.params[1], line.params[2:])
        for change in parsed.changes:
            if change.mode in RANKS:
                assert change.param is not None
                ranks = state.setdefault(change.param, set())
                (ranks.add if change.adding else ranks.discard)(change.mode)
            elif change.mode in "imnstCcMRp":
                (flags.add if change.adding else flags.discard)(change.mode)


def test_interleaved_mode_changes_of_two_ops_converge() -> None:
    world = World()
    nicks = ["alice", "bob", "carol", "dave", "eve"]
    clients = channel(world, "#c", *nicks)  # alice joined first: op
    alice, bob = clients[0], clients[1]
    alice.send("MODE #c +o bob")
    view = view_of(world)
    # Two ops fight: requests interleave as the place receives them; some are refused
    # because the other's change came first, and every member sees one sequence.
    script = [
        (alice, "MODE #c +v carol"),
        (bob, "MODE #c -o alice"),
        (alice, "MODE #c +o dave"),  # refused: alice lost op just before
        (bob, "MODE #c +mi"),
        (alice, "MODE #c -v carol"),  # refused too
        (bob, "MODE #c +o alice"),
        (alice, "MODE #c -o+h bob bob"),
        (bob, "MODE #c +o carol"),  # refused: bob is a halfop now
        (alice, "MODE #c -m+n+v eve"),
    ]
    for actor, command in script:
        actor.send(command)
    truth = {m.nick: set(m.modes) for m in view.members.values() if m.modes}
    assert truth == {"alice": {"o"}, "bob": {"h"}, "carol": {"v"}, "eve": {"v"}}
    assert view.flags == {"n", "t", "i"}
    for client in clients:
        state: dict[str, set[str]] = {"alice": {"o"}}  # as NAMES showed at the start
        flags = {"n", "t"}
        _replay(client.lines, state, flags)
        assert {nick: ranks for nick, ranks in state.items() if ranks} == truth, client.nick
        assert flags == view.flags
    # all members saw the very same MODE lines, in the same order
    sequences = [[m.params for m in c.lines if m.command == "MODE"] for c in clients]
    assert all(seq == sequences[0] for seq in sequences)
    assert len(sequences[0]) == 7
