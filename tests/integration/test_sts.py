"""STS through the real server: off unless the operator turns it on."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ServerStarter
from tests.integration.support import RawClient, aio


async def _cap_ls(port: int, tls: bool = False) -> dict[str, str]:
    client = await RawClient.connect(port, tls=tls)
    await client.send("CAP LS 302")
    caps: dict[str, str] = {}
    while True:
        line = await client.expect("CAP")
        for token in line.params[-1].split():
            name, _, value = token.partition("=")
            caps[name] = value
        if line.params[2] != "*":
            break
    await client.send("QUIT")
    return caps


@aio
async def test_sts_is_off_by_default_even_with_a_tls_listener(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path]
) -> None:
    server = ircpsyc_server(tls=tls_cert)
    assert server.tls_port is not None
    assert "sts" not in await _cap_ls(server.port)
    assert "sts" not in await _cap_ls(server.tls_port, tls=True)


@aio
async def test_sts_when_turned_on(
    ircpsyc_server: ServerStarter, tls_cert: tuple[Path, Path]
) -> None:
    server = ircpsyc_server({"tls": {"sts_duration": 86400}}, tls=tls_cert)
    assert server.tls_port is not None
    assert (await _cap_ls(server.port))["sts"] == f"port={server.tls_port}"
    assert (await _cap_ls(server.tls_port, tls=True))["sts"] == "duration=86400"
