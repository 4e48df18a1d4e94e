"""Several connections of one account (multiclient) against a real server process.

A connection that logs in (SASL, or `PASS account[@device]:password`) to an
account whose person is online here becomes one more session of that person:
same nick, same channels; what one session says the others see; the person is
away only while every session is (draft/pre-away), and quits with its last one.
"""

from __future__ import annotations

import asyncio
import base64
import time

from conftest import ServerFactory, ServerProcess, ServerStarter
from irctokens.line import Line

from ircpsyc.psyc_backend.network import rendezvous

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered, find, unique
from .test_clients import Harness
from .test_linking_accounts import eventually

PASSWORD = "multi-pass-word"


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def registered_account(port: int, caps: tuple[str, ...] = ()) -> RawClient:
    """A first connection that registers its nick as an account (logged in)."""
    nick = unique("mc")
    client = await connect_registered(port, nick, caps=caps)
    await client.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    await client.expect("900")
    return client


async def sasl_session(
    port: int, account: str, nick: str | None = None, caps: tuple[str, ...] = ()
) -> tuple[RawClient, list[Line]]:
    """Another connection: NICK (before it is logged in), then SASL PLAIN; the lines
    up to the end of the MOTD."""
    client = await RawClient.connect(port)
    client.nick = account
    await client.send("CAP LS 302", f"NICK {nick or account}", "USER phone 0 * :Phone")
    await client.expect("CAP", where=lambda m: m.params[1] == "LS" and m.params[2] != "*")
    await client.send(f"CAP REQ :{' '.join(('sasl', *caps))}")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    start = len(client.history)
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE " + plain(account, PASSWORD), "CAP END")
    await client.expect("376", "422", timeout=10)
    await client.sync()  # the channels come after the MOTD
    return client, client.history[start:]


def said(lines: list[Line], text: str) -> list[Line]:
    return [m for m in lines if m.command in ("PRIVMSG", "NOTICE") and m.params[-1] == text]


@aio
async def test_two_sessions_share_nick_channels_and_what_they_say(
    shared_server: ServerProcess,
) -> None:
    port = shared_server.port
    laptop = await registered_account(port)
    nick = laptop.nick
    channel = unique("#mc")
    await laptop.send(f"JOIN {channel}", f"TOPIC {channel} :shared topic")
    await laptop.expect("TOPIC")
    bob = await connect_registered(port, unique("bob"))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")

    # The phone asks for another nick (after a 433 for the person's): ignored.
    phone, burst = await sasl_session(port, nick, nick=nick)
    assert find(burst, "001")[0].params[0] == nick
    joins = find(burst, "JOIN")
    assert [j.params[0] for j in joins] == [channel]
    assert joins[0].source is not None and joins[0].source.startswith(nick + "!")
    assert find(burst, "332")[0].params[-1] == "shared topic"
    names = " ".join(m.params[-1] for m in find(burst, "353")).split()
    assert sorted(n.lstrip("@+") for n in names) == sorted([nick, bob.nick])
    assert not find(await bob.sync(), "JOIN")  # the channel sees no second JOIN

    # What one session says reaches the other, and not itself (no echo-message).
    await phone.send(f"PRIVMSG {channel} :from the phone")
    got = await laptop.expect("PRIVMSG")
    assert got.params == [channel, "from the phone"] and got.hostmask.nickname == nick
    assert said(await bob.sync(), "from the phone") or said(bob.history, "from the phone")
    assert not said(await phone.sync(), "from the phone")

    # Private lines: a copy for the other session, one delivery for bob.
    await laptop.send(f"PRIVMSG {bob.nick} :private from the laptop")
    assert (await phone.expect("PRIVMSG")).params == [bob.nick, "private from the laptop"]
    assert (await bob.expect("PRIVMSG")).params == [bob.nick, "private from the laptop"]
    await laptop.send(f"NOTICE {channel} :a notice")
    assert (await phone.expect("NOTICE")).params == [channel, "a notice"]

    # What reaches the person reaches every session.
    await bob.send(f"PRIVMSG {nick} :to both")
    assert (await laptop.expect("PRIVMSG")).params == [nick, "to both"]
    assert (await phone.expect("PRIVMSG")).params == [nick, "to both"]
    bob_lines = await bob.sync()
    assert len(said(bob_lines + bob.skipped, "to both")) == 0

    # NAMES, WHO and WHOIS show the person once.
    await bob.send(f"NAMES {channel}")
    names = " ".join(m.params[-1] for m in find(await bob.collect("366"), "353")).split()
    assert [n.lstrip("@+") for n in names].count(nick) == 1
    await bob.send(f"WHO {channel}")
    who = find(await bob.collect("315"), "352")
    assert [m.params[5] for m in who].count(nick) == 1
    await bob.send(f"WHOIS {nick}")
    whois = await bob.collect("318")
    assert len(find(whois, "311")) == 1
    assert find(whois, "330")[0].params[2] == nick

    # QUIT of one session keeps the person: nobody sees a QUIT, the other stays in.
    await phone.quit()
    assert not find(await bob.sync(), "QUIT")
    await bob.send(f"PRIVMSG {channel} :still there?")
    assert (await laptop.expect("PRIVMSG")).params == [channel, "still there?"]
    # The last session quits the person (when it is not always-on).
    await laptop.send("NS SET ALWAYS-ON OFF")
    await laptop.expect("NOTICE", where=lambda m: "Always-on" in m.params[-1])
    await laptop.quit()
    quit_line = await bob.expect("QUIT")
    assert quit_line.hostmask.nickname == nick


