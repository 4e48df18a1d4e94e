"""Two ircpsyc networks federating as foreign PSYC servers, and [federation]'s rule
for which hosts users may make a server dial (real server processes on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import ServerFactory, ServerProcess, free_port

from .support import RawClient, aio
from .test_psyced import loopback_with_4404

WAIT = 15.0


def network(factory: ServerFactory, **federation: object) -> tuple[ServerProcess, str]:
    """A server on a loopback address of its own, its PSYC listener on port 4404."""
    name = loopback_with_4404()
    server = factory(
        {
            "server": {"name": name},
            "listen": {"psyc": f"{name}:4404"},
            "limits": {"flood_rate": 1000.0, "flood_burst": 1000},
            "federation": {"dial_private": True, **federation},
        }
    )
    return server, name


@aio
async def test_two_ircpsyc_networks_federate(factory: ServerFactory) -> None:
    a, a_name = network(factory)
    b, b_name = network(factory)
    assert a_name != b_name
    bob = await RawClient.connect(b.port)
    await bob.register("bob")
    await bob.send("JOIN #chan", "TOPIC #chan :network B's channel")
    await bob.expect("TOPIC", timeout=WAIT)
    alice = await RawClient.connect(a.port)
    await alice.register("alice")
    room = f"#psyc://{b_name}/@chan"
    await alice.send(f"JOIN {room}")
    lines = await alice.collect("366", timeout=WAIT)
    assert [m.params[-1] for m in lines if m.command == "332"] == ["network B's channel"]
    names = next(m for m in lines if m.command == "353").params[-1].replace("@", "").split()
    bob_there, alice_there = f"psyc://{b_name}/~bob", f"psyc://{a_name}/~alice"
    assert sorted(names) == sorted(["alice", bob_there])
    joined = await bob.expect("JOIN", where=lambda m: m.params[0] == "#chan", timeout=WAIT)
    assert (joined.source or "").startswith(alice_there + "!")
    # Chat both ways, and private messages both ways.
    await alice.send(f"PRIVMSG {room} :hello B")
    line = await bob.expect("PRIVMSG", timeout=WAIT)
    assert line.params == ["#chan", "hello B"] and line.source.startswith(alice_there + "!")
    await bob.send("PRIVMSG #chan :hello A")
    line = await alice.expect("PRIVMSG", timeout=WAIT)
    assert line.params == [room, "hello A"] and line.source.startswith(bob_there + "!")
    await alice.send(f"PRIVMSG {bob_there} :psst bob")
    line = await bob.expect("PRIVMSG", timeout=WAIT)
    assert line.params == ["bob", "psst bob"] and line.source.startswith(alice_there + "!")
    await bob.send(f"PRIVMSG {alice_there} :psst alice")
    line = await alice.expect("PRIVMSG", timeout=WAIT)
    assert line.params == ["alice", "psst alice"] and line.source.startswith(bob_there + "!")
    # B's operator kicks A's user; the topic changes reach her.
    await bob.send("TOPIC #chan :second topic")
    topic = await alice.expect("TOPIC", timeout=WAIT)
    assert topic.params == [room, "second topic"]
    # Exactly once: nothing resent or doubled after a while.
    await asyncio.sleep(4.0)
    await alice.sync()
    await bob.sync()
    said = [m.params[-1] for m in alice.history if m.command == "PRIVMSG"]
    assert said == ["hello A", "psst alice"]
    heard = [m.params[-1] for m in bob.history if m.command == "PRIVMSG"]
    assert heard == ["hello B", "psst bob"]
    # KICK sent to B's channel: B's place decides, as for its own users.
    carol = await RawClient.connect(b.port)
    await carol.register("carol")
    await carol.send("JOIN #chan")
    await alice.expect("JOIN", timeout=WAIT)
    carol_there = f"psyc://{b_name}/~carol"
    await alice.send(f"KICK {room} {carol_there} :out")
    refused = await alice.expect("482", timeout=WAIT)
    assert refused.params[1] == room
    await bob.send(f"MODE #chan +o {alice_there}")
    await alice.expect("MODE", timeout=WAIT)
    await alice.send(f"KICK {room} {carol_there} :out")
    kick = await carol.expect("KICK", timeout=WAIT)
    assert kick.params[:2] == ["#chan", "carol"]
    await alice.expect("KICK", timeout=WAIT)
    await asyncio.sleep(6.0)  # the place acted: no "did not act" afterwards
    await alice.sync()
    assert len([m for m in alice.history if m.command == "482"]) == 1
    await bob.send(f"KICK #chan {alice_there} :out")
    kick = await alice.expect("KICK", "PART", timeout=WAIT)
    assert kick.params[0] == room
    # Neither network took the other for one of its own: each is foreign to the other.
    assert "foreign circuit with" in a.log() and "foreign circuit with" in b.log()
    assert "link " not in a.log().replace("server links listening", "")


@aio
async def test_users_cannot_make_the_server_dial_private_addresses(
    factory: ServerFactory,
) -> None:
    """By default ([federation] dial_private = false) a uniform naming a loopback or
    private address, or a host name resolving to one, is refused with a numeric that
    says why, and nothing is dialled."""
    name = loopback_with_4404()
    server = factory({"server": {"name": name}, "listen": {"psyc": f"{name}:4404"}})
    alice = await RawClient.connect(server.port)
    await alice.register("alice")
    port = free_port()
    await alice.send(f"JOIN #psyc://127.0.0.1:{port}/@inside")
    error = await alice.expect("403", timeout=WAIT)
    assert error.params[1] == f"#psyc://127.0.0.1:{port}/@inside"
    assert "127.0.0.1 is not a public address" in error.params[-1]
    await alice.send("PRIVMSG psyc://10.0.0.1:6379/~redis :FLUSHALL")
    error = await alice.expect("401", timeout=WAIT)
    assert "10.0.0.1 is not a public address" in error.params[-1]
    await alice.send(f"JOIN #psyc://localhost:{port}/@inside")  # a name: resolved, then refused
    error = await alice.expect("403", timeout=WAIT)
    assert "not a public address" in error.params[-1]
    assert f"foreign circuit to localhost:{port} failed" in server.log()


@aio
async def test_denied_hosts_are_neither_dialled_nor_accepted(factory: ServerFactory) -> None:
    a, a_name = network(factory)
    b, b_name = network(factory, deny_hosts=[a_name])
    # B's users cannot reach A ...
    bob = await RawClient.connect(b.port)
    await bob.register("bob")
    await bob.send(f"JOIN #psyc://{a_name}/@chan")
    error = await bob.expect("403", timeout=WAIT)
    assert f"federation with {a_name} is denied here" in error.params[-1]
    # ... and A, calling B, is refused with _error_illegal_source: A's user hears why.
    alice = await RawClient.connect(a.port)
    await alice.register("alice")
    await alice.send(f"JOIN #psyc://{b_name}/@chan")
    error = await alice.expect("403", timeout=WAIT)
    assert "_error_illegal_source" in error.params[-1]
    assert f"federation with {a_name} is denied here" in error.params[-1]
    await bob.send("NAMES #chan")
    assert "alice" not in (await bob.expect("353", "366", timeout=WAIT)).params[-1]


@aio
async def test_federation_over_tls(factory: ServerFactory, tls_cert: tuple[Path, Path]) -> None:
    """`psyc://HOST:PORTs/` (the s after the port, as libpsyc writes TLS) is dialled
    with TLS, and a server that calls our TLS PSYC listener is served as a foreign
    circuit, answered with the uniforms it used."""
    cert, key = tls_cert
    a, _ = network(factory, verify_tls=False)  # a self-signed certificate
    b_name = loopback_with_4404()
    tls_port = free_port()
    b = factory(
        {
            "server": {"name": b_name},
            "listen": {"psyc": f"{b_name}:4404", "psyc_tls": f"{b_name}:{tls_port}"},
            "tls": {"cert": str(cert), "key": str(key)},
            "federation": {"dial_private": True},
        }
    )
    bob = await RawClient.connect(b.port)
    await bob.register("bob")
    await bob.send("JOIN #chan")
    await bob.expect("366", timeout=WAIT)
    alice = await RawClient.connect(a.port)
    await alice.register("alice")
    room = f"#psyc://{b_name}:{tls_port}s/@chan"
    await alice.send(f"JOIN {room}")
    names = await alice.expect("353", timeout=WAIT)
    bob_there = f"psyc://{b_name}:{tls_port}s/~bob"
    assert sorted(names.params[-1].replace("@", "").split()) == sorted(["alice", bob_there])
    await bob.expect("JOIN", where=lambda m: m.params[0] == "#chan", timeout=WAIT)
    await alice.send(f"PRIVMSG {room} :over TLS")
    line = await bob.expect("PRIVMSG", timeout=WAIT)
    assert line.params == ["#chan", "over TLS"]
    await bob.send("PRIVMSG #chan :back over TLS")
    line = await alice.expect("PRIVMSG", timeout=WAIT)
    assert line.params == [room, "back over TLS"]
    assert (line.source or "").startswith(bob_there + "!")
    assert f"foreign circuit with {b_name}:{tls_port}s open (dialled" in a.log()
    assert "foreign circuit with" in b.log() and "(accepted, PSYC 0.9)" in b.log()
    # Verifying certificates (the default), a self-signed one is refused, and said so.
    c, _ = network(factory)
    carol = await RawClient.connect(c.port)
    await carol.register("carol")
    await carol.send(f"JOIN {room}")
    error = await carol.expect("403", timeout=WAIT)
    assert "CERTIFICATE_VERIFY_FAILED" in error.params[-1] or "certificate" in error.params[-1]


@aio
async def test_federation_switched_off(factory: ServerFactory) -> None:
    """[federation] enabled = false: no circuits either way, and users are told."""
    server, name = network(factory, enabled=False)
    _, other = network(factory)
    alice = await RawClient.connect(server.port)
    await alice.register("alice")
    await alice.send(f"JOIN #psyc://{other}/@chan")
    error = await alice.expect("403", "437", "479", timeout=WAIT)
    assert error.params[1] == f"#psyc://{other}/@chan"
    await alice.send(f"PRIVMSG psyc://{other}/~bob :hi")
    await alice.expect("401", timeout=WAIT)
    reader, writer = await asyncio.open_connection(name, 4404)
    writer.write(b".\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), WAIT)  # to the end: it closes
    assert b"_error_syntax" in answer  # no foreign circuits: not a link either
    writer.close()
