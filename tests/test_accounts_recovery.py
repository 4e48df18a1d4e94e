"""Accounts across linked servers when a home loses what it had, sans-IO.

A copy deletes an account only for a drop (a drop notice, or a tombstone in its
home's snapshot); an account merely missing from its home is given back to it.
Three servers in a line (a - b - c), as in test_accounts_network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from account_helpers import notices
from netsim import Sim
from test_accounts_network import (
    FP,
    LINE,
    NAMES,
    A,
    B,
    C,
    codes,
    converged,
    homed,
    line3,
    register,
    sasl_client,
    sasl_plain,
    sync,
    table,
)

from ircpsyc.channels.modes import OP
from ircpsyc.services.accounts import Accounts, Tombstone
from ircpsyc.services.chanserv import ChanServ
from ircpsyc.services.registrations import AccessEntry, ChannelState
from ircpsyc.store import MIGRATIONS, Store


def accounts(sim: Sim, server: str) -> Accounts:
    held = sim[server].accounts
    assert held is not None
    return held


def chanserv(sim: Sim, server: str) -> ChanServ:
    return next(e for e in sim[server].router._entities.values() if isinstance(e, ChanServ))


def restart_empty(sim: Sim, server: str) -> None:
    """The server dies and comes back with a new, empty store (a lost database)."""
    sim.kill(server)
    sim.tick(1.0)
    sim.start(server)
    for a, b in LINE:
        if server in (a, b):
            sim.connect(a, b)
    sim.tick(3.0)


def test_a_home_restarted_with_an_empty_store_gets_its_accounts_back() -> None:
    sim = line3()
    names = [homed(sim, A, f"ann{i}") for i in range(3)]
    users = [register(sim, B, name) for name in names]
    sim.do(users[0], "NS SET ENFORCE OFF", f"NS CERT ADD {FP}", "NS SET PASSWORD later-pw")
    sim.settle()
    other = homed(sim, C, "ben")
    register(sim, A, other)
    converged(sim)
    before = table(sim, B)
    restart_empty(sim, A)
    converged(sim)
    assert table(sim, A) == before  # every account, as it was: homes, flags, certificates
    assert sync(sim, A).restored == len(names)
    for server in NAMES:
        assert sasl_plain(sim, server, names[0], "later-pw") == ["900", "903"]
        assert sasl_plain(sim, server, names[1], "secret-pw") == ["900", "903"]
        assert sasl_plain(sim, server, other, "secret-pw") == ["900", "903"]
    fake = sasl_client(sim, A, certfp=FP)
    fake.send("AUTHENTICATE EXTERNAL")
    assert codes(fake.send("AUTHENTICATE +")) == ["900", "903"]
    # It is the home again: changes made anywhere go through it and reach everybody.
    user = sim[C].client("ann_c")
    sim.do(user, f"NS IDENTIFY {names[2]} secret-pw", "NS SET PASSWORD after-pw")
    sim.settle()
    assert "Your password has been changed." in notices(sim.lines(user))
    converged(sim)
    assert table(sim, C)[names[2]][2] == A
    for server in NAMES:
        assert sasl_plain(sim, server, names[2], "after-pw") == ["900", "903"]


def test_a_home_restored_from_an_old_backup_takes_the_newer_copies() -> None:
    sim = line3()
    name = homed(sim, A, "cleo")
    user = register(sim, A, name)
    old = dataclasses.replace(accounts(sim, A).get(name))  # type: ignore[type-var]
    sim.do(user, "NS SET PASSWORD newer-pw")
    sim.settle()
    converged(sim)
    sim.kill(A)
    sim.tick(1.0)
    sim.start(A)
    accounts(sim, A).put(old)  # the backup has the account as it was before
    sim.connect(A, B)
    sim.tick(3.0)
    converged(sim)
    for server in NAMES:
        assert sasl_plain(sim, server, name, "newer-pw") == ["900", "903"]
        assert sasl_plain(sim, server, name, "secret-pw") == ["904"]


def test_a_drop_during_a_split_is_applied_when_it_heals_and_not_undone() -> None:
    sim = line3()
    name = homed(sim, A, "dora")
    owner = register(sim, A, name)
    away = sim[C].client("dora_c", caps=["account-notify"])
    sim.do(away, f"NS IDENTIFY {name} secret-pw")
    sim.cut(B, C)
    sim.tick(12.0)
    sim.do(owner, "NS DROP secret-pw")
    sim.settle()
    assert f"The account {name} has been dropped." in notices(sim.lines(owner))
    assert name in table(sim, C)  # c did not hear of it
    sim.lines(away)
    sim.connect(B, C)
    sim.tick(3.0)
    for server in NAMES:
        assert name not in table(sim, server)
        tombstone = accounts(sim, server).tombstone(name)
        assert tombstone is not None
        assert tombstone.home == ("" if server == A else A)
    assert "901" in codes(sim.lines(away))  # a real drop: logged out on c too
    assert sasl_plain(sim, C, name, "secret-pw") == ["904"]
    sim.tick(15.0)  # and it stays dropped
    converged(sim)
    assert name not in table(sim, A)
    assert sync(sim, A).restored == 0


def test_a_drop_survives_its_home_losing_its_database() -> None:
    """b heard of the drop, c did not; then a loses everything: b's tombstone wins over
    c's old copy, whether c comes back before a or after."""
    for c_first in (False, True):
        sim = line3()
        name = homed(sim, A, "eve")
        kept = homed(sim, A, "fay")
        owner = register(sim, A, name)
        register(sim, A, kept)
        sim.cut(B, C)
        sim.tick(12.0)
        sim.do(owner, "NS DROP secret-pw")
        sim.settle()
        sim.kill(A)
        sim.tick(12.0)
        if c_first:
            sim.connect(B, C)  # both b and c give back what they have when a is back
            sim.tick(3.0)
        sim.start(A)
        sim.connect(A, B)
        sim.tick(3.0)
        if not c_first:
            sim.connect(B, C)  # a has been told of the drop by b already
        sim.tick(15.0)
        converged(sim)
        assert name not in table(sim, A), c_first
        assert kept in table(sim, A), c_first
        assert sasl_plain(sim, C, name, "secret-pw") == ["904"]
        assert sasl_plain(sim, A, kept, "secret-pw") == ["900", "903"]


