"""draft/message-redaction across two linked servers: the channel's home decides
who may take a line back, the REDACT reaches members on both servers (only
sessions with the capability), and history at the home forgets the line."""

from __future__ import annotations

import asyncio

from conftest import ServerFactory

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .support import RawClient, aio
from .test_history_replay import FULL, chathistory

REDACT = [*FULL, "draft/message-redaction"]


async def said(client: RawClient, channel: str, text: str) -> str:
    """Say a line; its msgid (from the echo)."""
    await client.send(f"PRIVMSG {channel} :{text}")
    echo = await client.expect("PRIVMSG", where=lambda m: m.params[-1] == text, timeout=10.0)
    assert echo.tags is not None
    return echo.tags["msgid"]


@aio
async def test_redact_across_two_servers(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    await net.wait_converged()
    home, other = net.names
    channel = next(f"#red{i}" for i in range(1000) if rendezvous(f"#red{i}", net.names) == home)
    alice = await RawClient.connect(net.port(home))  # the op, on the home
    await alice.register("alice", caps=REDACT)
    await alice.send(f"JOIN {channel}")
    await alice.expect("366", timeout=10.0)
    bob = await RawClient.connect(net.port(other))
    await bob.register("bob", caps=REDACT)
    carol = await RawClient.connect(net.port(other))  # no redaction capability
    await carol.register("carol", caps=FULL)
    for person in (bob, carol):
        await person.send(f"JOIN {channel}")
        await person.expect("366", timeout=10.0)

    # Bob may not take back alice's line (he is no op).
    first = await said(alice, channel, "from alice")
    await bob.expect("PRIVMSG", where=lambda m: m.params[-1] == "from alice", timeout=10.0)
    await bob.send(f"REDACT {channel} {first}")
    fail = await bob.expect("FAIL", timeout=10.0)
    assert fail.params[:4] == ["REDACT", "REDACT_FORBIDDEN", channel, first]
    # An unknown msgid, and a channel he is not in.
    await bob.send(f"REDACT {channel} nosuchid")
    fail = await bob.expect("FAIL", timeout=10.0)
    assert fail.params[:4] == ["REDACT", "UNKNOWN_MSGID", channel, "nosuchid"]
    await bob.send("REDACT #nowhere x")
    fail = await bob.expect("FAIL", timeout=10.0)
    assert fail.params[:3] == ["REDACT", "INVALID_TARGET", "#nowhere"]

    # Bob takes back his own line (within redact_window): both servers see it.
    mine = await said(bob, channel, "oops")
    await alice.expect("PRIVMSG", where=lambda m: m.params[-1] == "oops", timeout=10.0)
    await bob.send(f"REDACT {channel} {mine} :typo")
    for person in (alice, bob):
        redact = await person.expect("REDACT", timeout=10.0)
        assert redact.params == [channel, mine, "typo"]
        assert redact.source is not None and redact.source.startswith("bob!")
    # Alice, an op, takes back bob's other line, reason-less.
    spam = await said(bob, channel, "spam")
    await alice.send(f"REDACT {channel} {spam}")
    for person in (alice, bob):
        redact = await person.expect("REDACT", where=lambda m: m.params[1] == spam, timeout=10.0)
        assert redact.params == [channel, spam]
    # Carol, without the capability, saw the lines but no REDACT.
    lines = await carol.sync(timeout=10.0)
    assert not [m for m in carol.history if m.command == "REDACT"], [m.format() for m in lines]

    # History (kept at the home, asked from both servers) no longer has them.
    for person in (alice, bob):
        _, kept = await chathistory(person, f"CHATHISTORY LATEST {channel} * 10")
        texts = [m.params[-1] for m in kept if m.command == "PRIVMSG"]
        assert texts == ["from alice"], texts


@aio
async def test_redact_private_across_two_servers(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    await net.wait_converged()
    one, two = net.names
    alice = await RawClient.connect(net.port(one))
    await alice.register("alice", caps=REDACT)
    bob = await RawClient.connect(net.port(two))
    await bob.register("bob", caps=REDACT)
    for _ in range(50):  # until bob's server has told alice's about him
        await alice.send("ISON bob")
        ison = await alice.expect("303", timeout=10.0)
        if ison.params[-1].strip():
            break
        await asyncio.sleep(0.1)
    await alice.send("PRIVMSG bob :secret")
    echo = await alice.expect("PRIVMSG", timeout=10.0)
    assert echo.tags is not None
    msgid = echo.tags["msgid"]
    await bob.expect("PRIVMSG", where=lambda m: m.params[-1] == "secret", timeout=10.0)

    for person, other in ((alice, "bob"), (bob, "alice")):
        _, kept = await chathistory(person, f"CHATHISTORY LATEST {other} * 10")
        assert [m.params[-1] for m in kept] == ["secret"], [m.format() for m in kept]

    await bob.send(f"REDACT alice {msgid}")  # not his line
    fail = await bob.expect("FAIL", timeout=10.0)
    assert fail.params[:4] == ["REDACT", "REDACT_FORBIDDEN", "alice", msgid]
    await alice.send(f"REDACT bob {msgid} :oops")
    for person in (alice, bob):
        redact = await person.expect("REDACT", timeout=10.0)
        assert redact.params == ["bob", msgid, "oops"]
        assert redact.source is not None and redact.source.startswith("alice!")
    # Both servers kept the conversation; both forgot the line.
    await bob.sync(timeout=10.0)
    for person, other in ((alice, "bob"), (bob, "alice")):
        _, kept = await chathistory(person, f"CHATHISTORY LATEST {other} * 10")
        assert [m.params[-1] for m in kept] == [], [m.format() for m in kept]
