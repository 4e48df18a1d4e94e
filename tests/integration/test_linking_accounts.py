"""Accounts across real linked servers: register on one, log in with SASL on another."""

from __future__ import annotations

import asyncio
import base64
import time

from conftest import ServerFactory

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def sasl(port: int, account: str, password: str) -> str:
    """The numeric that ends a SASL PLAIN exchange: 903 (success) or 904."""
    client = await RawClient.connect(port)
    try:
        await client.send("CAP LS 302", "CAP REQ :sasl")
        await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect("AUTHENTICATE", where=lambda m: m.params == ["+"])
        await client.send("AUTHENTICATE " + plain(account, password))
        return (await client.expect("903", "904", timeout=10.0)).command
    finally:
        client.close()


async def eventually(port: int, account: str, password: str, wanted: str) -> None:
    deadline = time.monotonic() + 10.0
    while True:
        got = await sasl(port, account, password)
        if got == wanted:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"SASL for {account} on port {port}: {got}, not {wanted}")
        await asyncio.sleep(0.2)


def test_register_on_one_server_sasl_on_the_others(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 3, [(0, 1), (1, 2)])
    net.start()
    first, middle, last = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        # Homed on the far end, so the registration crosses two links and back.
        account = net.homed(last, "acct")
        owner = await connect_registered(net.port(first), account)
        await owner.send("PRIVMSG NickServ :REGISTER pass-word!")
        created = await owner.expect("NOTICE", timeout=10.0)
        assert created.params[-1] == "Account created", created.format()
        assert (await owner.expect("900")).params[2] == account

        await eventually(net.port(middle), account, "pass-word!", "903")
        assert await sasl(net.port(last), account, "pass-word!") == "903"
        assert await sasl(net.port(last), account, "wrong") == "904"

        # A concurrent registration of the same name elsewhere loses.
        other = await connect_registered(net.port(middle))
        await other.send(f"REGISTER {account} * other-pw")
        fail = await other.expect("FAIL", "REGISTER", timeout=10.0)
        assert fail.params[:2] == ["REGISTER", "ACCOUNT_EXISTS"], fail.format()

        # DROP on the first server logs in nowhere any more.
        await owner.send("NS DROP pass-word!")
        await owner.expect(
            "NOTICE", where=lambda m: "has been dropped" in m.params[-1], timeout=10.0
        )
        await eventually(net.port(last), account, "pass-word!", "904")
        await eventually(net.port(middle), account, "pass-word!", "904")

    run()


def test_register_before_connecting_waits_for_a_remote_home(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    first, second = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        account = net.homed(second, "pre")
        client = await RawClient.connect(net.port(first))
        await client.send("CAP LS 302", "CAP REQ :draft/account-registration")
        await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
        # Pipelined: CAP END must wait until the account's home has answered.
        await client.send(
            f"NICK {account}", "USER u 0 * :early", "REGISTER * * early-pw!", "CAP END"
        )
        lines = await client.collect("001", timeout=15.0)
        commands = [m.command for m in lines]
        assert "REGISTER" in commands, [m.format() for m in lines]
        assert commands.index("REGISTER") < commands.index("900") < commands.index("001")

    run()
