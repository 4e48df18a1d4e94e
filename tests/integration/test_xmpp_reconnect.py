"""The component link survives the XMPP server: absent at start, restarted, and back.

This module has its own Prosody, since it stops and restarts it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec

from conftest import ServerFactory

from .prosody import Prosody, XmppClient, close_all, start_prosody, text_of, xmpp_settings
from .support import aio, connect_registered, unique

P = ParamSpec("P")
CONNECTED = "component irc.localhost is connected"


def xmpp(fn: Callable[P, Awaitable[None]]) -> Callable[P, None]:
    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await fn(*args, **kwargs)
        finally:
            await close_all()

    return aio(run)


async def wait_connected(server: object, times: int, timeout: float = 15.0) -> None:
    """Until the server log says the component connected `times` times."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while server.log().count(CONNECTED) < times:  # type: ignore[attr-defined]
        assert loop.time() < deadline, f"the component did not connect {times} times:\n" + str(
            server.log()  # type: ignore[attr-defined]
        )
        await asyncio.sleep(0.05)


async def talk(prosody: Prosody, port: int, channel: str, nick: str) -> None:
    """An XMPP user and an IRC user in `channel` hear each other."""
    irc = await connect_registered(port, unique("irc"))
    await irc.send(f"JOIN {channel}")
    await irc.expect("366")
    user = await XmppClient.connect(prosody)
    room = f"{channel[1:].lower()}@irc.localhost"
    await user.join(room, nick)
    user.send(f"<message to='{room}' type='groupchat'><body>ping from {nick}</body></message>")
    line = await irc.expect("PRIVMSG")
    assert line.params[-1] == f"ping from {nick}"
    await irc.send(f"PRIVMSG {channel} :pong to {nick}")
    got = await user.expect(lambda e: text_of(e, "body") == f"pong to {nick}")
    assert got.get("from") == f"{room}/{irc.nick}"


@xmpp
async def _scenario(directory: Path) -> None:
    prosody = start_prosody(directory / "prosody")
    factory = ServerFactory(directory / "ircpsyc")
    try:
        prosody.stop()  # ircpsyc starts while the XMPP server is away
        server = factory({"xmpp": xmpp_settings(prosody, grace=2.0)})
        irc = await connect_registered(server.port, unique("early"))
        await irc.send("JOIN #" + unique("alive"))
        await irc.expect("366")  # the IRC side works without it
        await asyncio.to_thread(prosody.start)
        await wait_connected(server, 1)
        channel = "#" + unique("rc")
        await talk(prosody, server.port, channel, "before")
        watcher = await connect_registered(server.port, unique("w"))
        await watcher.send(f"JOIN {channel}")
        await watcher.expect("366")
        await asyncio.to_thread(prosody.restart)
        await wait_connected(server, 2)
        await talk(prosody, server.port, channel, "after")
        # The XMPP user from before the restart is gone from the channel (grace: 2 s).
        gone = await watcher.expect(
            "PART",
            "QUIT",
            where=lambda m: m.source is not None and m.source.startswith("before!"),
            timeout=8,
        )
        assert gone.command in ("PART", "QUIT")
        await irc.sync()
    finally:
        problems = factory.close()
        prosody.stop()
    assert not problems, "the server logged a traceback:\n" + "\n".join(problems)


def test_component_reconnects_and_irc_never_goes_down(tmp_path: Path) -> None:
    _scenario(tmp_path)
