"""Client host names on a real server with the system's resolver: loopback is
`localhost` (oper blocks and K-lines can name it), and a connection from another
address of this machine is looked up for real without holding registration up."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from conftest import HOST, OPER_NAME, OPER_PASSWORD, ServerStarter, oper_password_hash

from ircpsyc.ircd.hostnames import FOUND, LOOKING_UP, NOT_FOUND, valid_hostname

from .support import RawClient, aio, connect_registered, find, unique


def _other_address() -> str:
    """A non-loopback IPv4 address of this machine ("" when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route is chosen
        except OSError:
            return ""
        address = str(probe.getsockname()[0])
    return "" if address.startswith("127.") or address == "0.0.0.0" else address


def test_loopback_is_localhost_for_oper_blocks_and_klines(ircpsyc_server: ServerStarter) -> None:
    opers = [
        {"name": OPER_NAME, "password_hash": oper_password_hash(), "hostmask": "*@localhost"},
        {"name": "faraway", "password_hash": oper_password_hash(), "hostmask": "*@*.invalid"},
    ]
    server = ircpsyc_server({"opers": opers})

    @aio
    async def run() -> None:
        admin = await RawClient.connect(server.port)
        burst = await admin.register(unique("adm"))
        shown = [m.params[-1] for m in find(burst, "NOTICE")]
        assert shown[:2] == [LOOKING_UP, FOUND], shown  # before 001
        await admin.send(f"WHOIS {admin.nick}")
        whois = await admin.collect("318")
        assert find(whois, "378")[0].params[-1] == "is connecting from *@localhost 127.0.0.1"
        assert find(whois, "311")[0].params[3] != "localhost"  # others see the cloak

        await admin.send(f"OPER faraway :{OPER_PASSWORD}")
        await admin.expect("491")  # a host-name oper block for another domain
        await admin.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
        await admin.expect("381")  # *@localhost matches

        await admin.send("KLINE 1h ~nohost@localhost :not from here")
        await admin.expect("NOTICE", where=lambda m: "Added" in m.params[-1])
        victim = await RawClient.connect(server.port)
        await victim.send(f"NICK {unique('v')}", "USER nohost 0 * :Refused")
        assert "465" in [m.command for m in await victim.until_closed()]
        await connect_registered(server.port, user="welcome")  # others still come in

    run()


def test_a_real_lookup_never_holds_registration_longer_than_the_timeout(
    ircpsyc_server: ServerStarter,
) -> None:
    address = _other_address()
    if not address:
        pytest.skip("this machine has no address besides loopback")
    server = ircpsyc_server({"limits": {"resolve_timeout": 1.0}})

    @aio
    async def run() -> None:
        started = time.monotonic()
        opened = asyncio.open_connection(HOST, server.port, local_addr=(address, 0))
        reader, writer = await asyncio.wait_for(opened, 5.0)
        client = RawClient(reader, writer)
        burst = await client.register(unique("far"))
        assert time.monotonic() - started < 1.0 + 2.0  # the timeout, and a busy machine
        shown = [m.params[-1] for m in find(burst, "NOTICE")]
        assert shown[0] == LOOKING_UP and shown[1] in (FOUND, NOT_FOUND), shown
        await client.send(f"WHOIS {client.nick}")
        where = find(await client.collect("318"), "378")[0].params[-1].split()
        host = where[-2].removeprefix("*@")
        assert where[-1] == address
        assert host == address if shown[1] == NOT_FOUND else valid_hostname(host)

    run()
