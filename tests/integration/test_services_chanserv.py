"""ChanServ against a real server process: a registered channel survives kill -9."""

from __future__ import annotations

import signal

from conftest import ServerStarter

from .support import RawClient, aio, connect_registered, find, unique


async def registered_user(port: int, nick: str, password: str) -> RawClient:
    client = await connect_registered(port, nick)
    await client.send(f"PRIVMSG NickServ :REGISTER {password}")
    await client.expect("900")
    return client


async def chanserv_says(client: RawClient, text: str) -> str:
    notice = await client.expect(
        "NOTICE",
        where=lambda m: (m.source or "").startswith("ChanServ!") and text in m.params[-1],
    )
    return notice.params[-1]


@aio
async def test_a_registered_channel_survives_kill_9(ircpsyc_server: ServerStarter) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    founder, voiced = unique("founder"), unique("voiced")
    channel = "#" + unique("kept")
    alice = await registered_user(first.port, founder, "founder-pw")
    bob = await registered_user(first.port, voiced, "voiced-pw")
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    await alice.send(f"CS REGISTER {channel}")
    await chanserv_says(alice, "is now registered")
    await alice.send(
        f"TOPIC {channel} :kept across kill -9",
        f"MODE {channel} +mkl sesame 25",
        f"MODE {channel} +be bad!*@* good!*@*",
        f"CS ACCESS {channel} ADD {voiced} HALFOP",
        f"CS TOPICLOCK {channel} ON",
    )
    await chanserv_says(alice, "added on the access list")
    await chanserv_says(alice, "Topic lock")
    # Every change above was answered: now the server dies without a chance to flush.
    first.signal(signal.SIGKILL)
    first.wait(10)
    alice.drop(reset=True)
    bob.drop(reset=True)

    second = ircpsyc_server({"storage": {"path": storage}})
    stranger = await connect_registered(second.port)
    await stranger.send("LIST", f"MODE {channel}", f"TOPIC {channel}", f"MODE {channel} +b")
    listing = await stranger.collect("323")
    entry = find(listing, "322")
    assert [m.params[1:3] for m in entry] == [[channel, "0"]], listing
    modes = await stranger.expect("324")
    assert modes.params[2:] == ["+mnrtkl", "*", "25"], modes.format()
    topic = await stranger.expect("332")
    assert topic.params[-1] == "kept across kill -9"
    bans = await stranger.collect("368")
    assert [m.params[2] for m in find(bans, "367")] == ["bad!*@*"]

    alice = await connect_registered(second.port, founder)
    await alice.send("NS IDENTIFY founder-pw")
    await alice.expect("900")
    await alice.send(f"JOIN {channel} sesame")
    names = await alice.collect("366")
    assert find(names, "353")[0].params[-1] == founder, names  # no op for being first
    mode = await alice.expect("MODE")
    assert mode.source == "ChanServ!ChanServ@services.int"
    assert mode.params == [channel, "+q", founder]

    bob = await connect_registered(second.port, voiced)
    await bob.send("NS IDENTIFY voiced-pw")
    await bob.expect("900")
    await bob.send(f"JOIN {channel} sesame")
    voice = await bob.expect("MODE")
    assert voice.params == [channel, "+h", voiced]
    await bob.send(f"TOPIC {channel} :bob was here")
    await chanserv_says(bob, "locked (TOPICLOCK)")
    await alice.send(f"MODE {channel} +e")
    exceptions = await alice.collect("349")
    assert [m.params[2] for m in find(exceptions, "348")] == ["good!*@*"]
    await alice.send(f"TOPIC {channel}")
    assert (await alice.expect("332")).params[-1] == "kept across kill -9"
