"""Two real servers: CHATHISTORY of a channel homed on the other server, with a real
client, is the batch the home itself gives (msgid, server-time and account tags)."""

from __future__ import annotations

from conftest import ServerFactory

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .support import RawClient, aio
from .test_history_replay import FULL, chathistory, talk


@aio
async def test_chathistory_of_a_channel_homed_on_the_other_server(
    factory: ServerFactory,
) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    await net.wait_converged()
    home, other = net.names
    channel = next(f"#hist{i}" for i in range(1000) if rendezvous(f"#hist{i}", net.names) == home)
    alice = await RawClient.connect(net.port(home))
    await alice.register("alice", caps=FULL)
    await alice.send(f"JOIN {channel}")
    await alice.expect("366", timeout=10.0)
    bob = await RawClient.connect(net.port(other))
    await bob.register("bob", caps=[*FULL, "labeled-response"])
    await bob.send(f"JOIN {channel}")
    await bob.expect("366", timeout=10.0)
    echoes = await talk(alice, channel, 12)
    await bob.expect("PRIVMSG", where=lambda m: m.params[-1] == "line 11", timeout=10.0)

    params, lines = await chathistory(bob, f"CHATHISTORY LATEST {channel} * 10")
    assert params == ["chathistory", channel]
    assert [ln.params for ln in lines] == [e.params for e in echoes[2:]]
    assert [ln.tags["msgid"] for ln in lines] == [e.tags["msgid"] for e in echoes[2:]]  # type: ignore[index]
    assert [ln.tags["time"] for ln in lines] == [e.tags["time"] for e in echoes[2:]]  # type: ignore[index]
    anchor = echoes[5].tags["msgid"]  # type: ignore[index]
    _, before = await chathistory(bob, f"CHATHISTORY BEFORE {channel} msgid={anchor} 3")
    assert [ln.params[-1] for ln in before] == ["line 2", "line 3", "line 4"]
    # With a label, the label goes on the batch.
    await bob.send(f"@label=h1 CHATHISTORY AFTER {channel} msgid={anchor} 2")
    start = await bob.expect("BATCH", where=lambda m: m.params[0].startswith("+"))
    assert start.tags == {"label": "h1"}
    # What a client asks after it is answered after it (the input waited).
    await bob.send(f"CHATHISTORY LATEST {channel} * 1", "PING :after")
    await bob.expect("BATCH", where=lambda m: m.params[0].startswith("-"))
    await bob.expect("PONG", timeout=10.0)

    # The home goes away: a prompt FAIL, no hang.
    net.kill(home)
    await bob.send(f"CHATHISTORY LATEST {channel} * 10")
    fail = await bob.expect("FAIL", timeout=15.0)
    assert fail.params[:2] == ["CHATHISTORY", "MESSAGE_ERROR"]

    # TARGETS with the home of one of bob's channels down: one batch, once.  An
    # answer that came at once used to run the command again (10 empty batches
    # with flood control, a RecursionError without).
    span = "timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z"
    await bob.send(f"CHATHISTORY TARGETS {span} 10")
    lines = await bob.sync(timeout=15.0)
    starts = [m for m in lines if m.command == "BATCH" and m.params[0].startswith("+")]
    assert len(starts) == 1, [m.format() for m in lines]
    assert not [m for m in lines if m.command == "FAIL" and "INTERNAL_ERROR" in m.params]
