"""History with the real server: CHATHISTORY, the replay on JOIN, kill -9, the away log."""

from __future__ import annotations

import asyncio
import signal

from conftest import ServerProcess, ServerStarter
from irctokens.line import Line

from .support import RawClient, aio, connect_registered, unique

FULL = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]


async def chathistory(client: RawClient, command: str) -> tuple[list[str], list[Line]]:
    """Send a CHATHISTORY command: (the BATCH + parameters, the lines inside)."""
    await client.send(command)
    start = await client.expect("BATCH", where=lambda m: m.params[0].startswith("+"))
    ref = start.params[0][1:]
    lines = await client.collect("BATCH")
    assert lines[-1].params == ["-" + ref], [ln.format() for ln in lines]
    return start.params[1:], [ln for ln in lines[:-1] if ln.tags and ln.tags.get("batch") == ref]


async def talk(client: RawClient, target: str, count: int) -> list[Line]:
    """Send messages and wait for their echoes (the client needs echo-message)."""
    await client.send(*(f"PRIVMSG {target} :line {i}" for i in range(count)))
    echoes = []
    for i in range(count):
        echoes.append(
            await client.expect("PRIVMSG", where=lambda m, i=i: m.params[-1] == f"line {i}")
        )
    return echoes


@aio
async def test_history_survives_kill_9(ircpsyc_server: ServerStarter) -> None:
    no_flood = {"limits": {"flood_rate": 0.0}}
    first = ircpsyc_server(no_flood)
    channel = "#" + unique("kill")
    alice = await connect_registered(first.port, unique("a"), caps=FULL)
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    echoes = await talk(alice, channel, 60)
    await alice.sync()
    await asyncio.sleep(0.3)  # the writer commits at least every 100 ms
    first.signal(signal.SIGKILL)
    assert first.wait(5) == -signal.SIGKILL
    alice.drop(reset=True)

    second = ircpsyc_server({**no_flood, "storage": {"path": first.config["storage"]["path"]}})
    bob = await connect_registered(second.port, unique("b"), caps=FULL)
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    params, lines = await chathistory(bob, f"CHATHISTORY LATEST {channel} * 100")
    assert params == ["chathistory", channel]
    assert [ln.params for ln in lines] == [e.params for e in echoes]
    assert [ln.tags["msgid"] for ln in lines] == [e.tags["msgid"] for e in echoes]  # type: ignore[index]
    assert [ln.tags["time"] for ln in lines] == [e.tags["time"] for e in echoes]  # type: ignore[index]


