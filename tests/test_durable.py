"""Durable echoes, sans-IO: the sender's echo of a channel line waits for the commit
of the history batch holding the line; the other members do not wait, and what the
sender gets meanwhile stays behind the echo (ircpsyc.ircd.durable).  The store is a
real SQLite file with its writer thread; the event loop's `call_soon` is a list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import FakeClient, World

from ircpsyc.ircd.commands.chathistory import attach_store
from ircpsyc.ircd.durable import DurableEcho
from ircpsyc.store import Store


class Loop:
    """What the server wires: callbacks for `call_soon`, run when we say."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def run(self) -> None:
        while self.soon:
            self.soon.pop(0)()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, Store, DurableEcho, Loop]]:
    world = World()
    store = Store(str(tmp_path / "db.sqlite3"))
    attach_store(world.core, store)
    history = world.core.history
    assert history is not None
    loop = Loop()
    durable = DurableEcho(
        history, lambda: store.committed, loop.soon.append, world.core.router.host, store.hurry
    )
    world.core.durable = durable
    try:
        yield world, store, durable, loop
    finally:
        store.close()


def commit(store: Store, durable: DurableEcho, loop: Loop) -> None:
    """The line handled, the writer commits, the loop hears of it."""
    loop.run()
    assert store.flush(5)
    durable.committed()


def texts(client: FakeClient) -> list[str]:
    return [ln.params[-1] for ln in client.take() if ln.command == "PRIVMSG"]


def test_echo_waits_for_the_commit_delivery_does_not(
    world: tuple[World, Store, DurableEcho, Loop],
) -> None:
    w, store, durable, loop = world
    alice = w.client("alice", ["echo-message"])
    bob = w.client("bob", ["echo-message"])
    for client in (alice, bob):
        client.send("JOIN #c")
    alice.take(), bob.take()
    assert alice.send("PRIVMSG #c :one") == []  # held: not committed yet
    assert texts(bob) == ["one"]  # at once
    bob.send("PRIVMSG #c :two")  # reaches alice behind her echo
    assert texts(alice) == []
    commit(store, durable, loop)
    assert texts(alice) == ["one", "two"]
    assert texts(bob) == ["two"]
    assert not durable.held and alice.session.sink is alice.sink
    history = w.core.history
    assert history is not None and [e.source.body for e in history.recent("#c", 10)] == [
        "one",
        "two",
    ]


def test_labeled_echo_and_quit_wait_in_order(
    world: tuple[World, Store, DurableEcho, Loop],
) -> None:
    w, store, durable, loop = world
    alice = w.client("alice", ["echo-message", "labeled-response", "batch"])
    alice.send("JOIN #c")
    alice.take()
    assert alice.send("@label=x PRIVMSG #c :labeled") == []
    assert alice.send("QUIT :bye") == [] and not alice.sink.closed
    commit(store, durable, loop)
    lines = alice.take()
    assert lines[0].command == "PRIVMSG" and (lines[0].tags or {}).get("label") == "x"
    assert lines[-1].command == "ERROR" and alice.sink.closed


def test_lines_not_kept_are_not_held(world: tuple[World, Store, DurableEcho, Loop]) -> None:
    w, _store, durable, _loop = world
    alice = w.client("alice", ["echo-message"])
    bob = w.client("bob")
    for client in (alice, bob):
        client.send("JOIN #c")
    alice.take()
    echo = alice.send("PRIVMSG @#c :ops only")  # STATUSMSG is not kept in history
    assert [ln.params[-1] for ln in echo] == ["ops only"]
    assert not durable.held
