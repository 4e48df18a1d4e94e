"""Read markers and what each device saw (ircpsyc.services.marks), without a server."""

from __future__ import annotations

from pathlib import Path

from ircpsyc.services.marks import LastSeen, ReadMarkers, owner_of
from ircpsyc.store import Store


def test_a_marker_only_moves_forward_and_is_shared_once_it_moves() -> None:
    markers = ReadMarkers()
    shared: list[tuple[str, str, int]] = []
    markers.shared = lambda *args: shared.append(args)
    alice = owner_of("Alice", "1")
    assert markers.get(alice, "#Chan") is None
    assert markers.set(alice, "#Chan", 2000) == 2000
    assert markers.set(alice, "#chan", 1000) == 2000  # older: stays, told to nobody
    assert markers.get(alice, "#CHAN") == 2000
    assert shared == [("alice", "#chan", 2000)]
    arrived: list[tuple[str, str, int]] = []
    markers.arrived = lambda *args: arrived.append(args)
    markers.set(alice, "#chan", 3000, share=False)  # from the network: told here
    assert arrived == [("alice", "#chan", 3000)] and len(shared) == 1
    assert markers.all_of(alice) == [("#chan", 3000)]


def test_markers_without_an_account_are_never_stored(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "m.sqlite3"))
    try:
        markers = ReadMarkers()
        markers.attach(store)
        someone = owner_of("", "7f00")
        markers.set(someone, "bob", 5)
        markers.set(owner_of("Carol", ""), "bob", 6)
        assert store.flush()
        rows = store.db.execute("SELECT account, target, time FROM read_markers").fetchall()
        assert rows == [("carol", "bob", 6)]
        markers.forget(someone)
        assert markers.get(someone, "bob") is None
    finally:
        store.close()


def test_markers_and_what_devices_saw_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "m.sqlite3")
    store = Store(path)
    markers, seen = ReadMarkers(), LastSeen()
    markers.attach(store)
    seen.attach(store)
    markers.set("dave", "#x", 100)
    markers.set("dave", "#x", 300)
    seen.seen("Dave", "Phone", 1000)
    seen.seen("Dave", "", 900)
    store.close()

    store = Store(path)
    try:
        markers, seen = ReadMarkers(), LastSeen()
        markers.attach(store)
        seen.attach(store)
        assert markers.get("dave", "#X") == 300
        assert seen.get("dave", "phone") == 1000
        # A device never seen starts at the account's last disconnect.
        assert seen.get("dave", "laptop") == seen.get("dave", "") == 900
        assert seen.get("erin", "") is None
    finally:
        store.close()