@aio
async def test_echo_message_and_nick_change_across_sessions(shared_server: ServerProcess) -> None:
    port = shared_server.port
    laptop = await registered_account(port, caps=("echo-message",))
    nick = laptop.nick
    channel = unique("#mce")
    await laptop.send(f"JOIN {channel}")
    await laptop.expect("366")
    phone, burst = await sasl_session(port, nick, nick=unique("other"), caps=("echo-message",))
    assert find(burst, "001")[0].params[0] == nick

    await phone.send(f"PRIVMSG {channel} :echoed once")
    assert (await phone.expect("PRIVMSG")).params == [channel, "echoed once"]
    assert (await laptop.expect("PRIVMSG")).params == [channel, "echoed once"]
    assert not said(await phone.sync(), "echoed once")  # one echo, no copy on top
    assert not said(await laptop.sync(), "echoed once")

    # A NICK from one session renames the person for both.
    new = unique("renamed")
    await phone.send(f"NICK {new}")
    for session in (phone, laptop):
        changed = await session.expect("NICK")
        assert changed.hostmask.nickname == nick and changed.params == [new]


@aio
async def test_pass_login_with_a_device_attaches(shared_server: ServerProcess) -> None:
    port = shared_server.port
    laptop = await registered_account(port)
    nick = laptop.nick
    channel = unique("#mcp")
    await laptop.send(f"JOIN {channel}")
    await laptop.expect("366")
    phone = await RawClient.connect(port)
    await phone.send(f"PASS {nick}@phone:{PASSWORD}", f"NICK {unique('x')}", "USER p 0 * :P")
    await phone.collect("376", "422")
    await phone.sync()
    burst = phone.history
    assert find(burst, "900")[0].params[2] == nick
    assert find(burst, "001")[0].params[0] == nick
    assert [j.params[0] for j in find(burst, "JOIN")] == [channel]

    # A wrong password is refused, as a wrong server password is.
    wrong = await RawClient.connect(port)
    await wrong.send(f"PASS {nick}:not-the-password", "NICK w", "USER w 0 * :W")
    lines = await wrong.until_closed()
    assert find(lines, "464")


@aio
async def test_nick_in_use_for_someone_not_logged_in(shared_server: ServerProcess) -> None:
    laptop = await registered_account(shared_server.port)
    other = await RawClient.connect(shared_server.port)
    await other.send(f"NICK {laptop.nick}", "USER o 0 * :O")
    assert (await other.expect("433")).params[1] == laptop.nick


