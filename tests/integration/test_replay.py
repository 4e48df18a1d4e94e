"""What each device missed, and read markers, against a real server process.

Devices are told apart by the client id of SASL `account@device`; each gets,
without asking, the channel lines and private messages it has not seen
(ircpsyc.ircd.replay).  Read markers are draft/read-marker (MARKREAD).
"""

from __future__ import annotations

import asyncio
import base64
import re

from conftest import ServerProcess, ServerStarter
from irctokens.line import Line

from .support import RawClient, aio, connect_registered, find, show, unique

TIMED = ["batch", "server-time", "message-tags"]
MARKER = "draft/read-marker"
PASSWORD = "replay-pass"
TS = "2024-05-06T07:08:09.123Z"


async def register(port: int, account: str, always_on: bool = False) -> None:
    """Create `account` (NickServ REGISTER) and leave: its person's last disconnect.

    Most tests here are about a device's replay when it JOINs, so the account is not
    always-on (its person leaves with its last connection); with `always_on` the
    person stays and a device that comes back gets its replay in the attach burst."""
    client = await connect_registered(port, account)
    await client.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    await client.expect("900")
    if not always_on:
        await client.send("PRIVMSG NickServ :SET ALWAYS-ON OFF")
        await client.expect("NOTICE", where=lambda m: "Always-on" in m.params[-1])
    await client.quit()


async def sasl(
    port: int, nick: str, account: str, device: str = "", caps: list[str] | None = None
) -> tuple[RawClient, list[Line]]:
    """Log in by SASL PLAIN as `account@device`; the client and its burst to MOTD's end."""
    client = await RawClient.connect(port)
    client.nick = nick
    wanted = ["sasl", *(caps or [])]
    await client.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :device user")
    await client.expect("CAP", where=lambda m: m.params[1] == "LS" and m.params[2] != "*")
    await client.send(f"CAP REQ :{' '.join(wanted)}")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    authcid = f"{account}@{device}" if device else account
    token = base64.b64encode(f"\0{authcid}\0{PASSWORD}".encode()).decode()
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE " + token, "CAP END")
    lines = await client.collect("376", "422", timeout=10)
    assert find(lines, "903"), lines
    return client, lines


async def with_pass(port: int, account: str, device: str) -> tuple[RawClient, list[Line]]:
    """Log in as irssi does without SASL: `PASS account@device:password`, no CAP."""
    client = await RawClient.connect(port)
    client.nick = account
    await client.send(f"PASS {account}@{device}:{PASSWORD}", f"NICK {account}", "USER u 0 * :irssi")
    lines = await client.collect("376", "422", timeout=10)
    assert find(lines, "900"), lines
    return client, lines


def batched(lines: list[Line], target: str) -> list[str]:
    """The texts of the chathistory batch(es) for `target` in `lines`."""
    refs = {
        m.params[0][1:]
        for m in lines
        if m.command == "BATCH"
        and m.params[0].startswith("+")
        and m.params[1:] == ["chathistory", target]
    }
    return [
        m.params[-1]
        for m in lines
        if m.command == "PRIVMSG" and m.tags and m.tags.get("batch") in refs
    ]


async def join(client: RawClient, channel: str) -> list[Line]:
    await client.send(f"JOIN {channel}")
    lines = await client.collect("366")
    return lines + await client.sync()


@aio
async def test_each_device_gets_only_what_it_missed(shared_server: ServerProcess) -> None:
    port = shared_server.port
    account, chan = unique("dev"), "#" + unique("devc")
    await register(port, account)
    talker = await connect_registered(port, unique("talk"))
    await join(talker, chan)

    laptop, _ = await sasl(port, account, account, "laptop", TIMED)
    await join(laptop, chan)
    await laptop.quit()
    phone, _ = await sasl(port, account, account, "phone", TIMED)
    await join(phone, chan)
    await phone.quit()

    await talker.send(f"PRIVMSG {chan} :first while both were gone")
    await talker.sync()
    laptop, _ = await sasl(port, account, account, "laptop", TIMED)
    assert batched(await join(laptop, chan), chan) == ["first while both were gone"]
    await laptop.quit()

    await talker.send(f"PRIVMSG {chan} :second, the laptop left again")
    await talker.sync()
    phone, _ = await sasl(port, account, account, "phone", TIMED)
    assert batched(await join(phone, chan), chan) == [
        "first while both were gone",
        "second, the laptop left again",
    ]
    await phone.quit()
    laptop, _ = await sasl(port, account, account, "laptop", TIMED)
    # It saw the first line already: only the second is new to it.
    assert batched(await join(laptop, chan), chan) == ["second, the laptop left again"]


