"""K-lines and D-lines: parsing, enforcement at once and at the door, expiry, the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import argon2
import pytest
from helpers import World, cmds, make_config, numerics, only

from ircpsyc.config import OperClassEntry, OperEntry
from ircpsyc.ircd.xlines import (
    canonical_dline,
    canonical_kline,
    format_duration,
    parse_duration,
    too_broad,
)
from ircpsyc.store import Store

PASSWORD = "xlines-test-password"
HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


def ban_world(privileges: tuple[str, ...] | None = None) -> World:
    """A world with oper `admin` (every privilege) or of a class with `privileges`."""
    config = make_config()
    classes = () if privileges is None else (OperClassEntry("limited", privileges, "x"),)
    opers = (OperEntry("admin", HASH, "*@*", "limited" if privileges is not None else ""),)
    return World(dataclasses.replace(config, opers=opers, oper_classes=classes))


def oper(world: World, nick: str = "oper", ip: str = "10.9.9.9"):  # type: ignore[no-untyped-def]
    client = world.client(nick, ip=ip)
    assert "381" in cmds(client.send(f"OPER admin {PASSWORD}"))
    client.clear()
    return client


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 1800), ("0", 0), ("90s", 90), ("1d12h", 129600), ("2w", 1209600), ("1h30m", 5400)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "h", "*@host", "1.5h"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_masks() -> None:
    assert canonical_kline("host.example") == "*@host.example"
    assert canonical_kline("@host") == "*@host"
    assert canonical_kline("a b@c") is None and canonical_kline("n!u@h") is None
    assert canonical_dline("10.1.2.3/8") == "10.0.0.0/8"
    assert canonical_dline("2001:db8::1") == "2001:db8::1"
    assert canonical_dline("not-an-ip") is None
    assert too_broad("K", "*@*") and too_broad("K", "*@*.*") and not too_broad("K", "*@*.com")
    assert too_broad("D", "0.0.0.0/4") and not too_broad("D", "10.0.0.0/8")
    assert format_duration(129600) == "1d12h"


def test_kline_disconnects_matching_clients_at_once() -> None:
    world = ban_world()
    admin = oper(world)
    victim = world.client("victim", ip="192.0.2.7")
    bystander = world.client("bystander", ip="192.0.2.8")
    world.channel("#c", victim, bystander)
    out = admin.send("KLINE 1h *@192.0.2.7 :spamming")
    assert "spamming" in only(out, "NOTICE").params[1]
    assert victim.closed
    got = victim.take()
    assert only(got, "465").params[1] == "You are banned: spamming"
    assert "K-Lined: spamming" in only(got, "ERROR").params[0]
    assert "K-Lined" in only(bystander.take(), "QUIT").params[0]
    assert not bystander.closed
    world.check_consistency()


def test_kline_refuses_registration_and_matches_user_glob() -> None:
    world = ban_world()
    admin = oper(world)
    admin.send("KLINE ~bad*@*.example.net")  # permanent, no reason
    fake = world.connect(ip="198.51.100.1")
    fake.session.host = "shell.example.net"
    fake.send("NICK baddie")
    out = fake.send("USER badname 0 * :x")
    assert "001" not in cmds(out) and "465" in cmds(out)
    assert fake.closed
    fine = world.connect(ip="198.51.100.1")
    fine.session.host = "shell.example.net"
    fine.send("NICK goodie")
    assert "001" in cmds(fine.send("USER good 0 * :x"))


def test_kline_by_nick_and_cidr_host() -> None:
    world = ban_world()
    admin = oper(world)
    world.client("target", ip="203.0.113.5")
    admin.send("KLINE target :by nick")
    stats = only(admin.send("STATS k"), "216")
    assert stats.params[1:5] == ["K", "203.0.113.5", "*", "*"]
    admin.send("KLINE 10 *@203.0.113.0/24 :cidr")
    assert world.connect(ip="203.0.113.77").register("other")[-1].command == "ERROR"
    assert "001" in cmds(world.connect(ip="203.0.114.1").register("free"))


def test_dline_closes_unregistered_and_registered_and_undline() -> None:
    world = ban_world()
    admin = oper(world)
    pending = world.connect(ip="198.51.100.20")
    pending.send("NICK halfway")
    user = world.client("user", ip="198.51.100.21")
    admin.send("DLINE 198.51.100.0/24 :bad network")
    assert pending.closed and user.closed
    assert world.core.moderation.connect_refusal("198.51.100.99") == "D-Lined: bad network"
    assert world.core.moderation.connect_refusal("198.51.101.1") == ""
    stats = only(admin.send("STATS d"), "225")
    assert stats.params[1:3] == ["D", "198.51.100.0/24"]
    assert "bad network" in stats.params[3]
    assert "NOTICE" in cmds(admin.send("UNDLINE 198.51.100.0/24"))
    assert "225" not in cmds(admin.send("STATS d"))
    assert "001" in cmds(world.connect(ip="198.51.100.22").register("back"))
    fail = only(admin.send("UNDLINE 198.51.100.0/24"), "FAIL")
    assert fail.params[1] == "NO_SUCH_BAN"


def test_refusals_and_privileges() -> None:
    world = ban_world(privileges=("kill",))
    plain = world.client("plain")
    assert "481" in cmds(plain.send("KLINE *@x.example"))
    assert "481" in cmds(plain.send("STATS k"))
    limited = oper(world)
    err = only(limited.send("KLINE *@x.example"), "723")
    assert err.params[1] == "ban"
    world2 = ban_world()
    admin = oper(world2)
    assert only(admin.send("KLINE *@*"), "FAIL").params[1] == "MASK_TOO_BROAD"
    assert only(admin.send("DLINE 1.2.3.4/2"), "FAIL").params[1] == "MASK_TOO_BROAD"
    assert only(admin.send("DLINE 1.2.3.999"), "FAIL").params[1] == "INVALID_MASK"
    assert "401" in cmds(admin.send("KLINE nobody"))
    assert "461" in cmds(admin.send("KLINE"))


def test_timed_kline_expires_with_a_notice() -> None:
    world = ban_world()
    admin = oper(world)
    admin.send("MODE oper +s +x")
    admin.clear()
    admin.send("KLINE 90s *@192.0.2.50 :short")
    assert "expires in 1m30s" in only(admin.send("STATS K"), "216").params[-1]
    world.advance(60)
    world.core.tick(world.now)
    assert "216" in cmds(admin.send("STATS K"))
    assert "465" in cmds(world.connect(ip="192.0.2.50").register("early"))
    world.advance(31)
    world.core.tick(world.now)
    notice = [m for m in admin.take() if m.command == "NOTICE"][-1]
    assert "expired" in notice.params[1] and "*@192.0.2.50" in notice.params[1]
    assert "216" not in cmds(admin.send("STATS K"))
    assert "001" in cmds(world.connect(ip="192.0.2.50").register("later"))


def test_bans_persist_in_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "bans.sqlite3")
    world = ban_world()
    store = Store(path)
    world.core.moderation.attach_store(store)
    admin = oper(world)
    admin.send("KLINE 0 *@perm.example :forever")
    admin.send("KLINE 1h *@timed.example :an hour")
    admin.send("KLINE 1m *@brief.example :a minute")
    admin.send("DLINE 2001:db8::/32 :v6 block")
    admin.send("KLINE *@gone.example :removed later")
    admin.send("UNKLINE *@GONE.example")
    admin.send("KLINE 2h *@perm.example :replaced")  # same mask: replaces
    store.close()  # nothing was queued: every write was committed already

    later = ban_world()
    later.advance(120)  # the one-minute ban expired while the server was down
    store = Store(path)
    later.core.moderation.attach_store(store)
    bans = {(b.kind, b.mask): b for b in later.core.moderation.xlines.bans.values()}
    assert set(bans) == {("K", "*@perm.example"), ("K", "*@timed.example"), ("D", "2001:db8::/32")}
    assert bans[("K", "*@perm.example")].reason == "replaced"
    assert bans[("K", "*@perm.example")].expires == pytest.approx(later.now - 120 + 7200)
    rows = list(store.db.execute("SELECT kind, mask FROM server_bans ORDER BY mask"))
    assert len(rows) == 3
    store.close()


def test_snomasks() -> None:
    world = ban_world(privileges=("kill",))  # class snomasks "x"
    watcher = world.client("watcher")
    out = watcher.send(f"OPER admin {PASSWORD}")
    assert only(out, "MODE").params == ["watcher", "+os"]
    assert only(out, "008").params[1] == "+x"
    assert "s" in watcher.client.modes
    out = watcher.send("MODE watcher +s +cq-x")
    assert only(out, "008").params[1] == "+cq"
    world.client("newbie", ip="192.0.2.33")
    note = only(watcher.take(), "NOTICE")
    assert note.params[1].startswith("*** CONNECT: Client connecting: newbie (~user@192.0.2.33)")
    other = world.client("other")
    other.send("QUIT :bye all")
    quit_note = [m for m in watcher.take() if m.command == "NOTICE"][-1]
    assert "*** QUIT: Client exiting: other" in quit_note.params[1]
    assert "Quit: bye all" in quit_note.params[1] or "bye all" in quit_note.params[1]
    watcher.send("KILL newbie :go away")
    kill_note = [m for m in watcher.take() if m.command == "NOTICE"]
    assert not any("KILL:" in m.params[1] for m in kill_note)  # k not in the mask
    # only opers may have server notices; -s switches them off, deopping too
    plain = world.client("plain")
    assert "481" in cmds(plain.send("MODE plain +s"))
    assert "s" not in plain.client.modes
    assert only(watcher.send("MODE watcher -s"), "MODE").params == ["watcher", "-s"]
    watcher.send("MODE watcher +s")
    assert only(watcher.send("MODE watcher -o"), "MODE").params == ["watcher", "-so"]
    assert world.core.moderation.snomasks.get(watcher.client) == ""


def test_globops_and_oper_notices() -> None:
    world = ban_world()
    first = oper(world, "first")
    first.send("MODE first +s +o")
    first.clear()
    second = oper(world, "second")
    note = only(first.take(), "NOTICE")
    assert "second (~user@10.9.9.9) is now an IRC operator (admin, all)" in note.params[1]
    plain = world.client("plain")
    own = second.send("GLOBOPS :hello opers")
    for got in (first.take(), own):
        assert only(got, "NOTICE").params[1] == "*** GLOBOPS from second: hello opers"
    assert plain.take() == []
    assert "481" in cmds(plain.send("GLOBOPS :me too"))
    failed = world.client("failed")
    failed.send("OPER admin wrong")
    assert "Failed OPER attempt as admin by failed" in only(first.take(), "NOTICE").params[1]
    assert numerics(second.take(), "NOTICE") == []  # second has no snomask
