"""Durable echoes, sans-IO: the sender's echo of a channel line waits for the commit
of the history batch holding the line; the other members do not wait, and what the
sender gets meanwhile stays behind the echo (ircpsyc.ircd.durable).  The store is a
real SQLite file with its writer thread; the event loop's `call_soon` is a list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import FakeClient, World
from netsim import Sim

from ircpsyc.assemble import attach_store
from ircpsyc.ircd.durable import REMOTE_TIMEOUT, DurableEcho
from ircpsyc.store import Store

A, B = "a.test", "b.test"


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


# --- across servers: the home confirms the commit, the sender's server holds the echo


def durable_net() -> tuple[Sim, dict[str, Loop]]:
    """Two linked servers (netsim) with durable echoes wired as the server wires them;
    `#x` is homed on a."""
    sim = Sim([A, B], [(A, B)], services=True, pins={"#x": A})
    loops = {}
    for name in (A, B):
        server = sim[name]
        store = server.store
        history = server.core.history
        assert store is not None and history is not None
        loop = loops[name] = Loop()
        durable = DurableEcho(
            history,
            lambda store=store: store.committed,  # type: ignore[misc]
            loop.soon.append,
            server.core.router.host,
            store.hurry,
            clock=lambda: sim.now,
        )
        durable.in_network = server.network.in_network
        server.network.listeners.append(durable)
        server.linking.history.on_committed.append(durable.committed_there)
        server.core.durable = durable
        server.core.tickers.append(durable.tick)
    sim.link_all()
    return sim, loops


def commit_at(sim: Sim, name: str, loop: Loop) -> None:
    """Server `name` handles its loop, its writer commits, it tells who waits."""
    server = sim[name]
    loop.run()
    assert server.store is not None and server.store.flush(5)
    assert server.core.durable is not None
    server.core.durable.committed()
    server.linking.history.committed()
    sim.run()


def test_echo_of_a_line_in_a_channel_homed_elsewhere_waits_for_the_home() -> None:
    sim, loops = durable_net()
    carol = sim[A].client("carol", ["echo-message"])
    bob = sim[B].client("bob", ["echo-message"])
    for client in (carol, bob):
        sim.do(client, "JOIN #x")
    sim.settle()
    sim.lines(carol), sim.lines(bob)
    sim.do(bob, "PRIVMSG #x :from b")
    assert sim.texts(carol) == ["from b"]  # delivered at once
    assert sim.texts(bob) == []  # the echo waits for a's commit
    loops[B].run()
    assert sim.texts(bob) == []
    commit_at(sim, A, loops[A])
    assert sim.texts(bob) == ["from b"]
    history = sim[A].core.history
    assert history is not None and "from b" in [e.source.body for e in history.recent("#x", 5)]
    # A home that is there but does not confirm (here: nobody tells a's service of
    # the commit) costs the timeout, then the echo goes as it did before.
    sim.do(bob, "PRIVMSG #x :unconfirmed")
    sim.tick(3 * REMOTE_TIMEOUT - 1)
    assert sim.texts(bob) == []
    sim.tick(2.0)
    assert sim.texts(bob) == ["unconfirmed"]


def test_a_home_lost_before_confirming_gets_no_echo_the_rest_flows() -> None:
    sim, _loops = durable_net()
    carol = sim[A].client("carol")
    bob = sim[B].client("bob", ["echo-message"])
    for client in (carol, bob):
        sim.do(client, "JOIN #x")
    sim.settle()
    sim.lines(bob)
    sim.do(bob, "PRIVMSG #x :maybe lost")
    sim.do(bob, "PING :behind")
    assert sim.lines(bob) == []  # the PONG waits behind the held echo
    sim.cut(A, B)
    sim.tick(12.0)  # past the split grace: a is lost, its history may lack the line
    got = sim.lines(bob)
    assert "maybe lost" not in [ln.params[-1] for ln in got if ln.command == "PRIVMSG"]
    assert [ln.params[-1] for ln in got if ln.command == "PONG"] == ["behind"]
    assert sim[B].core.durable is not None and not sim[B].core.durable.held