@aio
async def test_a_plain_client_gets_the_original_lines_with_their_time(
    shared_server: ServerProcess,
) -> None:
    """irssi and WeeChat by default: no batch, no server-time (here irssi's way to log
    in, PASS with a client id).  Each missed line comes from its sender to its own
    window, the time before the text; no server NOTICE."""
    port = shared_server.port
    account, chan = unique("pl"), "#" + unique("plc")
    await register(port, account)
    talker = await connect_registered(port, unique("talk"))
    await join(talker, chan)
    me, _ = await with_pass(port, account, "irssi")
    await join(me, chan)
    await me.quit()
    await talker.send(f"PRIVMSG {chan} :said in the channel", f"PRIVMSG {account} :a word for you")
    await talker.sync()

    me, burst = await with_pass(port, account, "irssi")
    burst += await me.sync()
    stamp = r"\[\d\d:\d\d\] "
    private = [m for m in burst if m.command == "PRIVMSG"]
    assert [(m.source.split("!")[0], m.params[0]) for m in private] == [(talker.nick, account)]
    assert re.fullmatch(stamp + "a word for you", private[0].params[1]), private[0].format()
    joined = await join(me, chan)
    said = [m for m in joined if m.command == "PRIVMSG"]
    assert [(m.source.split("!")[0], m.params[0]) for m in said] == [(talker.nick, chan)]
    assert re.fullmatch(stamp + "said in the channel", said[0].params[1]), said[0].format()
    texts = [m.params[-1] for m in burst + joined if m.command == "NOTICE"]
    assert not any("a word for you" in t or "said in the channel" in t for t in texts), texts


@aio
async def test_a_chathistory_client_fetches_channel_lines_but_gets_the_away_log(
    shared_server: ServerProcess,
) -> None:
    port = shared_server.port
    account, chan = unique("ch"), "#" + unique("chc")
    caps = [*TIMED, "draft/chathistory"]
    await register(port, account)
    talker = await connect_registered(port, unique("talk"))
    await join(talker, chan)
    me, _ = await sasl(port, account, account, "goguma", caps)
    await join(me, chan)
    await me.quit()
    await talker.send(f"PRIVMSG {chan} :nothing about anyone", f"PRIVMSG {account} :psst")
    await talker.sync()

    me, burst = await sasl(port, account, account, "goguma", caps)
    burst += await me.sync()
    assert batched(burst, talker.nick) == ["psst"]  # the away log's private message
    joined = await join(me, chan)
    assert not [m for m in joined if m.command == "PRIVMSG"], joined
    assert not [m for m in joined if m.command == "BATCH"], joined


@aio
async def test_a_line_is_shown_once_not_in_the_away_log_and_the_replay_too(
    shared_server: ServerProcess,
) -> None:
    port = shared_server.port
    account, chan = unique("once"), "#" + unique("oncec")
    await register(port, account)
    talker = await connect_registered(port, unique("talk"))
    await join(talker, chan)
    me, _ = await sasl(port, account, account, "pc", TIMED)
    await join(me, chan)
    await me.quit()
    await talker.send(f"PRIVMSG {chan} :{account}: a mention", f"PRIVMSG {account} :private")
    await talker.sync()
    me, burst = await sasl(port, account, account, "pc", TIMED)
    burst += await me.sync()
    burst += await join(me, chan)
    texts = [m.params[-1] for m in burst if m.command == "PRIVMSG"]
    assert sorted(texts) == sorted([f"{account}: a mention", "private"]), texts