def test_a_copy_given_back_before_the_drop_is_remembered_is_dropped_again() -> None:
    """c's old copy reaches the empty home before b's tombstone: the home takes it back,
    then drops it again when it hears of the drop, and tells everybody."""
    sim = line3()
    name = homed(sim, A, "hal")
    owner = register(sim, A, name)
    sim.cut(B, C)
    sim.tick(12.0)
    sim.do(owner, "NS DROP secret-pw")
    sim.settle()
    sim.kill(A)
    sim.tick(12.0)
    sim.connect(B, C)
    sim.tick(3.0)
    held_back: list[tuple[object, ...]] = []
    b_sync = sync(sim, B)
    b_sync._give_back = lambda *args: held_back.append(args)  # type: ignore[method-assign]
    sim.start(A)
    sim.connect(A, B)
    sim.tick(3.0)
    assert name in table(sim, A)  # c's copy came first: taken back for now
    assert held_back
    del b_sync._give_back
    for args in held_back:
        b_sync._give_back(*args)  # type: ignore[arg-type]
    sim.tick(3.0)
    converged(sim)
    assert name not in table(sim, A)
    assert sasl_plain(sim, C, name, "secret-pw") == ["904"]


def test_a_name_registered_again_after_a_drop_is_not_overwritten_by_an_old_copy() -> None:
    sim = line3()
    name = homed(sim, A, "gus")
    owner = register(sim, A, name)
    sim.cut(B, C)
    sim.tick(12.0)
    sim.do(owner, "NS DROP secret-pw")
    sim.settle()
    sim.tick(1.0)
    sim.do(owner, "PRIVMSG NickServ :REGISTER second-pw")
    sim.settle()
    assert "900" in codes(sim.lines(owner))
    fresh = accounts(sim, A).get(name)
    assert fresh is not None
    sim.connect(B, C)
    sim.tick(15.0)
    converged(sim)
    for server in NAMES:
        held = accounts(sim, server).get(name)
        assert held is not None and held.registered_at == fresh.registered_at, server
        assert sasl_plain(sim, server, name, "second-pw") == ["900", "903"]
        assert sasl_plain(sim, server, name, "secret-pw") == ["904"]


