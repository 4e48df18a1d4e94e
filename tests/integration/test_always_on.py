"""Always-on persons (issue 13) against real server processes and a real SQLite file:
a logged-in person stays online with no connection, a SASL login attaches to it,
and it comes back after a restart."""

from __future__ import annotations

import base64
from typing import Any

from conftest import OPER_NAME, OPER_PASSWORD, ServerFactory, ServerProcess, start_server

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered, find, unique

PASSWORD = "always-on-pw!"


def restart(factory: ServerFactory, server: ServerProcess, extra: dict[str, Any]) -> ServerProcess:
    """Stop `server` and start it again on the same store (new ports)."""
    server.stop()
    again = start_server(server.config_path.parent, extra)
    factory.servers.append(again)
    return again


async def register(port: int, nick: str) -> RawClient:
    """A connection that registers the account `nick` with NickServ (logged in)."""
    client = await connect_registered(port, nick)
    await client.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    await client.expect("900")
    return client


async def sasl_connect(
    port: int, nick: str, account: str, caps: tuple[str, ...] = ()
) -> tuple[RawClient, list[Any]]:
    """Log in to `account` with SASL PLAIN before registering; the burst up to MOTD."""
    client = await RawClient.connect(port)
    client.nick = nick
    await client.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :Always on")
    await client.expect("CAP", where=lambda m: m.params[1] == "LS" and m.params[2] != "*")
    await client.send(f"CAP REQ :{' '.join(('sasl', *caps))}")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    token = base64.b64encode(f"\0{account}\0{PASSWORD}".encode()).decode()
    await client.send(f"AUTHENTICATE {token}", "CAP END")
    start = len(client.history)
    await client.expect("001", timeout=10)
    await client.expect("376", "422")
    return client, client.history[start:]


async def names(client: RawClient, channel: str) -> list[str]:
    await client.send(f"NAMES {channel}")
    lines = await client.collect("366")
    return [n.lstrip("~&@%+") for m in find(lines, "353") for n in m.params[-1].split()]


@aio
async def test_a_person_stays_when_it_quits_and_gets_back_what_it_missed(
    factory: ServerFactory,
) -> None:
    extra: dict[str, Any] = {}
    server = factory(extra)
    nick, channel = unique("ao"), unique("#ao")
    alice = await register(server.port, nick)
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    bob = await connect_registered(server.port, unique("bob"), caps=["away-notify"])
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")

    await alice.quit()
    away = await bob.expect("AWAY")
    assert away.source is not None and away.source.startswith(nick + "!")
    assert away.params == ["Disconnected"]
    seen = await bob.sync()
    assert not find(seen, "QUIT") and not find(seen, "PART"), seen
    assert nick in await names(bob, channel)
    await bob.send(f"WHOIS {nick}")
    whois = await bob.collect("318")
    assert find(whois, "311") and find(whois, "301")[0].params[-1] == "Disconnected"

    # Somebody not logged in to the account cannot take the nick.
    carol = await RawClient.connect(server.port)
    await carol.send(f"NICK {nick}", "USER c 0 * :Carol")
    assert (await carol.expect("433")).params[1] == nick
    carol.close()

    await bob.send(f"PRIVMSG {nick} :while you were gone")
    assert (await bob.expect("301")).params[1] == nick

    # A SASL login attaches to the person: its nick and channel, and the kept message.
    back, burst = await sasl_connect(server.port, unique("other"), nick)
    assert find(burst, "001")[0].params[0] == nick
    more = await back.sync()
    joined = find(more, "JOIN")
    assert joined and joined[0].params[0] == channel, more
    # The away log's line, from its sender with its time (ircpsyc.ircd.replay).
    kept = [m for m in more if m.command == "PRIVMSG" and m.params[0] == nick]
    assert kept and kept[0].params[1].endswith("] while you were gone"), more
    unaway = await bob.expect("AWAY")
    assert unaway.params == [] and unaway.source is not None
    assert unaway.source.startswith(nick + "!")
    await back.send(f"PRIVMSG {channel} :I am back")
    assert (await bob.expect("PRIVMSG")).params == [channel, "I am back"]


@aio
async def test_an_always_on_person_comes_back_after_a_restart(factory: ServerFactory) -> None:
    extra: dict[str, Any] = {}
    server = factory(extra)
    nick, channel = unique("ao"), unique("#ao")
    alice = await register(server.port, nick)
    await alice.send(f"JOIN {channel}", "MODE " + nick + " +i")
    await alice.expect("366")
    await alice.quit()

    server = restart(factory, server, extra)
    bob = await connect_registered(server.port, unique("bob"))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    assert nick in await names(bob, channel)
    await bob.send(f"WHOIS {nick}")
    whois = await bob.collect("318")
    assert find(whois, "301")[0].params[-1] == "Disconnected", whois
    assert channel in find(whois, "319")[0].params[-1]

    back, burst = await sasl_connect(server.port, unique("other"), nick)
    assert find(burst, "001")[0].params[0] == nick
    more = await back.sync()
    assert [m.params[0] for m in find(more, "JOIN")] == [channel], more
    await back.send(f"MODE {nick}")
    assert "i" in (await back.expect("221")).params[-1]


