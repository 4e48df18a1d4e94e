"""Accounts against a real server process: NickServ, SASL, durability across kill -9."""

from __future__ import annotations

import asyncio
import base64
import signal
import time

from conftest import ServerProcess, ServerStarter

from .support import RawClient, aio, connect_registered, find, unique


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def register_with_nickserv(port: int, nick: str, password: str) -> RawClient:
    client = await connect_registered(port, nick)
    await client.send(f"PRIVMSG NickServ :REGISTER {password}")
    created = await client.expect("NOTICE")
    assert created.source == "NickServ!NickServ@services.int", created.format()
    assert created.params == [nick, "Account created"], created.format()
    logged_in = await client.expect("900")
    assert logged_in.params[2] == nick
    return client


@aio
async def test_register_then_sasl_plain_on_a_new_connection(shared_server: ServerProcess) -> None:
    account = unique("acct")
    first = await register_with_nickserv(shared_server.port, account, "pass-word!")
    await first.quit()

    client = await RawClient.connect(shared_server.port)
    nick = unique("sasl")
    await client.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :SASL user")
    offered: list[str] = []
    while True:  # CAP LS 302 may continue over several lines ("*")
        ls = await client.expect("CAP", where=lambda m: m.params[1] == "LS")
        offered += ls.params[-1].split()
        if ls.params[2] != "*":
            break
    assert "sasl=PLAIN,EXTERNAL,SCRAM-SHA-256" in offered
    await client.send("CAP REQ :sasl")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE", where=lambda m: m.params == ["+"])
    # Pipelined: the password check runs off the event loop while CAP END waits its turn.
    await client.send("AUTHENTICATE " + plain(account, "pass-word!"), "CAP END")
    lines = await client.collect("001", timeout=10)
    commands = [m.command for m in lines]
    assert commands.index("900") < commands.index("903") < commands.index("001"), commands
    assert find(lines, "900")[0].params[2] == account
    # The account's person stayed online (always-on): the login attached to it.
    assert find(lines, "001")[0].params[0] == account

    await client.send(f"WHOIS {account}")
    whois = await client.collect("318")
    assert find(whois, "330")[0].params[1:3] == [account, account]


@aio
async def test_wrong_sasl_password_and_nickserv_in_whois(shared_server: ServerProcess) -> None:
    account = unique("acct")
    owner = await register_with_nickserv(shared_server.port, account, "right-password")
    client = await RawClient.connect(shared_server.port)
    await client.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE " + plain(account, "wrong"))
    fail = await client.expect("904", "900", "903")
    assert fail.command == "904", fail.format()
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE " + "A" * 401)
    assert (await client.expect("905")).params[0] == "*"
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE !!!!")
    await client.expect("904")
    await owner.send("WHOIS NickServ")
    whois = await owner.collect("318")
    assert find(whois, "311")[0].params[1:4] == ["NickServ", "NickServ", "services.int"]


@aio
async def test_concurrent_registrations_of_one_name(shared_server: ServerProcess) -> None:
    name = unique("race")
    clients = [await connect_registered(shared_server.port) for _ in range(4)]
    await asyncio.gather(*(c.send(f"REGISTER {name} * password{i}") for i, c in enumerate(clients)))
    answers = [await c.expect("REGISTER", "FAIL") for c in clients]
    winners = [a for a in answers if a.command == "REGISTER"]
    assert len(winners) == 1, [a.format() for a in answers]
    assert winners[0].params[:2] == ["SUCCESS", name]
    for loser in (a for a in answers if a.command == "FAIL"):
        assert loser.params[:2] == ["REGISTER", "ACCOUNT_EXISTS"], loser.format()