def test_chanserv_keeps_a_founder_through_a_merge() -> None:
    """The same name on three servers before linking: while snapshots travel a server
    may hold a registration that loses later; that is no drop, nobody succeeds."""
    sim = Sim(NAMES, LINE, services=True)
    for server in NAMES:
        held = accounts(sim, server)
        held.create("pat", held.make_credentials(f"pw-{server}"))
        held.create(f"succ{server[0]}", held.make_credentials("pw"))
        sim.now += 60
    channels = {}
    for server in NAMES:
        cs = chanserv(sim, server)
        channel = next(f"#room{i}" for i in range(500) if cs.home(f"#room{i}") == server)
        reg = cs.regs.register(channel, "pat", ChannelState())
        cs.regs.put_access(reg, AccessEntry(f"succ{server[0]}", OP, True, "pat", sim.now))
        channels[server] = channel
    sim.connect(B, C)  # c takes b's pat (earlier than its own)
    sim.tick(3.0)
    sim.cut(B, C)
    sim.tick(12.0)
    sim.connect(A, B)  # b takes a's pat (earlier still)
    sim.tick(3.0)
    sim.connect(B, C)  # c hears from b first that b has no pat of its own any more
    sim.tick(5.0)
    converged(sim)
    for server in NAMES:
        reg = chanserv(sim, server).regs.get(channels[server])
        assert reg is not None and reg.founder == "pat", server
        assert table(sim, server)["pat"][2] == A
    assert sasl_plain(sim, C, "pat", f"pw-{A}") == ["900", "903"]


def test_tombstones_are_kept_for_a_bounded_time_and_survive_a_restart(tmp_path: Path) -> None:
    from account_helpers import fast_hash, fast_verify
    from helpers import make_config

    now = [1_000_000.0]
    config = make_config()
    path = str(tmp_path / "s.db")
    store = Store(path)
    held = Accounts(store, lambda: config.services, lambda: now[0], fast_hash, fast_verify)
    held.create("old", held.make_credentials("pw"))
    now[0] += 10
    tombstone = held.drop("old")
    assert tombstone == Tombstone("old", 1_000_000.0, 1_000_010.0, "")
    assert held.bury(Tombstone("gone", 5.0, 1_000_005.0, "b.test"))
    assert not held.bury(Tombstone("gone", 5.0, 1_000_001.0, "b.test"))  # an older drop
    store.close()
    store = Store(path)
    again = Accounts(store, lambda: config.services, lambda: now[0], fast_hash, fast_verify)
    assert again.tombstone("OLD") == tombstone
    assert again.prune_tombstones(1_000_006.0) == 1
    assert again.tombstone("gone") is None and again.tombstone("old") is not None
    store.close()


def test_migration_gives_existing_accounts_a_version(tmp_path: Path) -> None:
    import sqlite3

    import sqlite_utils

    path = tmp_path / "old.db"
    number = next(i for i, m in enumerate(MIGRATIONS, 1) if m.__name__ == "_m8_account_tombstones")
    db = sqlite_utils.Database(sqlite3.connect(path))
    for migration in MIGRATIONS[: number - 1]:
        migration(db)
    db.execute(
        "INSERT INTO accounts (folded, name, password_hash, scram_salt, scram_iterations,"
        " scram_stored_key, scram_server_key, registered_at) VALUES"
        " ('x', 'x', 'h', '', 4096, '', '', 42.5)"
    )
    db.execute(f"PRAGMA user_version={number - 1}")
    db.conn.commit()
    db.conn.close()
    store = Store(str(path))
    assert store.version == len(MIGRATIONS)
    row = store.db.execute("SELECT updated_at FROM accounts WHERE folded = 'x'").fetchone()
    assert row[0] == 42.5
    assert store.db.execute("SELECT COUNT(*) FROM account_tombstones").fetchone()[0] == 0
    store.close()


def test_a_name_taken_on_an_empty_home_before_the_copies_came_back_goes_to_the_earlier() -> None:
    """The home lost its database and somebody registered one of its names before the
    links came back: the earlier registration keeps it, as when servers merge."""
    sim = line3()
    name = homed(sim, A, "ida")
    register(sim, B, name)
    sim.kill(A)
    sim.tick(1.0)
    sim.start(A)
    squatter = register(sim, A, name, "squatter-pw")
    sim.connect(A, B)
    sim.tick(3.0)
    converged(sim)
    for server in NAMES:
        assert sasl_plain(sim, server, name, "secret-pw") == ["900", "903"]
        assert sasl_plain(sim, server, name, "squatter-pw") == ["904"]
    assert "901" in codes(sim.lines(squatter))
