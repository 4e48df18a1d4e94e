"""Hostile and broken clients against a real server process.

Every test ends by checking that the server still serves a well-behaved client,
and the conftest fails any test during which the server logged a traceback.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

from conftest import ServerProcess, ServerStarter

from .support import RawClient, aio, connect_registered, find, unique


async def still_serving(port: int, max_rtt: float = 1.0) -> RawClient:
    """A new client registers and gets a PING answered quickly."""
    client = await connect_registered(port)
    started = time.monotonic()
    await client.sync()
    rtt = time.monotonic() - started
    assert rtt < max_rtt, f"PING round trip took {rtt:.2f}s"
    return client


async def lusers(client: RawClient) -> dict[str, list[str]]:
    await client.send("LUSERS")
    lines = await client.collect("255", "266")
    await client.sync()
    return {m.command: m.params for m in lines}


async def settle_lusers(
    client: RawClient, users: int, unknown: int = 0, timeout: float = 10.0
) -> dict[str, list[str]]:
    """Poll LUSERS until it shows `users` registered and `unknown` unregistered."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await lusers(client)
        total = f"I have {users} clients"
        if total in counts["255"][-1] and counts["253"][1] == str(unknown):
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"LUSERS never settled to {users}/{unknown}: {counts}")
        await asyncio.sleep(0.2)


# --- oversized and malformed input -------------------------------------------------------


@aio
async def test_huge_line_without_newline(shared_server: ServerProcess) -> None:
    server = shared_server
    bystander = await connect_registered(server.port)
    client = await connect_registered(server.port)
    await client.send_bytes(b"PRIVMSG " + bystander.nick.encode() + b" :" + b"A" * 100_000)
    # The server answers 417 as soon as the buffer is over its limit ...
    too_long = await client.expect("417", "ERROR")
    # ... and meanwhile keeps serving everybody else.
    await bystander.sync()
    if too_long.command == "ERROR":
        await client.until_closed()
    else:
        # The rest of the oversized line is discarded up to its newline; then the
        # connection is usable again and nothing of the monster line was delivered.
        await client.send_bytes(b"B" * 20_000 + b"\r\n")
        await client.send(f"PRIVMSG {bystander.nick} :small again")
        got = await bystander.expect("PRIVMSG")
        assert got.params[-1] == "small again", got.format()
        await client.sync()
    await still_serving(server.port)


@aio
async def test_long_lines_with_newline(shared_server: ServerProcess) -> None:
    server = shared_server
    receiver = await connect_registered(server.port)
    client = await connect_registered(server.port)
    # Over the input limit with a newline: 417, line dropped, connection fine.
    await client.send(f"PRIVMSG {receiver.nick} :" + "x" * 20_000)
    await client.expect("417")
    # Over 512 bytes but within the limit: cut to 512, still delivered.
    await client.send(f"PRIVMSG {receiver.nick} :" + "y" * 600)
    got = await receiver.expect("PRIVMSG")
    assert set(got.params[-1]) == {"y"}
    assert len(receiver.raw[-1]) <= 510
    assert not find(await receiver.sync(), "PRIVMSG"), "the 20 KB line was delivered"
    # Tags beyond the 8191-byte limit: 417.
    await client.send("@+huge=" + "t" * 9000 + f" PRIVMSG {receiver.nick} :tagged")
    await client.expect("417")
    await client.sync()
    await still_serving(server.port)


@aio
async def test_binary_garbage(shared_server: ServerProcess) -> None:
    server = shared_server
    rng = random.Random(1234)
    bystander = await connect_registered(server.port)
    # Unregistered garbage: whatever happens, it must not hurt the server.
    garbage = await RawClient.connect(server.port)
    await garbage.send_bytes(bytes(rng.randrange(256) for _ in range(64 * 1024)))
    await garbage.send_bytes(b"\r\n" + os.urandom(4096) + b"\r\n")
    await asyncio.sleep(0.2)
    garbage.abort()
    # Registered garbage: lines of random bytes between valid commands.
    client = await connect_registered(server.port)
    for _ in range(5):
        noise = bytes(rng.randrange(1, 256) for _ in range(300)).replace(b"\n", b"")
        await client.send_bytes(noise + b"\r\n")
    await client.sync()
    await bystander.sync()
    await still_serving(server.port)