@aio
async def test_read_markers_reach_the_account_s_other_connections(
    shared_server: ServerProcess,
) -> None:
    port = shared_server.port
    account, chan = unique("rm"), "#" + unique("rmc")
    await register(port, account)
    one, _ = await sasl(port, account, account, "one", [MARKER])
    other, _ = await sasl(port, unique("rm2"), account, "two", [MARKER])
    lines = await join(one, chan)
    assert [m.params for m in find(lines, "MARKREAD")] == [[chan, "*"]]
    commands = [m.command for m in lines]
    assert commands.index("MARKREAD") < commands.index("366"), commands
    # The other connection is a session of the same person (multiclient): it joined too.
    seen = await other.collect("366")
    assert [m.params for m in find(seen, "MARKREAD")] == [[chan, "*"]]

    await one.send(f"MARKREAD {chan} timestamp={TS}")
    assert (await one.expect("MARKREAD")).params == [chan, f"timestamp={TS}"]
    assert (await other.expect("MARKREAD")).params == [chan, f"timestamp={TS}"]
    # Never backwards: an older time answers the marker as it is, and tells nobody.
    await other.send(f"MARKREAD {chan} timestamp=2020-01-01T00:00:00.000Z")
    assert (await other.expect("MARKREAD")).params == [chan, f"timestamp={TS}"]
    assert not find(await one.sync(), "MARKREAD")
    await other.send("MARKREAD")
    fail = await other.expect("FAIL")
    assert fail.params[:2] == ["MARKREAD", "NEED_MORE_PARAMS"]
    for bad in ("*", "timestamp=0001-01-01T00:00:00.000Z", "timestamp=9999-99-99T00:00:00Z"):
        await other.send(f"MARKREAD {chan} {bad}")
        assert (await other.expect("FAIL")).params[:2] == ["MARKREAD", "INVALID_PARAMS"]
    await other.send(f"MARKREAD {chan} timestamp=9999-12-31T23:59:59.999Z")
    assert (await other.expect("MARKREAD")).params == [chan, "timestamp=9999-12-31T23:59:59.999Z"]


@aio
async def test_markers_and_what_a_device_saw_survive_a_restart(
    ircpsyc_server: ServerStarter,
) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    account, chan = unique("rs"), "#" + unique("rsc")
    await register(first.port, account)
    me, _ = await sasl(first.port, account, account, "desk", [MARKER, *TIMED])
    await join(me, chan)
    await me.send(f"MARKREAD {chan} timestamp={TS}")
    await me.expect("MARKREAD")
    talker = await connect_registered(first.port, unique("talk"))
    await join(talker, chan)
    await talker.send(f"PRIVMSG {chan} :seen live before the restart")
    await me.expect("PRIVMSG")
    # What a device saw is kept to the ms before it left (a line of that very ms is
    # shown again rather than lost): leave a few ms after the line.
    await asyncio.sleep(0.01)
    await me.quit()
    first.stop()  # SIGTERM: the store is flushed and closed

    second = ircpsyc_server({"storage": {"path": storage}})
    me, _ = await sasl(second.port, account, account, "desk", [MARKER, *TIMED])
    await me.send(f"MARKREAD {chan}")
    assert (await me.expect("MARKREAD")).params == [chan, f"timestamp={TS}"]
    lines = await join(me, chan)
    assert [m.params for m in find(lines, "MARKREAD")] == [[chan, f"timestamp={TS}"]]
    assert batched(lines, chan) == []  # the desk saw that line live