@aio
async def test_max_sessions_and_multiclient_off(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"accounts": {"max_sessions": 2}})
    port = server.port
    laptop = await registered_account(port)
    nick = laptop.nick
    await sasl_session(port, nick)
    third = await RawClient.connect(port)
    await third.send("CAP LS 302", f"NICK {nick}", "USER t 0 * :T", "CAP REQ :sasl")
    await third.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await third.send("AUTHENTICATE PLAIN")
    await third.expect("AUTHENTICATE")
    await third.send("AUTHENTICATE " + plain(nick, PASSWORD), "CAP END")
    lines = await third.until_closed()
    fail = find(lines, "FAIL")
    assert fail and fail[0].params[1] == "TOO_MANY_SESSIONS", lines
    assert "at most 2" in find(lines, "ERROR")[0].params[0]

    # NickServ SET MULTICLIENT OFF: a connection of the account needs a nick of its own.
    await laptop.send("PRIVMSG NickServ :SET MULTICLIENT OFF")
    await laptop.expect(
        "NOTICE", where=lambda m: "connections" in m.params[-1] and "OFF" in m.params[-1]
    )
    own = await RawClient.connect(port)
    await own.send("CAP LS 302", f"NICK {nick}", "USER t 0 * :T", "CAP REQ :sasl")
    await own.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await own.send("AUTHENTICATE PLAIN")
    await own.expect("AUTHENTICATE")
    await own.send("AUTHENTICATE " + plain(nick, PASSWORD), "CAP END")
    await own.expect("903")
    lines = await own.sync()
    assert not find(lines, "001")
    assert [m.params[1] for m in find(own.history, "433")] == [nick]
    second = unique("own")
    await own.send(f"NICK {second}")
    assert (await own.expect("001")).params[0] == second
    await laptop.send("PRIVMSG NickServ :INFO")
    await laptop.expect("NOTICE", where=lambda m: m.params[-1] == "Shared connections: off")


@aio
async def test_away_only_when_every_session_is(shared_server: ServerProcess) -> None:
    port = shared_server.port
    laptop = await registered_account(port)
    nick = laptop.nick
    channel = unique("#mca")
    await laptop.send(f"JOIN {channel}")
    await laptop.expect("366")
    bob = await connect_registered(port, unique("bob"), caps=("away-notify",))
    await bob.send(f"JOIN {channel}")
    await bob.expect("366")

    await laptop.send("AWAY :at lunch")
    await laptop.expect("306")
    assert (await bob.expect("AWAY")).params == ["at lunch"]

    # A phone that connects with draft/pre-away and AWAY * leaves the person away.
    phone = await RawClient.connect(port)
    await phone.send("CAP LS 302", f"NICK {nick}", "USER p 0 * :P")
    await phone.send("CAP REQ :sasl draft/pre-away", "AWAY *")
    await phone.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await phone.send("AUTHENTICATE PLAIN")
    await phone.expect("AUTHENTICATE")
    await phone.send("AUTHENTICATE " + plain(nick, PASSWORD), "CAP END")
    await phone.collect("376", "422")
    burst = await phone.sync()
    assert find(burst, "306")  # told it is away
    assert not find(await bob.sync(), "AWAY")
    await bob.send(f"WHOIS {nick}")
    assert find(await bob.collect("318"), "301")[0].params[-1] == "at lunch"

    # The phone comes back: the person is present; it goes: away again.
    await phone.send("AWAY")
    await phone.expect("305")
    assert (await bob.expect("AWAY")).params == []
    await phone.quit()
    assert (await bob.expect("AWAY")).params == ["at lunch"]

    # A session that connects without AWAY brings the person back.
    again, _ = await sasl_session(port, nick)
    assert (await bob.expect("AWAY")).params == []
    await laptop.quit()
    assert not find(await bob.sync(), "QUIT")
    await again.send("AWAY :gone")
    assert (await bob.expect("AWAY")).params == ["gone"]


