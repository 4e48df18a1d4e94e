"""draft/multiline across two linked servers: a client batch travels as one message,
arrives as a batch to clients with the capability and as separate lines (the msgid
on the first) to the others, and history keeps and replays it as one message."""

from __future__ import annotations

from conftest import ServerFactory

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .support import RawClient, aio
from .test_history_replay import FULL, chathistory

MULTI = [*FULL, "draft/multiline"]


@aio
async def test_multiline_across_two_servers(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    await net.wait_converged()
    home, other = net.names
    channel = next(f"#ml{i}" for i in range(1000) if rendezvous(f"#ml{i}", net.names) == home)
    bob = await RawClient.connect(net.port(home))
    await bob.register("bob", caps=MULTI)
    alice = await RawClient.connect(net.port(other))  # sends from the other server
    await alice.register("alice", caps=MULTI)
    carol = await RawClient.connect(net.port(other))
    await carol.register("carol", caps=FULL)
    for person in (bob, alice, carol):
        await person.send(f"JOIN {channel}")
        await person.expect("366", timeout=10.0)

    await alice.send(
        f"BATCH +b1 draft/multiline {channel}",
        f"@batch=b1 PRIVMSG {channel} :first line",
        f"@batch=b1 PRIVMSG {channel} :",
        f"@batch=b1 PRIVMSG {channel} :half ",
        f"@batch=b1;draft/multiline-concat PRIVMSG {channel} :joined",
        "BATCH -b1",
    )
    echo = await alice.collect("BATCH", timeout=10.0)  # the BATCH + start
    lines = await alice.collect("BATCH", timeout=10.0)
    assert echo[-1].params[1:] == ["draft/multiline", channel]
    msgid = echo[-1].tags["msgid"]  # type: ignore[index]
    assert [m.params[-1] for m in lines[:-1]] == ["first line", "", "half ", "joined"]

    start = await bob.expect("BATCH", timeout=10.0)
    assert start.tags is not None and start.tags["msgid"] == msgid
    inside = await bob.collect("BATCH", timeout=10.0)
    assert [m.params[-1] for m in inside[:-1]] == ["first line", "", "half ", "joined"]
    assert inside[3].tags is not None and "draft/multiline-concat" in inside[3].tags

    # Without the capability: the non-blank lines, the msgid on the first only.
    got = [
        await carol.expect("PRIVMSG", timeout=10.0),
        await carol.expect("PRIVMSG", timeout=10.0),
        await carol.expect("PRIVMSG", timeout=10.0),
    ]
    assert [m.params[-1] for m in got] == ["first line", "half ", "joined"]
    assert [(m.tags or {}).get("msgid") for m in got] == [msgid, None, None]

    # History (at the home) keeps one message and replays it as a nested batch.
    await alice.send(f"CHATHISTORY LATEST {channel} * 10")
    outer = await alice.expect("BATCH", where=lambda m: m.params[1:2] == ["chathistory"])
    ref = outer.params[0][1:]
    start = len(alice.history)
    await alice.expect("BATCH", where=lambda m: m.params == ["-" + ref])
    replay = alice.history[start:]
    nested = replay[0]
    assert nested.params[1:] == ["draft/multiline", channel]
    assert nested.tags is not None and nested.tags["msgid"] == msgid
    assert nested.tags["batch"] == ref
    texts = [m.params[-1] for m in replay if m.command == "PRIVMSG"]
    assert texts == ["first line", "", "half ", "joined"]
    _, plain = await chathistory(carol, f"CHATHISTORY LATEST {channel} * 10")
    assert [m.params[-1] for m in plain] == ["first line", "half ", "joined"]