@aio
async def test_an_acknowledged_registration_survives_kill_9(
    ircpsyc_server: ServerStarter,
) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    account = unique("durable")
    client = await register_with_nickserv(first.port, account, "kept-secret")
    await client.send("NS SET ENFORCE OFF")
    await client.expect("NOTICE", where=lambda m: "now OFF" in m.params[-1])
    first.signal(signal.SIGKILL)
    first.wait(10)
    client.drop(reset=True)

    second = ircpsyc_server({"storage": {"path": storage}})
    again = await connect_registered(second.port, account)
    await again.send("NS IDENTIFY kept-secret")
    logged_in = await again.expect("900")
    assert logged_in.params[2] == account
    await again.send("NS INFO")
    info = []
    while not info or info[-1] != "End of information.":
        info.append((await again.expect("NOTICE")).params[-1])
    assert "Nick protection: off" in info, info


@aio
async def test_password_checks_do_not_block_other_clients(shared_server: ServerProcess) -> None:
    """argon2 takes tens to hundreds of milliseconds: it runs in a thread, so a
    PING from somebody else is answered while a login is being checked."""
    account = unique("slow")
    owner = await register_with_nickserv(shared_server.port, account, "slow-password")
    await owner.send("NS LOGOUT")
    await owner.expect("901")
    other = await connect_registered(shared_server.port)
    arrived: dict[str, float] = {}

    async def wait(client: RawClient, command: str) -> None:
        await client.expect(command, timeout=10)
        arrived[command] = time.monotonic()

    await owner.send("NS IDENTIFY slow-password")
    await other.send("PING :during")
    await asyncio.gather(wait(owner, "900"), wait(other, "PONG"))
    assert arrived["PONG"] < arrived["900"], arrived


@aio
async def test_replies_after_a_password_check_carry_the_label(
    shared_server: ServerProcess,
) -> None:
    account = unique("lbl")
    first = await register_with_nickserv(shared_server.port, account, "labelled-pw")
    await first.quit()
    client = await RawClient.connect(shared_server.port)
    await client.send("CAP LS 302", "CAP REQ :labeled-response batch message-tags")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await client.send("CAP END", f"NICK {unique('lb')}", "USER u 0 * :labels")
    await client.expect("001")
    await client.send(f"@label=ns1 PRIVMSG NickServ :IDENTIFY {account} labelled-pw")
    start = await client.expect("BATCH", timeout=10)
    assert start.tags is not None and start.tags.get("label") == "ns1", start.format()
    lines = await client.collect("BATCH", timeout=10)
    assert any(m.command == "900" for m in lines), [m.format() for m in lines]


@aio
async def test_long_password_by_multiline_register_then_sasl_in_chunks(
    shared_server: ServerProcess,
) -> None:
    """A password of about 590 bytes (irctest's testPlainLarge800): too long for one
    line, so NickServ REGISTER comes in a draft/multiline batch (read as one command),
    and SASL PLAIN takes it in two 400-byte chunks and a "+"."""
    account = unique("long")
    password = "x" * (598 - 2 * len(account))  # 800 bytes of base64 with the account twice
    client = await connect_registered(
        shared_server.port, account, caps=["batch", "draft/multiline"]
    )
    command = f"REGISTER {password}"
    chunks = [command[i : i + 300] for i in range(0, len(command), 300)]
    await client.send(
        "BATCH +r draft/multiline NickServ",
        *(
            f"@batch=r{';draft/multiline-concat' if i else ''} PRIVMSG NickServ :{chunk}"
            for i, chunk in enumerate(chunks)
        ),
        "BATCH -r",
    )
    created = await client.expect("NOTICE", timeout=10)
    assert created.params == [account, "Account created"], created.format()
    await client.quit()

    sasl = await RawClient.connect(shared_server.port)
    await sasl.send("CAP LS 302", "CAP REQ :sasl", f"NICK {unique('sl')}", "USER u 0 * :u")
    await sasl.send("AUTHENTICATE PLAIN")
    await sasl.expect("AUTHENTICATE", where=lambda m: m.params == ["+"])
    encoded = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()
    assert len(encoded) == 800
    await sasl.send(*(f"AUTHENTICATE {encoded[i : i + 400]}" for i in range(0, 800, 400)))
    await sasl.send("AUTHENTICATE +")
    done = await sasl.expect("903", "904", timeout=10)
    assert done.command == "903", done.format()
