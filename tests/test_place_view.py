"""Places hold channel truth: the state a `Place` and a `Replica` hold, the read-only
view front-ends and services get, and the registry's look-ups.

The last test reads the source: outside `ircpsyc/channels/` nothing writes a field of
a place (services ask the place with a packet, or call one of its methods)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import World, numerics
from netsim import Sim

from ircpsyc.channels.place import Place, PlaceState, StateHolder
from ircpsyc.channels.replica import Replica
from ircpsyc.psyc_backend.uniform import normalize

PACKAGE = Path(__file__).resolve().parent.parent / "ircpsyc"


def test_a_replica_holds_a_place_state_and_decides_nothing() -> None:
    assert not issubclass(Replica, Place)
    for deciding in ("receive", "cast", "_enter", "_set_mode", "_kick", "_message", "expire"):
        assert not hasattr(Replica, deciding), deciding
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")])
    sim.link_all()
    network = sim["a.test"].network
    channel = next(f"#v{i}" for i in range(1000) if network.home_of(f"#v{i}") == "b.test")
    bob = sim["b.test"].client("bob")
    alice = sim["a.test"].client("alice")
    sim.do(bob, f"JOIN {channel}", f"MODE {channel} +kf sesame 5:10", f"TOPIC {channel} :hi")
    sim.do(alice, f"JOIN {channel} sesame")
    sim.settle()
    home = sim["b.test"].places.get(channel)
    replica = sim["a.test"].places.get(channel)
    assert isinstance(home, Place) and isinstance(replica, Replica)
    assert isinstance(home.state, PlaceState) and isinstance(replica.state, PlaceState)
    assert home.state is not replica.state
    # One read side: what NAMES, TOPIC and MODE read is the same on both servers.
    assert replica.mode_string(True) == home.mode_string(True) == ("+ntkf", ["sesame", "5:10"])
    assert replica.topic == home.topic == "hi"
    assert sorted(m.nick for m in replica.members.values()) == ["alice", "bob"]
    assert replica.member_by_nick("BOB") is replica.by_nick["bob"]
    assert not replica.persistent()


def test_the_registry_tells_places_homed_here_from_views() -> None:
    world = World()
    alice, bob = world.client("alice"), world.client("bob")
    world.channel("#Room", alice)
    alice.send("MODE #room +i")
    alice.send("INVITE bob #room")
    place = world.places.place("#ROOM")
    assert place is not None and place.name == "#Room"
    assert world.places.get("#room") is place
    assert world.places.homed() == [place] and world.places.is_home_of(place)
    assert world.places.invitations(bob.client.uniform) == [place]
    assert world.places.invitations(alice.client.uniform) == []
    assert numerics(bob.send("INVITE"), "336")[0].params[-1] == "#Room"
    assert world.places.place("#elsewhere") is None


def test_restore_gives_a_new_place_its_kept_settings() -> None:
    world = World()
    place = world.places.create("#kept")
    version = place.lists_version
    place.restore("imnrt", "key", 7, "3:5", {"b": [("*!*@bad", "op", 11)]}, "t", "op!u@h", 12)
    assert place.mode_string(True) == ("+imnrtklf", ["key", "7", "3:5"])
    assert [(e.mask, e.setter, e.set_at) for e in place.lists["b"]] == [("*!*@bad", "op", 11)]
    assert place.lists_version > version
    assert (place.topic, place.topic_setter, place.topic_time) == ("t", "op!u@h", 12)
    assert place.is_banned("x!y@bad") and not place.is_banned("x!y@good")
    place.date_topic("first!u@h", 3)
    assert (place.topic, place.topic_setter, place.topic_time) == ("t", "first!u@h", 3)
    place.discard_if_empty()  # nobody in and nobody keeps it: it goes
    assert world.places.place("#kept") is None


# The fields a place holds: its state and what only the home keeps.
PLACE_FIELDS = set(PlaceState.__slots__) | {
    "config",
    "counter",
    "delayed",
    "invited",
    "knocks",
    "next_expiry",
    "observers",
    "on_empty",
    "state",
}
CONTAINERS = {"by_nick", "extra_params", "flags", "invited", "knocks", "lists", "members"}
MUTATORS = {"add", "append", "clear", "discard", "extend", "pop", "remove", "update"}


def _place_like(node: ast.expr) -> bool:
    """Whether an expression names a place or view (`place`, `view`, `core.places`...)."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return any(word in name for word in ("place", "view", "joined"))


def _written(target: ast.expr) -> list[ast.Attribute]:
    """The attributes an assignment target (or a mutated object) writes to."""
    if isinstance(target, ast.Tuple | ast.List):
        return [a for element in target.elts for a in _written(element)]
    while isinstance(target, ast.Subscript | ast.Starred):
        target = target.value  # place.lists["b"] = ...
    return [target] if isinstance(target, ast.Attribute) else []


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
        ):
            targets = [node.func.value]
        for target in targets:
            for part in _written(target):
                field = part.attr
                if not _place_like(part.value) or field not in PLACE_FIELDS:
                    continue
                if not isinstance(node, ast.Call) or field in CONTAINERS:
                    found.append((node.lineno, ast.unparse(part)))
    return found


def test_nothing_outside_channels_writes_a_place() -> None:
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "channels":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(PACKAGE)}:{n}: {w}" for n, w in _writes(tree)]
    assert offenders == []


def test_the_source_check_sees_what_it_looks_for() -> None:
    tree = ast.parse(
        "place.topic = t\n"
        "view.flags.add('r')\n"
        "place.lists['b'] = []\n"
        "self.places.config = c\n"
        "place.lists_version += 1\n"
        "self.channels[place.folded] = place\n"  # a key, not a write to the place
        "place.topic_setter, place.topic_time = s, t\n"
        "replica.by_nick[k] = v\n"  # a roster replica: not a place
        "place.flags_seen = 1\n"  # not a field
    )
    assert sorted(n for n, _ in _writes(tree)) == [1, 2, 3, 4, 5, 7, 7]


def test_both_holders_read_through_the_same_state() -> None:
    world = World()
    place = world.places.create("#same")
    assert isinstance(place, StateHolder)
    place.state.topic = "through the state"
    assert place.topic == "through the state"
    place.topic = "through the holder"
    assert place.state.topic == "through the holder"
    assert normalize(place.uniform) == normalize(place.state.uniform)