@aio
async def test_invalid_utf8_is_not_relayed_raw(shared_server: ServerProcess) -> None:
    server = shared_server
    channel = "#" + unique("utf")
    receiver = await connect_registered(server.port)
    sender = await connect_registered(server.port)
    for client in (receiver, sender):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await sender.send_bytes(f"PRIVMSG {channel} :bad ".encode() + b"\xff\xfe\xc3(" + b"\r\n")
    await sender.send_bytes(f"PRIVMSG {receiver.nick} :bad ".encode() + b"\xed\xa0\x80\r\n")
    await sender.send(f"PRIVMSG {channel} :good after bad")
    lines = await receiver.collect("PRIVMSG", timeout=5)
    while lines[-1].params[-1] != "good after bad":
        lines += await receiver.collect("PRIVMSG")
    start = len(receiver.raw) - len(lines)
    for raw in receiver.raw[start:]:
        raw.decode("utf-8")  # every line we are sent is valid UTF-8 (or it was dropped)
    await sender.sync()
    # A nick with invalid bytes is refused, not mangled into existence.
    await sender.send_bytes(b"NICK bad\xffnick\r\n")
    reply = await sender.expect("432", "FAIL", "NICK")
    assert reply.command != "NICK", reply.format()
    await still_serving(server.port)


@aio
async def test_nul_in_message_is_not_relayed(shared_server: ServerProcess) -> None:
    server = shared_server
    channel = "#" + unique("nul")
    receiver = await connect_registered(server.port)
    sender = await connect_registered(server.port)
    for client in (receiver, sender):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await sender.send_bytes(f"PRIVMSG {channel} :before".encode() + b"\x00after\r\n")
    await sender.send(f"PRIVMSG {channel} :marker")
    await receiver.expect("PRIVMSG", where=lambda m: m.params[-1] == "marker")
    assert not any(b"\x00" in raw for raw in receiver.raw), receiver.raw
    await sender.sync()


@aio
async def test_nul_in_nick(shared_server: ServerProcess) -> None:
    server = shared_server
    # NUL may be refused (432) or stripped; it must never become part of a nick.
    client = await connect_registered(server.port)
    await client.send_bytes(b"NICK nul\x00nick\r\n")
    lines = await client.sync()
    renamed = find(lines, "NICK")
    if renamed:
        assert renamed[0].params[0] == "nulnick", renamed[0].format()
    else:
        assert "432" in [m.command for m in lines], lines
    assert not any(b"\x00" in raw for raw in client.raw)


@aio
async def test_line_of_nul_bytes(shared_server: ServerProcess) -> None:
    server = shared_server
    client = await connect_registered(server.port)
    await client.send_bytes(b"\x00\x00\x00\r\n")
    await client.send_bytes(b"\x00\r\n\x00 \x00\r\n")
    await client.sync()  # still connected and answering
    await still_serving(server.port)


@aio
async def test_bare_lf_and_empty_lines(shared_server: ServerProcess) -> None:
    server = shared_server
    client = await RawClient.connect(server.port)
    nick = unique("lf")
    client.nick = nick
    await client.send_bytes(f"\n\r\n   \r\nNICK {nick}\nUSER lf 0 * :LF only\n".encode())
    await client.expect("001")
    await client.send_bytes(b"PING :bare\n")
    assert (await client.expect("PONG")).params[-1] == "bare"


# --- floods -------------------------------------------------------------------------------


@aio
async def test_flood_is_fake_lagged_without_hurting_others(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"limits": {"flood_burst": 10, "flood_rate": 5.0}})
    channel = "#" + unique("fl")
    watcher = await connect_registered(server.port)
    flooder = await connect_registered(server.port)
    other = await connect_registered(server.port)
    for client in (watcher, flooder, other):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await asyncio.sleep(2.5)  # let the flooder's bucket refill after registration
    started = time.monotonic()
    await flooder.send_bytes(
        b"".join(f"PRIVMSG {channel} :flood {i}\r\n".encode() for i in range(500))
    )
    # Others are served promptly while the flood is pending.
    rtts = []
    for _ in range(5):
        t0 = time.monotonic()
        await other.sync()
        rtts.append(time.monotonic() - t0)
        await asyncio.sleep(0.1)
    assert max(rtts) < 0.5, rtts
    await other.send(f"PRIVMSG {channel} :I can still talk")
    lines = await watcher.collect("PRIVMSG", timeout=2)
    while lines[-1].params[-1] != "I can still talk":
        lines += await watcher.collect("PRIVMSG", timeout=2)
    # Within ~1.5 s the flooder got about burst + rate * elapsed lines through, not 500.
    elapsed = time.monotonic() - started
    got = [m for m in lines if m.params[-1].startswith("flood ")]
    got += [m for m in await watcher.quiet(0.2) if m.params[-1].startswith("flood ")]
    allowed = 10 + 5.0 * (elapsed + 0.5) + 2
    assert 10 <= len(got) <= allowed, (len(got), elapsed)
    # The lagged lines are processed in order, not dropped.
    assert [m.params[-1] for m in got] == [f"flood {i}" for i in range(len(got))]
    await still_serving(server.port)