@aio
async def test_always_on_off_quits_as_before(factory: ServerFactory) -> None:
    server = factory()
    nick, channel = unique("ao"), unique("#ao")
    alice = await register(server.port, nick)
    await alice.send("PRIVMSG NickServ :SET ALWAYS-ON OFF")
    notice = await alice.expect("NOTICE", where=lambda m: "ALWAYS" in m.params[-1].upper())
    assert "OFF" in notice.params[-1]
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    bob = await connect_registered(server.port, unique("bob"))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    await alice.quit("off I go")
    quit_line = await bob.expect("QUIT")
    assert quit_line.source is not None and quit_line.source.startswith(nick + "!")


@aio
async def test_policy_disabled_quits_and_set_is_refused(factory: ServerFactory) -> None:
    server = factory({"accounts": {"always_on": "disabled"}})
    nick, channel = unique("ao"), unique("#ao")
    alice = await register(server.port, nick)
    await alice.send("PRIVMSG NickServ :SET ALWAYS-ON ON")
    notice = await alice.expect("NOTICE", where=lambda m: "lways-on" in m.params[-1])
    assert "disabled" in notice.params[-1]
    await alice.send(f"JOIN {channel}")
    await alice.expect("366")
    bob = await connect_registered(server.port, unique("bob"))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    await alice.quit()
    await bob.expect("QUIT")


@aio
async def test_kill_and_ghost_end_it(factory: ServerFactory) -> None:
    server = factory()
    channel = unique("#ao")
    bob = await connect_registered(server.port, unique("bob"))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    killed, ghosted = unique("k"), unique("g")
    for nick in (killed, ghosted):
        person = await register(server.port, nick)
        await person.send(f"JOIN {channel}")
        await person.expect("366")
        await person.quit()
    assert {killed, ghosted} <= set(await names(bob, channel))

    await bob.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await bob.expect("381")
    await bob.send(f"KILL {killed} :enough")
    gone = await bob.expect("QUIT")
    assert gone.source is not None and gone.source.startswith(killed + "!")

    # The owner attaches and leaves again; a GHOST with the password ends the person.
    owner, burst = await sasl_connect(server.port, unique("own"), ghosted)
    assert find(burst, "001")[0].params[0] == ghosted
    await owner.quit()
    other = await connect_registered(server.port, unique("x"))
    await other.send(f"PRIVMSG NickServ :GHOST {ghosted} {PASSWORD}")
    gone = await bob.expect("QUIT", timeout=10)
    assert gone.source is not None and gone.source.startswith(ghosted + "!")
    assert set(await names(bob, channel)).isdisjoint({killed, ghosted})


@aio
async def test_an_unused_always_on_person_expires(factory: ServerFactory) -> None:
    # 0.00004 days is about 3.5 seconds.
    server = factory({"accounts": {"always_on_expire": 0.00004}})
    nick, channel = unique("e"), unique("#ao")
    bob = await connect_registered(server.port, unique("bob"))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")
    person = await register(server.port, nick)
    await person.send(f"JOIN {channel}")
    await person.expect("366")
    await person.quit()
    assert nick in await names(bob, channel)
    gone = await bob.expect("QUIT", timeout=15)
    assert gone.source is not None and gone.source.startswith(nick + "!")
    assert "expired" in gone.params[-1]
    assert nick not in await names(bob, channel)


def test_on_a_network_the_person_lives_at_its_home_and_comes_back_into_far_channels(
    factory: ServerFactory,
) -> None:
    """Two linked servers: the account is homed on the first.  Its person stays there
    in a channel homed on the second, comes back into it after the first restarts, and
    a login on the second server is an ordinary connection there."""
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    home, other = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        account = net.homed(home, "ao")
        far = net.homed(other, "#far")
        alice = await register(net.port(home), account)
        await alice.send(f"JOIN {far}")
        await alice.expect("366", timeout=10.0)
        bob = await connect_registered(net.port(other), unique("bob"), caps=["away-notify"])
        await bob.send(f"JOIN {far}")
        await bob.expect("366", timeout=10.0)
        await alice.quit()
        away = await bob.expect("AWAY", timeout=10.0)
        assert away.source is not None and away.source.startswith(account + "!")

        # The first server restarts on its store: the person is back in the far channel.
        server = net.servers[home]
        server.stop()
        again = start_server(server.config_path.parent, net.extra(home))
        factory.servers.append(again)
        net.servers[home] = again
        joined = await bob.expect(
            "JOIN", where=lambda m: (m.source or "").startswith(account + "!"), timeout=30.0
        )
        assert joined.params[0] == far
        assert account in await names(bob, far)

        # A login on the other server is a connection of its own there, not the person.
        there, burst = await sasl_connect(net.port(other), unique("dev"), account)
        assert find(burst, "001")[0].params[0] == there.nick != account
        await there.quit()
        _back, burst = await sasl_connect(net.port(home), unique("dev"), account)
        assert find(burst, "001")[0].params[0] == account

    run()