@aio
async def test_join_replay_and_chathistory(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel = "#" + unique("h")
    alice = await connect_registered(port, unique("a"), caps=FULL)
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    echoes = await talk(alice, channel, 12)

    # batch + server-time: the last 10 lines, marked as history.
    bob = await connect_registered(port, unique("b"), caps=["batch", "server-time"])
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    start = await bob.expect("BATCH")
    assert start.params[1:] == ["chathistory", channel]
    lines = await bob.collect("BATCH")
    assert [ln.params[-1] for ln in lines[:-1]] == [f"line {i}" for i in range(2, 12)]
    assert all(ln.tags and ln.tags["time"] for ln in lines[:-1])

    # draft/chathistory: no replay; it asks, here with a label.
    carol = await connect_registered(port, unique("c"), caps=[*FULL, "labeled-response"])
    await carol.send(f"JOIN {channel}")
    await carol.expect("366")
    assert not [ln for ln in await carol.sync() if ln.command == "BATCH"]
    await carol.send(f"@label=h1 CHATHISTORY BEFORE {channel} msgid={echoes[5].tags['msgid']} 3")  # type: ignore[index]
    start = await carol.expect("BATCH")
    assert start.tags == {"label": "h1"}
    inner = await carol.collect("BATCH")
    assert [ln.params[-1] for ln in inner[:-1]] == ["line 2", "line 3", "line 4"]

    # A plain client gets nothing extra.
    dave = await connect_registered(port, unique("d"))
    await dave.send(f"JOIN {channel}")
    await dave.expect("366")
    assert [ln.command for ln in await dave.sync()] == []

    # Private history, TARGETS.
    await alice.send(f"PRIVMSG {carol.nick} :hello carol")
    await carol.expect("PRIVMSG")
    _params, lines = await chathistory(carol, f"CHATHISTORY LATEST {alice.nick} * 10")
    assert [ln.params for ln in lines] == [[carol.nick, "hello carol"]]
    await carol.send(
        "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z "
        "timestamp=2262-01-01T00:00:00.000Z 10"
    )
    start = await carol.expect("BATCH")
    assert start.params[1] == "draft/chathistory-targets"
    listed = await carol.collect("BATCH")
    assert [ln.params[1] for ln in listed[:-1]] == [channel, alice.nick]


@aio
async def test_away_log_with_nickserv_accounts(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"flood_rate": 0.0}})
    bob_nick = unique("bob")
    channel = "#" + unique("aw")
    bob = await connect_registered(server.port, bob_nick, caps=["batch", "server-time"])
    await bob.send("PRIVMSG NickServ :REGISTER correct-horse-battery")
    await bob.expect("900")
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    alice = await connect_registered(server.port, unique("ali"))
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")

    # Away: a private message is recorded and the sender told so.
    await bob.send("AWAY :out")
    await bob.expect("306")
    await alice.send(f"PRIVMSG {bob_nick} :while away")
    await alice.expect("301")
    told = await alice.expect("NOTICE")
    assert "recorded" in told.params[-1]
    # From bob's nick: clients show it in the query window with bob, not in status.
    assert told.hostmask is not None and told.hostmask.nickname == bob_nick
    await bob.send("AWAY")
    await bob.expect("305")
    start = await bob.expect("BATCH")
    assert start.params[1:] == ["chathistory", alice.nick]
    replay = await bob.collect("BATCH")
    assert [ln.params[-1] for ln in replay[:-1]] == ["while away"]

    # Offline (not always-on): mentions in its channel and private messages wait for
    # the next login.
    await bob.send("PRIVMSG NickServ :SET ALWAYS-ON OFF")
    await bob.expect("NOTICE", where=lambda m: "Always-on" in m.params[-1])
    await bob.quit()
    await alice.send(f"PRIVMSG {channel} :{bob_nick}: ping", f"PRIVMSG {bob_nick} :later")
    told = await alice.expect("NOTICE")
    assert "not online" in told.params[-1]
    again = await connect_registered(server.port, unique("b2"), caps=["batch", "server-time"])
    await again.send(f"PRIVMSG NickServ :IDENTIFY {bob_nick} correct-horse-battery")
    await again.expect("900")
    got: dict[str, list[str]] = {}
    for _ in range(2):
        start = await again.expect("BATCH", where=lambda m: m.params[0].startswith("+"))
        lines = await again.collect("BATCH")
        got[start.params[2]] = [ln.params[-1] for ln in lines[:-1]]
    assert got == {channel: [f"{bob_nick}: ping"], alice.nick: ["later"]}


@aio
async def test_chathistory_of_a_channel_one_is_not_on_says_why(
    shared_server: ServerProcess,
) -> None:
    channel = "#" + unique("closed")
    member = await connect_registered(shared_server.port, unique("m"))
    await member.send(f"JOIN {channel}", f"PRIVMSG {channel} :secret plans")
    await member.expect("JOIN")
    outsider = await connect_registered(shared_server.port, unique("o"))
    await outsider.send(f"CHATHISTORY LATEST {channel} * 10")
    fail = await outsider.expect("FAIL")
    assert fail.params[:4] == ["CHATHISTORY", "INVALID_TARGET", "LATEST", channel]
    assert fail.params[4] == f"You are not on {channel}: a channel's history is for its members"
