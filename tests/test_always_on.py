"""Always-on persons without sockets: the service's policy, records and expiry
(ircpsyc.services.always_on) on an injected clock and a real SQLite file, and the
IRC front-end's keeping, attaching, expiry and restoring (ircpsyc.ircd.always_on)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from account_helpers import ServicesWorld, plain
from helpers import FakeClient, cmds, make_config

from ircpsyc.assemble import install_always_on
from ircpsyc.config import AccountsSection, Config
from ircpsyc.ircd.always_on import AUTO_AWAY, EXPIRED
from ircpsyc.services.always_on import DAY, AlwaysOnService, KeptPerson
from ircpsyc.store import Store


def accounts(**keys: object) -> AccountsSection:
    return dataclasses.replace(AccountsSection(), **keys)  # type: ignore[arg-type]


def service(now: list[float], **keys: object) -> AlwaysOnService:
    settings = accounts(**keys)
    return AlwaysOnService(lambda: settings, lambda: now[0])


def test_the_policy_decides_the_default_and_whether_an_account_may_choose() -> None:
    clock = [1000.0]
    opt_out, opt_in = service(clock), service(clock, always_on="opt-in")
    assert opt_out.enabled("Alice") and not opt_in.enabled("Alice")
    assert opt_out.choose("alice", False) == "" and not opt_out.enabled("ALICE")
    assert opt_in.choose("alice", True) == "" and opt_in.enabled("Alice")
    mandatory = service(clock, always_on="mandatory")
    disabled = service(clock, always_on="disabled")
    assert "mandatory" in mandatory.choose("alice", False) and mandatory.enabled("alice")
    assert "disabled" in disabled.choose("alice", True) and not disabled.enabled("alice")


def test_records_and_choices_survive_in_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "ao.sqlite3")
    clock = [1000.0]
    store = Store(path)
    first = service(clock)
    first.attach(store)
    first.choose("Bob", False)
    record = KeptPerson("alice", "Alice", "u", "host", "Real", "10.0.0.1", "gone", "i", ["#a"])
    first.save(record)
    first.save(dataclasses.replace(record, account="carol", nick="Carol"))
    first.forget("CAROL")
    store.close()

    store = Store(path)
    second = service(clock)
    second.attach(store)
    assert list(second.kept) == ["alice"]
    assert second.kept["alice"] == record
    assert not second.enabled("bob") and second.enabled("alice")
    second.dropped("Alice")
    second.dropped("bob")
    store.close()
    store = Store(path)
    third = service(clock)
    third.attach(store)
    assert not third.kept and third.enabled("bob")
    store.close()


def test_a_person_unused_for_always_on_expire_days_expires() -> None:
    clock = [1000.0]
    ao = service(clock, always_on_expire=2.0)
    ao.unused("Alice", 1000.0)
    ao.unused("bob", 1000.0 + DAY)
    assert ao.expired(1000.0 + 2 * DAY - 1) == []
    assert ao.expired(1000.0 + 2 * DAY) == ["alice"]
    ao.used("alice")
    assert ao.expired(1000.0 + 3 * DAY) == ["bob"]
    forever = service(clock, always_on_expire=0.0)
    forever.unused("alice", 0.0)
    assert forever.expired(1e12) == []


def _config(**keys: object) -> Config:
    config = make_config()
    return dataclasses.replace(config, accounts=accounts(**keys))


def _world(path: Path, **keys: object) -> ServicesWorld:
    world = ServicesWorld(_config(**keys), path=path)
    install_always_on(world.core, world.store)
    return world


def test_kept_attached_expired_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    world = _world(path, always_on_expire=1.0)
    alice = world.registered("alice", "secret-pw")
    bob = world.client("bob", caps=("away-notify",))
    world.channel("#c", alice, bob)

    alice.send("QUIT :bye")
    seen = bob.take()
    assert cmds(seen) == ["AWAY"] and seen[0].params == [AUTO_AWAY]
    person = world.core.find("alice")
    assert person is not None and not person.sessions and person.away == AUTO_AWAY
    assert "#c" in person.channels

    # SASL before registration attaches; the automatic away is cleared.
    back = world.connect()
    back.send("CAP LS 302")
    back.send("CAP REQ :sasl")
    back.send("AUTHENTICATE PLAIN")
    back.send("AUTHENTICATE " + plain("alice", "secret-pw"))
    back.send("NICK someone")
    back.send("USER u 0 * :x")
    out = back.send("CAP END")
    assert out[0].command == "001" and out[0].params[0] == "alice"
    assert [m.params[0] for m in out if m.command == "JOIN"] == ["#c"]
    assert back.client is person and person.away == ""
    assert cmds(bob.take()) == ["AWAY"]
    back.send("QUIT")
    bob.take()

    world.advance(DAY - 120)
    bob.send("PING keep-me")  # bob stays connected through the day
    world.tick()
    assert world.core.find("alice") is person
    world.advance(240)
    bob.send("PING keep-me")
    world.tick()
    seen = bob.take()
    quit_line = [m for m in seen if m.command == "QUIT"]
    assert quit_line and quit_line[0].params == [EXPIRED], [m.format() for m in seen]
    assert world.core.find("alice") is None

    # Kept again, then a new server on the same store brings it back into #c.
    alice = world.registered("carol", "secret-pw")
    alice.send("JOIN #c")
    alice.send("MODE carol +i")
    alice.send("QUIT")
    world.close()
    again = _world(path)
    restored = again.core.find("carol")
    assert restored is not None and not restored.sessions
    assert list(restored.channels) == ["#c"] and restored.away == AUTO_AWAY
    assert "i" in restored.modes and again.core.mode_counts["i"] == 1
    dave = again.client("dave")
    assert "433" in cmds(dave.send("NICK carol"))
    again.close()


def test_logout_and_set_off_let_the_person_leave(tmp_path: Path) -> None:
    world = _world(tmp_path / "s.sqlite3")
    alice = world.registered("alice", "secret-pw")
    alice.send("NS LOGOUT")
    alice.send("QUIT")
    assert world.core.find("alice") is None
    bob = world.registered("bob", "secret-pw")
    assert any("OFF" in m.params[-1] for m in bob.send("NS SET ALWAYS-ON OFF"))
    bob.send("QUIT")
    assert world.core.find("bob") is None
    world.close()


def test_an_oper_is_kept_without_its_status_and_sanick_works_on_it(tmp_path: Path) -> None:
    config = dataclasses.replace(
        make_config(opers=[("root", "oper-pw", "*@*")]), accounts=accounts()
    )
    world = ServicesWorld(config, path=tmp_path / "s.sqlite3")
    install_always_on(world.core, world.store)
    alice = world.registered("alice", "secret-pw")
    assert "381" in cmds(alice.send("OPER root oper-pw"))
    alice.send("QUIT")
    person = world.core.find("alice")
    assert person is not None and not person.is_oper and not person.oper_name
    assert world.core.mode_counts["o"] == 0
    root = world.client("root")
    assert "381" in cmds(root.send("OPER root oper-pw"))
    assert "433" in cmds(root.send("SANICK alice root"))
    root.send("SANICK alice alice2")
    assert world.core.find("alice2") is person and world.core.find("alice") is None
    root.send("KILL alice2 :bye")
    assert world.core.find("alice2") is None
    world.close()


def test_drop_and_recover_end_a_person_with_no_session(tmp_path: Path) -> None:
    world = _world(tmp_path / "s.sqlite3")
    service = world.nickserv.always_on
    assert service is not None
    for nick in ("alice", "bob"):
        world.registered(nick, "secret-pw").send("QUIT")
    assert set(service.kept) == {"alice", "bob"}

    # The owner, connected under another nick, takes the nick back: the person quits.
    owner = world.client("someone")
    owner.send("NS RECOVER alice secret-pw")
    assert owner.nick == "alice" and owner.client.account == "alice"
    assert world.core.find("alice") is owner.client
    assert "alice" not in service.kept

    # DROP from another connection logged in to the account ends its person.
    other = world.client("other")
    other.send("NS IDENTIFY bob secret-pw")
    other.send("NS DROP secret-pw")
    assert world.core.find("bob") is None and "bob" not in service.kept
    world.close()


def test_the_record_follows_a_kick_while_nobody_is_connected(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    world = _world(path)
    alice = world.registered("alice", "secret-pw")
    op = world.client("op")
    world.channel("#a", op, alice)
    world.channel("#b", alice)
    alice.send("QUIT")
    service = world.nickserv.always_on
    assert service is not None and sorted(service.kept["alice"].channels) == ["#a", "#b"]
    op.send("KICK #a alice :out")
    world.tick(61)
    assert service.kept["alice"].channels == ["#b"]
    world.close()
    again = _world(path)
    restored = again.core.find("alice")
    assert restored is not None and list(restored.channels) == ["#b"]
    again.close()


def test_a_server_named_with_capitals_keeps_its_persons_and_their_markers(
    tmp_path: Path,
) -> None:
    """irctest's testReadMarkerPersistsAcrossReconnect: on `My.Little.Server` (whose
    name the account sync keeps lowercased) the person stays, and a device that comes
    back is rejoined with the channel's read marker."""
    config = _config()
    config = dataclasses.replace(
        config, server=dataclasses.replace(config.server, name="My.Little.Server")
    )
    world = ServicesWorld(config, path=tmp_path / "s.sqlite3")
    install_always_on(world.core, world.store)

    def device() -> tuple[FakeClient, list[str]]:
        fake = world.connect()
        for text in ("CAP LS 302", "CAP REQ :draft/read-marker sasl", "AUTHENTICATE PLAIN"):
            fake.send(text)
        fake.send("AUTHENTICATE " + plain("alys", "secret-pw"))
        fake.send("NICK alys")
        fake.send("USER u 0 * :x")
        return fake, [m.format() for m in fake.send("CAP END")]

    world.registered("alys", "secret-pw").send("QUIT")
    assert world.core.find("alys") is not None
    first, _ = device()
    first.send("JOIN #test")
    first.send("MARKREAD #test timestamp=2021-05-20T08:30:00.000Z")
    first.session.lost("Connection reset")
    _, lines = device()
    assert any(text.endswith("JOIN #test") for text in lines), lines
    assert ":My.Little.Server MARKREAD #test timestamp=2021-05-20T08:30:00.000Z" in lines
    world.close()