@aio
async def test_vanished_flooder_quits_promptly(ircpsyc_server: ServerStarter) -> None:
    # A flooder whose lines are still fake-lagged hangs up: the server must notice
    # the hang-up, drop its remaining lines and free the nick, not keep "talking" for it.
    server = ircpsyc_server({"limits": {"flood_burst": 10, "flood_rate": 5.0}})
    channel = "#" + unique("fv")
    watcher = await connect_registered(server.port)
    flooder = await connect_registered(server.port)
    for client in (watcher, flooder):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await flooder.send_bytes(
        b"".join(f"PRIVMSG {channel} :flood {i}\r\n".encode() for i in range(300))
    )
    await watcher.expect("PRIVMSG")
    flooder.abort()
    gone = await watcher.expect("QUIT", timeout=5)
    assert gone.source.startswith(flooder.nick + "!")
    await connect_registered(server.port, flooder.nick)


@aio
async def test_excess_flood_is_disconnected(ircpsyc_server: ServerStarter) -> None:
    # protocol.py means to drop a client with more than 64 KiB of unprocessed input
    # ("Excess Flood"); a client that pushes ~420 KB at once must meet that limit.
    server = ircpsyc_server({"limits": {"flood_burst": 5, "flood_rate": 1.0}})
    flooder = await connect_registered(server.port)
    data = b"".join(f"PRIVMSG nobody :{'z' * 200} {i}\r\n".encode() for i in range(2000))
    flooder.writer.write(data)  # do not drain: the server may stop reading us
    await still_serving(server.port, max_rtt=0.5)
    closing = await flooder.until_closed(timeout=8)
    errors = find(closing, "ERROR")
    assert errors and "flood" in errors[-1].params[-1].lower(), closing[-3:]
    await still_serving(server.port)


# --- half-open and vanishing clients ------------------------------------------------------


@aio
async def test_registration_timeout(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"registration_timeout": 1.5}})
    silent = await RawClient.connect(server.port)
    half = await RawClient.connect(server.port)
    nick = unique("half")
    await half.send(f"NICK {nick}")
    stalled = await RawClient.connect(server.port)  # CAP negotiation that never ends
    await stalled.send("CAP LS 302", f"NICK {unique('cap')}", "USER cap 0 * :cap")
    started = time.monotonic()
    for client in (silent, half, stalled):
        closing = await client.until_closed(timeout=6)
        error = find(closing, "ERROR")
        assert error, closing
        assert "registration timeout" in error[-1].params[-1].lower()
    assert time.monotonic() - started < 5
    # The half-registered nick is free again.
    again = await connect_registered(server.port, nick)
    assert (await lusers(again))["253"][1] == "0"


@aio
async def test_ping_timeout(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"ping_interval": 1.0, "ping_timeout": 1.5}})
    channel = "#" + unique("pt")
    mute = await connect_registered(server.port)
    alive = await connect_registered(server.port)
    for client in (mute, alive):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    # `alive` answers every PING; `mute` never does.
    ping = await alive.expect("PING", timeout=5)
    await alive.send(f"PONG :{ping.params[-1]}")
    closing = await mute.until_closed(timeout=8)
    assert find(closing, "PING"), closing
    error = find(closing, "ERROR")
    assert error and "ping timeout" in error[-1].params[-1].lower(), closing
    while True:
        m = await alive.expect("PING", "QUIT", timeout=5)
        if m.command == "QUIT":
            assert m.source.startswith(mute.nick + "!")
            assert "ping timeout" in m.params[-1].lower()
            break
        await alive.send(f"PONG :{m.params[-1]}")
    await alive.sync()


@aio
async def test_vanishing_mid_line_and_mid_registration(server: ServerProcess) -> None:
    channel = "#" + unique("van")
    watcher = await connect_registered(server.port)
    await watcher.send(f"JOIN {channel}")
    await watcher.expect("366")
    # Mid-line: a member sends half a message and its connection is reset.
    vanisher = await connect_registered(server.port)
    await vanisher.send(f"JOIN {channel}")
    await vanisher.expect("366")
    await watcher.expect("JOIN")
    await vanisher.send_bytes(f"PRIVMSG {channel} :half a mess".encode())
    vanisher.abort()
    quit_line = await watcher.expect("QUIT", "PRIVMSG")
    assert quit_line.command == "QUIT", "a partial line was delivered"
    assert quit_line.source.startswith(vanisher.nick + "!")
    # Mid-registration: NICK and half a USER, then gone.
    pending = await RawClient.connect(server.port)
    pending_nick = unique("pend")
    await pending.send(f"NICK {pending_nick}")
    await pending.send_bytes(b"USER half 0 *")
    await asyncio.sleep(0.1)
    pending.close()
    # Both nicks are free; nothing is left behind.
    await settle_lusers(watcher, users=1, unknown=0)
    for nick in (vanisher.nick, pending_nick):
        await connect_registered(server.port, nick)
    await watcher.send(f"NAMES {channel}")
    names = await watcher.collect("366")
    assert find(names, "353")[0].params[-1].split() == ["@" + watcher.nick]


