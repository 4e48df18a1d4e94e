"""What real servers say about themselves and the network: STATS l's per-connection
figures on one server; LUSERS, WHOIS and LINKS across two linked servers."""

from __future__ import annotations

import asyncio

from conftest import OPER_NAME, OPER_PASSWORD, ServerFactory, ServerProcess, ServerStarter

from .linking_support import LinkedNetwork
from .support import aio, connect_registered, find, unique

PINGS = 30
PAYLOAD = "x" * 400  # each PING and its PONG carry this: kilobytes both ways


@aio
async def test_stats_l_shows_each_connections_traffic(server: ServerProcess) -> None:
    talker = await connect_registered(server.port, unique("talk"))
    await talker.send(*(f"PING :{PAYLOAD}{i}" for i in range(PINGS)))
    await talker.expect("PONG", where=lambda m: m.params[-1] == f"{PAYLOAD}{PINGS - 1}")
    oper = await connect_registered(server.port, unique("op"))
    await oper.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await oper.expect("381")
    await asyncio.sleep(1.0)  # the connections have been open a while
    await oper.send("STATS l")
    lines = await oper.collect("219")
    rows = {m.params[1]: [int(p) for p in m.params[2:]] for m in find(lines, "211")}
    sendq, lines_out, kb_out, lines_in, kb_in, seconds = rows[f"{talker.nick}[127.0.0.1]"]
    assert sendq == 0  # it reads what it gets
    assert lines_in >= PINGS + 2  # NICK, USER and the PINGs
    assert lines_out >= PINGS + 10  # the welcome burst and the PONGs
    assert kb_in >= PINGS * len(PAYLOAD) // 1024 and kb_out >= kb_in
    assert 1 <= seconds < 120  # seconds since it connected (not a clock mix-up)
    assert rows[f"{oper.nick}[127.0.0.1]"][3] >= 3  # NICK, USER, OPER at least


def test_lusers_whois_and_links_across_linked_servers(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    s0, s1 = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        here = await connect_registered(net.port(s0), unique("here"))
        there = await connect_registered(net.port(s1), unique("there"))
        # Two channels that live wherever their hash puts them; one of them secret.
        await there.send("JOIN #figures-one", "JOIN #figures-two", "MODE #figures-two +s")
        await there.expect("MODE", where=lambda m: m.params[:2] == ["#figures-two", "+s"])
        await asyncio.sleep(1.5)  # the directories and the roster reach s0

        await here.send("LUSERS")
        counts = {m.command: m for m in await here.collect("266")}
        assert counts["254"].params[1] == "2"  # both, wherever they are homed
        await here.send(f"WHOIS {there.nick}")
        whois = await here.collect("318")
        assert find(whois, "312")[0].params[2:] == [s1, f"The {s1} server"]
        await here.send("LINKS")
        links = {m.params[1]: m.params[-1] for m in find(await here.collect("365"), "364")}
        assert links == {s0: f"0 The {s0} server", s1: f"1 The {s1} server"}
        await there.send("LINKS")
        links = {m.params[1]: m.params[-1] for m in find(await there.collect("365"), "364")}
        assert links[s0] == f"1 The {s0} server"

    run()


@aio
async def test_links_and_map_show_the_configured_name(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"server": {"name": "My.Little.Server"}})
    client = await connect_registered(server.port, unique("lk"))
    await client.send("LINKS")
    links = await client.expect("364")
    assert links.params[1:3] == ["My.Little.Server", "My.Little.Server"]
