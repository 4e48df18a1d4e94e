"""draft/extended-isupport, draft/ICON, ACCOUNTREQUIRED, draft/pre-away and the
ascii casemapping, through the sans-IO front-end (helpers.World)."""

from __future__ import annotations

import dataclasses

from helpers import World, make_config

from ircpsyc.psyc_backend.uniform import casefold, set_casemapping


def test_isupport_before_registration_in_a_batch() -> None:
    world = World()
    fake = world.connect()
    fake.send("CAP LS 302")
    fake.send("CAP REQ :draft/extended-isupport batch")
    out = fake.send("ISUPPORT")
    assert out[0].command == "BATCH" and out[0].params[1:] == ["draft/isupport"]
    rows = [m for m in out if m.command == "005"]
    assert rows and all(m.params[0] == "*" for m in rows)
    assert any("CASEMAPPING=rfc1459" in m.params for m in rows)
    assert out[-1].params == ["-" + out[0].params[0][1:]]
    # Without the capability the command does not exist.
    other = world.connect()
    assert [m.command for m in other.send("ISUPPORT")] == ["451"]


def test_icon_and_account_required_are_advertised() -> None:
    config = make_config()
    config = dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, icon="https://example.org/icon.png"),
        services=dataclasses.replace(config.services, require_account=True),
    )
    world = World(config)
    fake = world.connect()
    out = fake.register("nobody")
    fail = [m for m in out if m.command == "FAIL"]
    assert fail and fail[0].params[:2] == ["*", "ACCOUNT_REQUIRED"]
    assert fake.closed
    tokens = world.core.isupport
    assert "draft/ICON=https://example.org/icon.png" in tokens
    assert "ACCOUNTREQUIRED" in tokens


def test_pre_away() -> None:
    world = World()
    fake = world.connect()
    assert [m.command for m in fake.send("AWAY :not here")] == ["451"]  # no capability
    fake.send("CAP LS 302")
    fake.send("CAP REQ :draft/pre-away")
    assert fake.send("AWAY :on the train") == []
    fake.register("carol")
    fake.send("CAP END")
    assert fake.client.away == "on the train"
    watcher = world.client("dave")
    reply = watcher.send("WHOIS carol")
    assert [m.params[-1] for m in reply if m.command == "301"] == ["on the train"]


def test_ascii_casemapping() -> None:
    try:
        set_casemapping("ascii")
        assert casefold("Nick[1]") == "nick[1]"
        assert casefold("ÄB") == "Äb"
        world = World()
        assert "CASEMAPPING=ascii" in world.core.isupport
        alice = world.client("alice")
        alice.send("JOIN #Foo")
        bob = world.client("bob")
        bob.send("JOIN #foo")
        names = bob.send("NAMES #FOO")
        assert "alice" in next(m for m in names if m.command == "353").params[-1]
        assert world.core.find("Nick[x]") is None
        world.client("Nick[x]")
        assert world.core.find("nick[x]") is not None
        assert world.core.find("nick{x}") is None  # rfc1459 would fold these together
    finally:
        set_casemapping("rfc1459")
    assert casefold("Nick[1]") == "nick{1}"


def test_cap_ls_before_302_is_one_line() -> None:
    """A 301 client cannot read a continued LS: the names (no values) go on one line,
    however many drafts are offered."""
    world = World()
    out = world.connect().send("CAP LS")
    assert [m.command for m in out] == ["CAP"]
    names = out[0].params[-1].split()
    assert {"draft/multiline", "draft/message-redaction", "draft/pre-away"} <= set(names)
    assert not [n for n in names if "=" in n]
