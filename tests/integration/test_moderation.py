"""Operator control against the real server process: bans that survive restarts, REHASH
of operator classes, and channel moderation seen by real sockets."""

from __future__ import annotations

import signal

from conftest import OPER_NAME, OPER_PASSWORD, ServerProcess, ServerStarter, oper_password_hash

from .support import RawClient, aio, connect_registered, find, unique


async def oper_up(port: int) -> RawClient:
    client = await connect_registered(port)
    await client.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await client.expect("381", timeout=10)
    return client


async def stats(client: RawClient, query: str) -> list[list[str]]:
    await client.send(f"STATS {query}")
    lines = await client.collect("219")
    return [m.params[1:] for m in lines if m.command in ("216", "225")]


async def refused(port: int, user: str) -> str:
    """Register with USER `user`; the ERROR text the server closes with."""
    client = await RawClient.connect(port)
    await client.send(f"NICK {unique('b')}", f"USER {user} 0 * :banned?")
    await client.expect("465")
    error = await client.expect("ERROR")
    return error.params[0]


def test_klines_and_dlines_survive_restart_and_kill_9(ircpsyc_server: ServerStarter) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]

    async def ban() -> None:
        admin = await oper_up(first.port)
        victim = await connect_registered(first.port, user="evil")
        await admin.send("KLINE 1d ~evil*@127.0.0.1 :no evil here")
        await admin.expect("NOTICE")
        assert "K-Lined: no evil here" in (await victim.expect("ERROR")).params[0]
        await admin.send("DLINE 0 192.0.2.0/24 :documentation net")
        await admin.send("KLINE *@gone.example :lifted")
        await admin.send("UNKLINE *@gone.example")
        await admin.sync()
        assert "no evil here" in await refused(first.port, "evildoer")

    aio(ban)()
    first.signal(signal.SIGKILL)  # acknowledged bans were committed: nothing may be lost
    first.wait(10)
    second = ircpsyc_server({"storage": {"path": storage}})

    async def check(port: int) -> None:
        admin = await oper_up(port)
        klines = await stats(admin, "k")
        assert klines == [["K", "127.0.0.1", "*", "~evil*", klines[0][4]]]
        assert "no evil here" in klines[0][4] and "expires in" in klines[0][4]
        dlines = await stats(admin, "d")
        assert [d[:2] for d in dlines] == [["D", "192.0.2.0/24"]]
        assert "K-Lined: no evil here" in await refused(port, "evil")
        await connect_registered(port, user="good")

    aio(check)(second.port)
    second.stop()  # a clean stop as well
    third = ircpsyc_server({"storage": {"path": storage}})

    async def lift(port: int) -> None:
        admin = await oper_up(port)
        await admin.send("UNKLINE ~evil*@127.0.0.1")
        await admin.expect("NOTICE")
        await connect_registered(port, user="evil")
        assert await stats(admin, "K") == []

    aio(lift)(third.port)


def test_rehash_changes_operator_classes(ircpsyc_server: ServerStarter) -> None:
    opers = [
        {
            "name": OPER_NAME,
            "password_hash": oper_password_hash(),
            "hostmask": "*@*",
            "oper_class": "janitor",
        }
    ]
    classes = [{"name": "janitor", "privileges": ["rehash"], "snomasks": "a"}]
    server = ircpsyc_server({"opers": opers, "oper_classes": classes})

    async def run() -> None:
        admin = await oper_up(server.port)
        victim = await connect_registered(server.port)
        await admin.send(f"KILL {victim.nick} :x")
        assert (await admin.expect("723")).params[1] == "kill"
        # A class with an unknown privilege: refused, the old classes stay.
        server.write_config({"oper_classes": [{"name": "janitor", "privileges": ["fly"]}]})
        await admin.send("REHASH")
        fail = await admin.expect("FAIL")
        assert "oper_classes[0].privileges[0]" in fail.params[-1]
        await admin.send(f"KILL {victim.nick} :x")
        await admin.expect("723")
        # A good file: the logged-in operator may KILL at once.
        server.write_config({"oper_classes": [{"name": "janitor", "privileges": ["kill"]}]})
        await admin.send("REHASH")
        note = await admin.expect("NOTICE")
        assert "is rehashing" in note.params[1]
        await admin.send(f"KILL {victim.nick} :now you can")
        assert "now you can" in (await victim.expect("ERROR")).params[0]

    aio(run)()


@aio
async def test_ranks_quiets_and_flood_through_sockets(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel = "#" + unique("mod")
    op = await connect_registered(port)
    await op.send(f"JOIN {channel}")
    await op.expect("366")
    half = await connect_registered(port)
    talker = await connect_registered(port)
    for client in (half, talker):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await op.send(f"MODE {channel} +h {half.nick}")
    await half.expect("MODE")
    # a halfop may not give op
    await half.send(f"MODE {channel} +o {talker.nick}")
    err = await half.expect("482")
    assert "op access or above" in err.params[-1]
    # a quiet: the talker is refused, voice lifts it
    await half.send(f"MODE {channel} +b m:{talker.nick}!*@*")
    await talker.expect("MODE")
    await talker.send(f"PRIVMSG {channel} :hello?")
    await talker.expect("404")
    await half.send(f"MODE {channel} -b+f m:{talker.nick}!*@* 2:30")
    assert "op access" in (await half.expect("482")).params[-1]  # +f needs op; -b is done
    await talker.expect("MODE", where=lambda m: m.params[1] == "-b")
    await op.send(f"MODE {channel} +f 2:30")
    await talker.expect("MODE", where=lambda m: m.params[1] == "+f")
    await talker.send(f"PRIVMSG {channel} :one", f"PRIVMSG {channel} :two")
    await talker.send(f"PRIVMSG {channel} :three")
    assert "+f" in (await talker.expect("404")).params[-1]
    quiet = await op.expect("MODE", where=lambda m: m.source == shared_server.name)
    assert quiet.params[1] == "+b"
    assert quiet.params[2].startswith("m:*!")
    said = [m.params[1] for m in find(op.history, "PRIVMSG")]
    assert said == ["one", "two"]
