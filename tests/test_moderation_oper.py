"""Operator classes and privileges, KILL, SAJOIN/SAPART/SANICK, and REHASH refusing bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import argon2
import pytest
from helpers import World, cmds, make_config, only

from ircpsyc.config import ConfigError, OperClassEntry, OperEntry, load
from ircpsyc.ircd.moderation import privileges
from ircpsyc.server import Server

PASSWORD = "oper-class-password"
HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


def class_world(**classes: tuple[str, ...]) -> World:
    """Opers named like their class (and `root`, who has no class: every privilege)."""
    config = make_config()
    entries = tuple(OperClassEntry(name, privs) for name, privs in classes.items())
    opers = (
        *tuple(OperEntry(name, HASH, "*@*", name) for name in classes),
        OperEntry("root", HASH),
    )
    return World(dataclasses.replace(config, opers=opers, oper_classes=entries))


def oper(world: World, name: str, nick: str | None = None):  # type: ignore[no-untyped-def]
    client = world.client(nick or name)
    assert "381" in cmds(client.send(f"OPER {name} {PASSWORD}"))
    client.clear()
    return client


def test_privileges_follow_the_class() -> None:
    world = class_world(helper=("kill",), janitor=("rehash", "wallops"))
    helper, janitor, root = oper(world, "helper"), oper(world, "janitor"), oper(world, "root")
    assert privileges(world.core, helper.client) == {"kill"}
    assert privileges(world.core, root.client) >= {"kill", "ban", "override", "auspex"}
    victim = world.client("victim")
    err = only(janitor.send("KILL victim :x"), "723")
    assert err.params[1:] == ["kill", "Insufficient oper privileges."]
    assert not victim.closed
    assert "723" in cmds(helper.send("WALLOPS :hi"))
    assert "723" in cmds(helper.send("REHASH"))
    assert "723" in cmds(helper.send("SAJOIN victim #x"))
    helper.send("KILL victim :enough")
    assert victim.closed


def test_class_snomasks_at_oper_time_and_kill_notice() -> None:
    config = make_config()
    classes = (OperClassEntry("watch", ("kill",), "ck"),)
    opers = (OperEntry("w", HASH, "*@*", "watch"),)
    world = World(dataclasses.replace(config, opers=opers, oper_classes=classes))
    watcher = world.client("watcher")
    out = watcher.send(f"OPER w {PASSWORD}")
    assert only(out, "MODE").params == ["watcher", "+os"]
    assert only(out, "008").params[1] == "+ck"
    world.client("someone")
    assert "CONNECT" in only(watcher.take(), "NOTICE").params[1]
    out = watcher.send("KILL someone :bye")
    kill = only(out, "NOTICE")
    assert "*** KILL: Received KILL message for someone!~user@127.0.0.1" in kill.params[1]
    assert "(bye)" in kill.params[1]


def test_sajoin_sapart_sanick() -> None:
    world = class_world(mover=("sajoin", "sanick"))
    mover = oper(world, "mover")
    op, target = world.client("op"), world.client("target")
    world.channel("#locked", op)
    op.send("MODE #locked +ik key")
    op.clear()
    mover.send("SAJOIN target #locked,#open")
    got = target.take()
    assert [m.params[0] for m in got if m.command == "JOIN"] == ["#locked", "#open"]
    override = only(op.take(), "NOTICE")
    assert "override: JOIN despite +i" in override.params[1]
    mover.send("SAPART target #open :moved")
    part = only(target.take(), "PART")
    assert part.params == ["#open", "moved"]
    assert "441" in cmds(mover.send("SAPART target #open"))
    mover.send("SANICK target renamed")
    assert only(target.take(), "NICK").params == ["renamed"]
    assert world.core.find("renamed") is target.client
    assert "433" in cmds(mover.send("SANICK renamed op"))
    assert "432" in cmds(mover.send("SANICK renamed 1bad"))
    assert "401" in cmds(mover.send("SANICK nobody x"))
    world.check_consistency()


def test_wallops_and_rehash_hook() -> None:
    world = class_world(janitor=("rehash", "wallops"))
    janitor = oper(world, "janitor")
    janitor.send("MODE janitor +s +a")
    calls: list[str] = []
    world.core.on_rehash = lambda: calls.append("x") or "broken.toml: limits.nicklen: nope"
    out = janitor.send("REHASH")
    assert "382" in cmds(out)
    fail = only(out, "FAIL")
    assert fail.params[:2] == ["REHASH", "CONFIG_ERROR"]
    note = only(out, "NOTICE")
    assert "tried to REHASH; refused" in note.params[1]
    world.core.on_rehash = lambda: None
    note = only(janitor.send("REHASH"), "NOTICE")
    assert "is rehashing" in note.params[1]


# -- configuration of classes


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ircpsyc.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


CLASSES = f"""
[[oper_classes]]
name = "helper"
privileges = ["kill", "ban"]
snomasks = "ckx"

[[opers]]
name = "h"
password_hash = "{HASH}"
oper_class = "HELPER"
"""


def test_classes_load(tmp_path: Path) -> None:
    config = load(_write(tmp_path, CLASSES))
    assert config.oper_classes[0].privileges == ("kill", "ban")
    assert config.opers[0].oper_class == "HELPER"


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (('"kill", "ban"', '"kill", "fly"'), "oper_classes[0].privileges[1]", "unknown privilege"),
        (('"ckx"', '"cz"'), "oper_classes[0].snomasks", "unknown server notice letters 'z'"),
        (('"HELPER"', '"nobody"'), "opers[0].oper_class", "no [[oper_classes]] table"),
        (('name = "helper"', 'name = ""'), "oper_classes[0].name", "non-empty"),
    ],
)
def test_bad_classes_are_config_errors(
    tmp_path: Path, change: tuple[str, str], key: str, reason: str
) -> None:
    text = CLASSES.replace(*change)
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, text))
    assert info.value.key == key
    assert reason in info.value.reason


def test_duplicate_class(tmp_path: Path) -> None:
    text = CLASSES + '\n[[oper_classes]]\nname = "Helper"\n'
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, text))
    assert info.value.key == "oper_classes[1].name" and "duplicate" in info.value.reason


def test_reload_refuses_a_bad_file_and_applies_a_good_one(tmp_path: Path) -> None:
    path = _write(tmp_path, CLASSES)
    server = Server(load(path), path)
    core = server.core
    before = server.config
    for broken in (
        CLASSES.replace('"kill", "ban"', '"kill", "teleport"'),
        "[limits\nnicklen = 3",
        CLASSES + "\n[limits]\nnicklen = 0\n",
    ):
        Path(path).write_text(broken, encoding="utf-8")
        error = server.reload()
        assert error and path in error
        assert server.config is before and core.config is before
    Path(path).write_text(CLASSES.replace('"kill", "ban"', '"rehash"'), encoding="utf-8")
    assert server.reload() is None
    assert core.config.oper_classes[0].privileges == ("rehash",)
    assert server.places.config is core.config