def test_a_session_on_another_server_is_told_where_the_person_is(
    factory: ServerFactory,
) -> None:
    """A person lives on one server; a connection of its account to another server
    of the network is refused with the name of the server to use (README)."""
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    first, second = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        laptop = await registered_account(net.port(first))
        nick = laptop.nick
        await eventually(net.port(second), nick, PASSWORD, "903")
        # Until the roster has it: the person is seen on the other server.
        deadline = time.monotonic() + 10.0
        while True:
            other = await connect_registered(net.port(second), unique("look"))
            await other.send(f"WHOIS {nick}")
            if find(await other.collect("318"), "311") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        phone = await RawClient.connect(net.port(second))
        await phone.send("CAP LS 302", f"NICK {nick}", "USER p 0 * :P", "CAP REQ :sasl")
        await phone.expect("CAP", where=lambda m: m.params[1] == "ACK")
        await phone.send("AUTHENTICATE PLAIN")
        await phone.expect("AUTHENTICATE")
        await phone.send("AUTHENTICATE " + plain(nick, PASSWORD), "CAP END")
        lines = await phone.until_closed(timeout=10.0)
        fail = find(lines, "FAIL")
        assert fail and fail[0].params[1] == "ACCOUNT_ELSEWHERE", [m.format() for m in lines]
        assert first in fail[0].params[-1]
        assert first in find(lines, "ERROR")[0].params[0]
        assert not find(lines, "001")
        # The person on its own server is untouched; its second session there shares
        # a channel homed on the other server: copies come back through the link.
        await laptop.send(f"PRIVMSG {nick} :still me")
        assert (await laptop.expect("PRIVMSG")).params == [nick, "still me"]
        tag = unique("r")
        channel = next(
            f"#{tag}{i}" for i in range(1000) if rendezvous(f"#{tag}{i}", net.names) == second
        )
        await laptop.send(f"JOIN {channel}")
        await laptop.expect("366", timeout=10.0)
        tablet, burst = await sasl_session(net.port(first), nick, caps=("echo-message",))
        assert [j.params[0] for j in find(burst, "JOIN")] == [channel]
        bob = await connect_registered(net.port(second), unique("bob"))
        await bob.send(f"JOIN {channel}")
        await bob.expect("366", timeout=10.0)
        await laptop.expect("JOIN", where=lambda m: m.hostmask.nickname == bob.nick)
        await tablet.send(f"PRIVMSG {channel} :over the link")
        assert (await tablet.expect("PRIVMSG", timeout=10.0)).params[-1] == "over the link"
        assert (await laptop.expect("PRIVMSG", timeout=10.0)).params[-1] == "over the link"
        assert (await bob.expect("PRIVMSG", timeout=10.0)).params[-1] == "over the link"
        assert not said(await tablet.sync(), "over the link")
        assert not said(await laptop.sync(), "over the link")

    run()


def test_the_irc_library_attaches_with_a_server_password(shared_server: ServerProcess) -> None:
    """The `irc` package's server password (PASS account@device:password) makes a
    second connection of the same person; lines go from one to the other."""
    harness = Harness(shared_server.port)
    try:
        laptop = harness.connect(unique("lib"))
        nick = laptop.nick
        laptop.conn.privmsg("NickServ", f"REGISTER {PASSWORD}")
        laptop.wait("privnotice", where=lambda e: e.arguments == ["Account created"])
        channel = unique("#mcl")
        laptop.conn.join(channel)
        laptop.wait("endofnames")

        conn = harness.reactor.server()
        phone = harness.attach(conn)
        conn.connect(
            "127.0.0.1", shared_server.port, unique("libphone"), password=f"{nick}@lib:{PASSWORD}"
        )
        assert phone.wait("welcome").target == nick
        assert phone.wait("join").target == channel
        phone.wait("endofnames")
        assert phone.nick == nick

        phone.conn.privmsg(channel, "hello from the phone")
        got = laptop.wait("pubmsg")
        assert got.arguments == ["hello from the phone"] and got.source.nick == nick
        phone.no_event("pubmsg")
    finally:
        harness.close()