@aio
async def test_a_device_that_attaches_gets_what_it_missed_in_the_person_s_channels(
    shared_server: ServerProcess,
) -> None:
    """The phone stays online; the laptop, gone meanwhile, attaches to the same person
    (multiclient): after the JOIN burst (with the channel's read marker) it gets the
    lines of the person's channels it has not seen; the phone gets nothing again."""
    port = shared_server.port
    account, chan = unique("at"), "#" + unique("atc")
    caps = [*TIMED, MARKER]
    await register(port, account)
    talker = await connect_registered(port, unique("talk"))
    await join(talker, chan)
    laptop, _ = await sasl(port, account, account, "laptop", caps)
    await join(laptop, chan)
    await laptop.send(f"MARKREAD {chan} timestamp={TS}")
    await laptop.expect("MARKREAD")
    await laptop.quit()
    phone, _ = await sasl(port, account, account, "phone", caps)
    await join(phone, chan)
    await talker.send(f"PRIVMSG {chan} :while the laptop was away")
    await phone.expect("PRIVMSG")

    laptop, burst = await sasl(port, account, account, "laptop", caps)
    burst += await laptop.sync()
    commands = [m.command for m in burst]
    assert [m.params for m in find(burst, "MARKREAD")] == [[chan, f"timestamp={TS}"]]
    assert commands.index("JOIN") < commands.index("MARKREAD") < commands.index("366")
    assert batched(burst, chan) == ["while the laptop was away"]
    assert not [m for m in await phone.sync() if m.command in ("PRIVMSG", "BATCH")]


@aio
async def test_read_markers_reach_separate_persons_of_one_account(
    shared_server: ServerProcess,
) -> None:
    """With NS SET MULTICLIENT OFF a second connection is a person of its own, under
    another nick; a marker set by one is still told to the other."""
    port = shared_server.port
    account = unique("so")
    first = await connect_registered(port, account, caps=[MARKER])
    await first.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    await first.expect("900")
    await first.send("PRIVMSG NickServ :SET MULTICLIENT OFF")
    await first.expect("NOTICE", where=lambda m: "OFF" in m.params[-1])
    second, burst = await sasl(port, unique("so2"), account, "two", [MARKER])
    assert find(burst, "001")[0].params[0] != account  # not attached: its own nick
    await second.send(f"MARKREAD {account}x timestamp={TS}")
    assert (await second.expect("MARKREAD")).params == [f"{account}x", f"timestamp={TS}"]
    assert (await first.expect("MARKREAD")).params == [f"{account}x", f"timestamp={TS}"]


@aio
async def test_an_always_on_person_s_device_gets_what_it_missed_when_it_comes_back(
    shared_server: ServerProcess,
) -> None:
    """The usual case: the person stays in its channels while no device is connected;
    the laptop that comes back gets the channel lines it missed in its attach burst,
    once, and the live stream after them."""
    port = shared_server.port
    account, chan = unique("aw"), "#" + unique("awc")
    await register(port, account, always_on=True)
    talker = await connect_registered(port, unique("talk"))
    await join(talker, chan)
    laptop, _ = await sasl(port, account, account, "laptop", TIMED)
    await join(laptop, chan)
    await laptop.quit()
    await talker.send(f"PRIVMSG {chan} :said while nobody was connected")
    await talker.sync()

    laptop, burst = await sasl(port, account, account, "laptop", TIMED)
    burst += await laptop.sync()
    assert find(burst, "JOIN")[0].params[0] == chan
    assert batched(burst, chan) == ["said while nobody was connected"]
    await talker.send(f"PRIVMSG {chan} :and now live")
    live = await laptop.expect("PRIVMSG")
    assert live.params == [chan, "and now live"] and "batch" not in (live.tags or {})


@aio
async def test_an_always_on_person_s_private_line_is_shown_once_when_it_comes_back(
    shared_server: ServerProcess,
) -> None:
    """Coming back takes the automatic away back, which replays the away log; the
    device replay shows the same private line: the device sees it once (irssi's way:
    PASS with a client id, no CAP)."""
    port = shared_server.port
    account = unique("ao")
    await register(port, account, always_on=True)
    me, _ = await with_pass(port, account, "irssi")
    await me.quit()
    talker = await connect_registered(port, unique("talk"))
    await talker.send(f"PRIVMSG {account} :are you there?")
    await talker.expect("301")  # away: kept for it

    me, burst = await with_pass(port, account, "irssi")
    burst += await me.sync()
    said = [m for m in burst if m.command == "PRIVMSG" and m.params[0] == account]
    assert [m.params[1].endswith("] are you there?") for m in said] == [True], show(burst)
