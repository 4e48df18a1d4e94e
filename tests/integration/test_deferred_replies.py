"""A command answered through `Session.later()` runs once (real server process).

The answer may come at once (the away log's home is this server); it used to
re-enter the input loop, which read the same line again: AWAYLOG LIST answered
10 times with flood control, about 120 times and then a RecursionError without
it (flood_rate = 0, or an IRC operator).
"""

from __future__ import annotations

from conftest import OPER_NAME, OPER_PASSWORD, ServerStarter
from irctokens.line import Line

from .support import RawClient, aio, connect_registered, unique

EMPTY_LIST = "Away log: 0 kept, 0 unread."
EMPTY_PLAY = "Your away log is empty."


async def logged_in(port: int) -> RawClient:
    nick = unique("away")
    client = await connect_registered(port, nick)
    await client.send(f"PRIVMSG NickServ :REGISTER {nick}-password")
    await client.expect("900", timeout=10)
    await client.sync()
    return client


def notices(lines: list[Line]) -> list[str]:
    return [m.params[-1] for m in lines if m.command == "NOTICE"]


async def check_each_answered_once(client: RawClient) -> None:
    # Pipelined in one write, as a client's auto-commands are: each once, in order.
    await client.send("AWAYLOG LIST", "AWAYLOG PLAY", "AWAYLOG LIST", "AWAYLOG CLEAR")
    lines = await client.sync(timeout=10)
    assert notices(lines) == [
        EMPTY_LIST,
        EMPTY_PLAY,
        EMPTY_LIST,
        "Away log cleared (0 entries).",
    ], [m.format() for m in lines]
    assert not [m for m in lines if m.command == "FAIL"]


@aio
async def _normal_user_and_oper(port: int) -> None:
    user = await logged_in(port)
    await check_each_answered_once(user)
    oper = await logged_in(port)
    await oper.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await oper.expect("381", timeout=10)
    await oper.sync()
    await check_each_answered_once(oper)  # operators have no flood control


def test_awaylog_answers_once_with_flood_control(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server()
    _normal_user_and_oper(server.port)
    assert server.alive()


def test_awaylog_answers_once_without_flood_control(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"flood_rate": 0}})
    _normal_user_and_oper(server.port)
    assert server.alive()
    assert "RecursionError" not in server.log()