@aio
async def test_thousand_connections_opened_and_dropped(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server(
        {"limits": {"max_per_ip": 5000, "max_clients": 5000, "flood_burst": 50}}
    )
    port = server.port
    channel = "#" + unique("many")
    gate = asyncio.Semaphore(64)
    failures: list[BaseException] = []

    async def one(i: int) -> None:
        async with gate:
            try:
                client = await RawClient.connect(port, timeout=15)
                kind = i % 4
                if kind == 1:
                    await client.send(f"NICK k{i}")
                elif kind == 2:
                    await client.send(f"NICK k{i}", "USER k 0 * :k")
                    await client.expect("001", timeout=15)
                    if i % 8 == 2:
                        await client.send(f"JOIN {channel}")
                        await client.expect("366", timeout=15)
                elif kind == 3:
                    await client.send_bytes(b"NICK k" + str(i).encode() + b"\r\nUSER k 0")
                client.drop(reset=bool(i % 3))  # mostly RST, some orderly FIN
            except BaseException as error:  # collected, reported below
                failures.append(error)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(1000)))
    elapsed = time.monotonic() - started
    assert not failures, failures[:5]
    checker = await still_serving(port)
    counts = await settle_lusers(checker, users=1, unknown=0)
    assert counts["254"][1] == "0", counts  # the crowd's channel is gone
    assert elapsed < 60, elapsed


# --- admission limits -----------------------------------------------------------------------


@aio
async def test_max_per_ip(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"max_per_ip": 3}})
    first = await connect_registered(server.port)
    others = [await RawClient.connect(server.port) for _ in range(2)]
    await first.sync()
    for _ in range(3):  # refused connections must not wear down the limit
        refused = await RawClient.connect(server.port)
        closing = await refused.until_closed(timeout=3)
        error = find(closing, "ERROR")
        assert error, closing
        assert "too many connections" in error[-1].params[-1].lower()
        await asyncio.sleep(0.05)
    # Closing one frees a slot.
    others[0].close()
    await asyncio.sleep(0.2)
    await connect_registered(server.port)
    refused = await RawClient.connect(server.port)
    assert find(await refused.until_closed(), "ERROR")


@aio
async def test_max_clients(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"max_clients": 2, "max_per_ip": 10}})
    first = await connect_registered(server.port)
    await connect_registered(server.port)
    await first.sync()
    for _ in range(3):
        refused = await RawClient.connect(server.port)
        closing = await refused.until_closed()
        error = find(closing, "ERROR")
        assert error, closing
        assert "full" in error[-1].params[-1].lower()
    first.close()
    await asyncio.sleep(0.2)
    await connect_registered(server.port)


# --- slow readers ------------------------------------------------------------------------------


@aio
async def test_slow_reader_sendq_exceeded(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"sendq_bytes": 131072, "flood_rate": 0}})
    channel = "#" + unique("slow")
    talker = await connect_registered(server.port)
    fast = await connect_registered(server.port)
    slow = await RawClient.connect(server.port, rcvbuf=4096)
    await slow.register(unique("slow"))
    for client in (talker, fast, slow):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await talker.sync()
    await fast.sync()
    slow.stop_reading()
    # The talker floods the channel in bursts; the fast reader keeps up with every
    # line while the slow reader's kernel buffers and then its send queue fill.
    # (Linux lets a socket buffer up to tcp_wmem's maximum before the queue grows.)
    with open("/proc/sys/net/ipv4/tcp_wmem") as fh:
        wmem_max = int(fh.read().split()[2])
    text = "x" * 400
    batch = 200
    limit = (2 * wmem_max + 4 * 131072) // (len(text) + 60) + batch
    sent = 0
    quit_reason = ""
    while not quit_reason and sent < limit:
        await talker.send(*(f"PRIVMSG {channel} :{i} {text}" for i in range(sent, sent + batch)))
        last = f"{sent + batch - 1} "
        while True:
            m = await fast.expect("PRIVMSG", "QUIT", timeout=10)
            if m.command == "QUIT":
                assert m.source.startswith(slow.nick + "!"), m.format()
                quit_reason = m.params[-1]
                continue
            assert m.params[-1].startswith(f"{sent} "), f"lost or reordered: {m.params[-1][:20]}"
            sent += 1
            if m.params[-1].startswith(last):
                break
    assert "sendq exceeded" in quit_reason.lower(), (quit_reason, sent)
    # The slow reader finds its connection gone when it finally reads.
    slow.resume_reading()
    try:
        await slow.until_closed(timeout=10)
    except ConnectionError:
        pass
    await talker.sync()
    await still_serving(server.port)


