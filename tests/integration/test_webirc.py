"""WEBIRC (IRCv3 webirc): a gateway listed in [[webirc]] passes on its users' addresses."""

from __future__ import annotations

import functools

from tests.conftest import ServerStarter
from tests.integration.support import RawClient, aio, unique

GATEWAY = "testgate"
PASSWORD = "gateway-secret-1"


@functools.cache
def password_hash() -> str:
    from ircpsyc.passwords import hash_password

    return hash_password(PASSWORD)


def webirc_server(ircpsyc_server: ServerStarter, **limits: int) -> int:
    server = ircpsyc_server(
        {
            "webirc": [
                # Loopback is this gateway's; the second entry is nobody here.
                {"password_hash": password_hash(), "hosts": ["127.0.0.0/8"], "name": GATEWAY},
                {"password_hash": password_hash(), "hosts": ["192.0.2.0/24"]},
            ],
            "cloaks": {"set_on_connect": False},
            "limits": limits,
        }
    )
    return server.port


async def refused(port: int, line: str) -> str:
    client = await RawClient.connect(port)
    await client.send(line)
    lines = await client.until_closed()
    assert lines and lines[-1].command == "ERROR", lines
    return lines[-1].params[-1]


@aio
async def test_gateway_passes_on_address_and_host(ircpsyc_server: ServerStarter) -> None:
    port = webirc_server(ircpsyc_server, max_per_ip=2)
    nick = unique("via")
    client = await RawClient.connect(port)
    await client.send(f"WEBIRC {PASSWORD} {GATEWAY} user.example.net 203.0.113.5 :secure")
    await client.register(nick)
    await client.send(f"WHO {nick}", f"WHOIS {nick}")
    who = await client.expect("352")
    assert who.params[3] == "user.example.net"
    await client.expect("671")  # "secure": the user reached the gateway over TLS
    # Limits per address follow the user: two more users through the same gateway.
    for n, ip in enumerate(("203.0.113.6", "203.0.113.7")):
        other = await RawClient.connect(port)
        await other.send(f"WEBIRC {PASSWORD} {GATEWAY} {ip} {ip}")
        await other.register(unique(f"via{n}"))
        await other.send(f"WHO {other.nick}")
        assert (await other.expect("352")).params[3] == ip
    # But one address still gets no more than max_per_ip.
    same = []
    for _ in range(2):
        c = await RawClient.connect(port)
        await c.send(f"WEBIRC {PASSWORD} {GATEWAY} x 198.51.100.1")
        same.append(c)
    await same[0].register(unique("one"))
    await same[1].register(unique("two"))
    third = await refused(port, f"WEBIRC {PASSWORD} {GATEWAY} x 198.51.100.1")
    assert "Too many connections" in third


@aio
async def test_refusals(ircpsyc_server: ServerStarter) -> None:
    port = webirc_server(ircpsyc_server)
    assert "password" in await refused(port, f"WEBIRC wrong {GATEWAY} h 203.0.113.5")
    assert "not allowed" in await refused(port, f"WEBIRC {PASSWORD} other h 203.0.113.5")
    assert "address" in await refused(port, f"WEBIRC {PASSWORD} {GATEWAY} h not-an-ip")
    late = await RawClient.connect(port)
    await late.send(f"NICK {unique('late')}")
    await late.send(f"WEBIRC {PASSWORD} {GATEWAY} h 203.0.113.5")
    lines = await late.until_closed()
    assert "first command" in lines[-1].params[-1]