# Odd but well-formed lines: each must get an answer or be ignored, never an
# internal error (the dispatcher would answer FAIL ... INTERNAL_ERROR and log a traceback).
ODD_LINES = [
    ":only.a.prefix",
    "@only=tags",
    "@a=b;c :prefix",
    ": ",
    "PRIVMSG",
    "PRIVMSG :",
    "PRIVMSG @ :x",
    "PRIVMSG @+ :x",
    "PRIVMSG +# :x",
    "PRIVMSG #,# :x",
    "PRIVMSG {chan} :\x01ACTION\x01",
    "NOTICE ,,, :x",
    "TAGMSG {chan}",
    "MODE",
    "MODE #",
    "MODE {chan} +bbbbbbbbbb",
    "MODE {chan} +l -5",
    "MODE {chan} +l 99999999999999999999999",
    "MODE {chan} +k :",
    "MODE {chan} +ov",
    "MODE {chan} +o nobody",
    "MODE {chan} -b nomatch",
    "MODE {chan} :",
    "MODE {chan} +-+-",
    "MODE {nick} +",
    "MODE {nick} :",
    "JOIN ,,,",
    "JOIN #a,,#",
    "JOIN :",
    "JOIN # key",
    "PART ,",
    "PART :",
    "KICK # x",
    "KICK {chan} ,,",
    "KICK {chan} :",
    "TOPIC #",
    "TOPIC {chan} :" + "t" * 500,
    "NAMES ,",
    "NAMES :",
    "LIST >",
    "LIST <abc",
    "LIST >-1",
    "LIST !",
    "LIST ,",
    "LIST :",
    "INVITE a",
    "INVITE {nick} #nowhere",
    "WHO",
    "WHO %",
    "WHO :",
    "WHO {chan} %",
    "WHO {chan} %tcuihsnfdlaor,999",
    "WHO * o%n",
    "WHOIS :",
    "WHOIS ,",
    "WHOIS a b c",
    "WHOWAS x -5",
    "WHOWAS x notanumber",
    "WHOWAS :",
    "USERHOST",
    "USERHOST :",
    "ISON",
    "ISON :",
    "STATS :",
    "STATS zz",
    "STATS l",
    "VERSION :",
    "TIME *",
    "ADMIN nonexistent.example",
    "INFO {nick}",
    "LINKS * *",
    "CAP",
    "CAP REQ",
    "CAP REQ :",
    "CAP REQ :-",
    "CAP REQ :-bogus",
    "CAP LS abc",
    "CAP LIST extra",
    "NICK :",
    "NICK {nick}",
    "AWAY :",
    "PONG",
    "PONG :",
    "HELP",
    "HELP nonexistent",
    "OPER",
    "OPER a",
    "KILL",
    "WALLOPS",
    "USER a b c d",
    "PASS x",
    "PING :",
]


@aio
async def test_odd_lines_get_no_internal_error(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"flood_rate": 0}})  # ~200 lines: no fake lag
    client = await connect_registered(server.port)
    channel = "#" + unique("odd")
    await client.send(f"JOIN {channel}")
    await client.expect("366")
    for text in ODD_LINES:
        await client.send(text.replace("{chan}", channel).replace("{nick}", client.nick))
        lines = await client.sync()
        failures = [m for m in lines if m.command == "FAIL" and "INTERNAL_ERROR" in m.params]
        assert not failures, f"{text!r} -> {failures[0].format()}"
    # The same before registration: 451 or a real answer, never an internal error.
    early = await RawClient.connect(server.port)
    for text in ODD_LINES:
        await early.send(text.replace("{chan}", channel).replace("{nick}", "early"))
        lines = await early.sync()
        failures = [m for m in lines if m.command == "FAIL" and "INTERNAL_ERROR" in m.params]
        assert not failures, f"unregistered: {text!r} -> {failures[0].format()}"
    await still_serving(server.port)
