"""IRCv3 metadata (draft/metadata-2) against real server processes: subscriptions and
notifications, limits, channel metadata set by operators, METADATA before
registration, a person's metadata kept for its account across reconnects and
restarts, and two linked servers."""

from __future__ import annotations

import base64

from conftest import ServerFactory, ServerProcess, ServerStarter
from irctokens.line import Line

from .linking_support import LinkedNetwork
from .support import RawClient, aio, connect_registered, unique

CAPS = ["draft/metadata-2", "batch"]


def keyvalue(m: Line) -> tuple[str, str, str | None]:
    """(target, key, value) of a 761, or (target, key, None) of a 766."""
    if m.command == "766":
        return (m.params[1], m.params[2], None)
    assert m.command == "761", m.format()
    return (m.params[1], m.params[2], m.params[4])


async def answer(client: RawClient, timeout: float = 10.0) -> Line:
    return await client.expect("761", "766", "FAIL", timeout=timeout)


async def batch_of(client: RawClient, timeout: float = 10.0) -> list[Line]:
    """The lines of the next `metadata` batch."""
    start = await client.expect(
        "BATCH", where=lambda m: m.params[1:2] == ["metadata"], timeout=timeout
    )
    ref = start.params[0][1:]
    lines = await client.collect("BATCH", timeout=timeout)
    assert lines[-1].params == ["-" + ref], lines[-1].format()
    return lines[:-1]


async def joined(client: RawClient, channel: str) -> list[Line]:
    await client.send(f"JOIN {channel}")
    return await client.collect("366", timeout=10.0)


@aio
async def test_subscribers_hear_of_changes_others_do_not(shared_server: ServerProcess) -> None:
    port = shared_server.port
    alice = await connect_registered(port, unique("ma"), caps=CAPS)
    bob = await connect_registered(port, unique("mb"), caps=CAPS)
    carol = await connect_registered(port, unique("mc"), caps=CAPS)  # subscribes to nothing
    channel = unique("#meta")
    await bob.send("METADATA * SUB display-name avatar")
    ok = await bob.expect("770")
    assert ok.params[1:] == ["display-name", "avatar"]
    for client in (alice, bob, carol):
        await joined(client, channel)
    await alice.sync()

    await alice.send("METADATA * SET display-name :Alice A.")
    got = await answer(alice)
    assert keyvalue(got) == (alice.nick, "display-name", "Alice A.")
    note = await answer(bob)
    assert keyvalue(note) == (alice.nick, "display-name", "Alice A.")
    assert not [m for m in await carol.sync() if m.command in ("761", "766")]
    # A key bob did not subscribe to: nothing for him, but GET and LIST show it.
    await alice.send("METADATA * SET pronouns :she/her")
    await answer(alice)
    assert not [m for m in await bob.sync() if m.command in ("761", "766")]
    await bob.send(f"METADATA {alice.nick} GET pronouns display-name color")
    got_lines = await batch_of(bob)
    assert [keyvalue(m) for m in got_lines] == [
        (alice.nick, "pronouns", "she/her"),
        (alice.nick, "display-name", "Alice A."),
        (alice.nick, "color", None),
    ]
    await carol.send(f"METADATA {alice.nick} LIST")
    assert {keyvalue(m)[1:] for m in await batch_of(carol)} == {
        ("display-name", "Alice A."),
        ("pronouns", "she/her"),
    }
    # WHOIS shows it to sessions with the capability.
    await bob.send(f"WHOIS {alice.nick}")
    whois = await bob.collect("318")
    assert sorted(m.params[2] for m in whois if m.command == "760") == [
        "display-name",
        "pronouns",
    ]
    # Removing it: RPL_KEYNOTSET to alice and to bob.
    await alice.send("METADATA * SET display-name")
    assert keyvalue(await answer(alice)) == (alice.nick, "display-name", None)
    assert keyvalue(await answer(bob)) == (alice.nick, "display-name", None)
    # UNSUB, SUBS.
    await bob.send("METADATA * UNSUB avatar")
    assert (await bob.expect("771")).params[1:] == ["avatar"]
    await bob.send("METADATA * SUBS")
    subs = await bob.collect("BATCH", "772")
    lines = subs if subs[-1].command == "772" else await bob.collect("BATCH")
    assert [m.params[1:] for m in lines if m.command == "772"] == [["display-name"]]


@aio
async def test_limits_and_permissions(shared_server: ServerProcess) -> None:
    port = shared_server.port
    alice = await connect_registered(port, unique("la"), caps=CAPS)
    bob = await connect_registered(port, unique("lb"), caps=CAPS)
    ls = await RawClient.connect(port)
    await ls.send("CAP LS 302")
    tokens: list[str] = []
    while True:  # CAP LS 302 may continue over several lines ("*")
        caps_line = await ls.expect("CAP")
        tokens += caps_line.params[-1].split()
        if caps_line.params[2] != "*":
            break
    offered = dict([*tok.split("=", 1), ""][:2] for tok in tokens)
    value = dict(([*t.split("=", 1), ""])[:2] for t in offered["draft/metadata-2"].split(","))
    assert "before-connect" in value
    max_keys, max_bytes = int(value["max-keys"]), int(value["max-value-bytes"])
    max_subs = int(value["max-subs"])
    ls.close()

    async def fail(client: RawClient, text: str) -> list[str]:
        await client.send(text)
        got = await client.expect("FAIL", "761", "766", timeout=10.0)
        assert got.command == "FAIL", got.format()
        return got.params

    assert (await fail(alice, "METADATA * SET Bad$Key :x"))[:3] == [
        "METADATA",
        "KEY_INVALID",
        "Bad$Key",
    ]
    too_long = "x" * (max_bytes + 1)
    assert (await fail(alice, f"METADATA * SET avatar :{too_long}"))[:2] == [
        "METADATA",
        "INVALID_VALUE",
    ]
    await alice.send_bytes(b"METADATA * SET avatar :\xc3 broken\r\n")
    got = await alice.expect("FAIL", "761", timeout=10.0)
    assert got.command == "FAIL" and got.params[0] == "METADATA", got.format()
    assert (await fail(alice, "METADATA * SET avatar"))[:4] == [
        "METADATA",
        "KEY_NOT_SET",
        alice.nick,
        "avatar",
    ]
    assert (await fail(alice, f"METADATA {bob.nick} SET avatar :mine"))[:4] == [
        "METADATA",
        "KEY_NO_PERMISSION",
        bob.nick,
        "avatar",
    ]
    assert (await fail(alice, "METADATA nobody-here-at-all LIST"))[:3] == [
        "METADATA",
        "INVALID_TARGET",
        "nobody-here-at-all",
    ]
    assert (await fail(alice, "METADATA * DESTROY"))[:2] == ["METADATA", "SUBCOMMAND_INVALID"]
    for i in range(max_keys):
        await alice.send(f"METADATA * SET k{i} :{i}")
        assert (await answer(alice)).command == "761"
    assert (await fail(alice, "METADATA * SET one-more :x"))[:2] == ["METADATA", "LIMIT_REACHED"]
    # Subscriptions: the first key over the limit is named, the rest not processed.
    keys = [f"s{i}" for i in range(max_subs + 3)]
    await bob.send("METADATA * SUB " + " ".join(keys[:max_subs]))
    await bob.sync()
    await bob.send(f"METADATA * SUB s0 {keys[max_subs]} {keys[max_subs + 1]}")
    lines = await bob.sync()
    assert [m.params[1:] for m in lines if m.command == "770"] == [["s0"]]
    fails = [m.params for m in lines if m.command == "FAIL"]
    assert fails == [["METADATA", "TOO_MANY_SUBS", keys[max_subs], "too many subscriptions"]]
    # CLEAR: one RPL_KEYNOTSET per key, in a batch.
    await alice.send("METADATA * CLEAR")
    cleared = await batch_of(alice)
    assert len(cleared) == max_keys and {m.command for m in cleared} == {"766"}
    await alice.send("METADATA * LIST")
    assert await batch_of(alice) == []


@aio
async def test_channel_metadata_by_operators(shared_server: ServerProcess) -> None:
    port = shared_server.port
    op = await connect_registered(port, unique("co"), caps=CAPS)
    member = await connect_registered(port, unique("cm"), caps=CAPS)
    late = await connect_registered(port, unique("cl"), caps=CAPS)
    outsider = await connect_registered(port, unique("cx"), caps=CAPS)
    channel = unique("#chm")
    for client in (member, late):
        await client.send("METADATA * SUB url display-name")
        await client.expect("770")
    await joined(op, channel)
    await joined(member, channel)
    await op.sync()

    await member.send(f"METADATA {channel} SET url :https://nope.example/")
    denied = await member.expect("FAIL", timeout=10.0)
    assert denied.params[:4] == ["METADATA", "KEY_NO_PERMISSION", channel, "url"]
    await op.send(f"METADATA {channel} SET url :https://chan.example/")
    assert keyvalue(await answer(op)) == (channel, "url", "https://chan.example/")
    assert keyvalue(await answer(member)) == (channel, "url", "https://chan.example/")
    await op.send("METADATA * SET display-name :The Op")
    await answer(op)
    await answer(member)

    # A newcomer subscribed to the keys gets the channel's and its members' on JOIN.
    burst = await joined(late, channel)
    burst += await late.sync()
    shown = {keyvalue(m) for m in burst if m.command == "761"}
    assert shown == {
        (channel, "url", "https://chan.example/"),
        (op.nick, "display-name", "The Op"),
    }
    # Invite-only: outsiders learn nothing of it.
    await op.send(f"MODE {channel} +i")
    await op.expect("MODE")
    for sub in ("GET url", "LIST", "SYNC"):
        await outsider.send(f"METADATA {channel} {sub}")
        lines = await outsider.sync()
        assert lines, sub
        assert not [m for m in lines if "https://chan.example/" in m.params], sub
        assert next(m for m in lines if m.command == "FAIL").params[1] == "KEY_NO_PERMISSION"
    # SYNC for a member: the channel and the others, subscribed keys only.
    await member.send(f"METADATA {channel} SYNC")
    synced = {keyvalue(m) for m in await batch_of(member)}
    assert synced == {
        (channel, "url", "https://chan.example/"),
        (op.nick, "display-name", "The Op"),
    }
    await op.send(f"METADATA {channel} CLEAR")
    assert [keyvalue(m) for m in await batch_of(op)] == [(channel, "url", None)]
    assert keyvalue(await answer(member)) == (channel, "url", None)


@aio
async def test_metadata_before_registration(shared_server: ServerProcess) -> None:
    client = await RawClient.connect(shared_server.port)
    nick = unique("bc")
    await client.send("CAP LS 302", "CAP REQ :draft/metadata-2 batch")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await client.send("METADATA * SET display-name :Early Bird")
    early = await answer(client)
    assert early.command == "761" and early.params[1:] == ["*", "display-name", "*", "Early Bird"]
    await client.send("METADATA #chan LIST")
    assert (await client.expect("FAIL")).params[:2] == ["METADATA", "INVALID_TARGET"]
    await client.send(f"NICK {nick}", "USER u 0 * :u", "CAP END")
    burst = await client.collect("376", "422")
    start = [m for m in burst if m.command == "BATCH" and m.params[1:2] == ["metadata"]]
    assert start and start[0].params[2] == nick
    assert [keyvalue(m) for m in burst if m.command == "761"] == [
        (nick, "display-name", "Early Bird")
    ]


def sasl_plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def register_account(port: int, nick: str, password: str) -> RawClient:
    client = await connect_registered(port, nick, caps=CAPS)
    await client.send(f"PRIVMSG NickServ :REGISTER {password}")
    await client.expect("900", timeout=10.0)
    return client


async def sasl_client(port: int, account: str, password: str) -> tuple[RawClient, list[Line]]:
    """Log in with SASL during registration; the registration burst."""
    client = await RawClient.connect(port)
    client.nick = unique("sa")
    await client.send("CAP LS 302", "CAP REQ :sasl draft/metadata-2 batch")
    await client.expect("CAP", where=lambda m: m.params[1] == "ACK")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE " + sasl_plain(account, password))
    await client.expect("903", timeout=10.0)
    await client.send(f"NICK {client.nick}", "USER u 0 * :u", "CAP END")
    return client, await client.collect("376", "422", timeout=10.0)


@aio
async def test_kept_for_the_account_across_reconnects_and_restarts(
    ircpsyc_server: ServerStarter,
) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    account = unique("keep")
    owner = await register_account(first.port, account, "pw-kept-1")
    await owner.send("METADATA * SET avatar :https://example.com/a.png")
    await answer(owner)
    await owner.quit()

    # Logging in after registering (NickServ IDENTIFY) brings it back, and what was
    # set before logging in is kept too.
    again = await connect_registered(first.port, unique("k2"), caps=CAPS)
    await again.send("METADATA * SET color :#00ff00")
    await answer(again)
    await again.send(f"PRIVMSG NickServ :IDENTIFY {account} pw-kept-1")
    await again.expect("900", timeout=10.0)
    await again.sync()
    await again.send("METADATA * LIST")
    assert {keyvalue(m)[1:] for m in await batch_of(again)} == {
        ("avatar", "https://example.com/a.png"),
        ("color", "#00ff00"),
    }
    await again.quit()
    first.stop()

    second = ircpsyc_server({"storage": {"path": storage}})
    _client, burst = await sasl_client(second.port, account, "pw-kept-1")
    assert {keyvalue(m)[1:] for m in burst if m.command == "761"} == {
        ("avatar", "https://example.com/a.png"),
        ("color", "#00ff00"),
    }
    # A person without an account keeps nothing.
    guest = await connect_registered(second.port, unique("g"), caps=CAPS)
    await guest.send("METADATA * LIST")
    assert await batch_of(guest) == []


def test_two_linked_servers(factory: ServerFactory) -> None:
    net = LinkedNetwork(factory, 2, [(0, 1)])
    net.start()
    home, other = net.names

    @aio
    async def run() -> None:
        await net.wait_converged()
        channel = net.homed(home, "#lm")
        account = unique("lacc")
        alice = await register_account(net.port(home), account, "pw-linked")
        bob = await connect_registered(net.port(other), unique("lb"), caps=CAPS)
        await bob.send("METADATA * SUB display-name url")
        await bob.expect("770")
        await joined(alice, channel)
        await joined(bob, channel)
        await alice.send("METADATA * SET display-name :Alice Far")
        await answer(alice)
        note = await answer(bob)
        assert keyvalue(note) == (alice.nick, "display-name", "Alice Far")
        await bob.send(f"METADATA {alice.nick} GET display-name")
        assert [keyvalue(m) for m in await batch_of(bob)] == [
            (alice.nick, "display-name", "Alice Far")
        ]
        # Channel metadata: set at the home by its op, seen on the other server.
        await alice.send(f"METADATA {channel} SET url :https://linked.example/")
        assert keyvalue(await answer(alice)) == (channel, "url", "https://linked.example/")
        assert keyvalue(await answer(bob)) == (channel, "url", "https://linked.example/")
        await bob.send(f"METADATA {channel} LIST")
        assert [keyvalue(m) for m in await batch_of(bob)] == [
            (channel, "url", "https://linked.example/")
        ]
        # A newcomer on the other server gets the channel's and alice's keys on JOIN.
        carol = await connect_registered(net.port(other), unique("lc"), caps=CAPS)
        await carol.send("METADATA * SUB display-name url")
        await carol.expect("770")
        burst = await joined(carol, channel)
        burst += await carol.sync()
        assert {keyvalue(m) for m in burst if m.command == "761"} == {
            (channel, "url", "https://linked.example/"),
            (alice.nick, "display-name", "Alice Far"),
        }
        # Bob is no op there: the home refuses (his server says so at once).
        await bob.send(f"METADATA {channel} SET url :https://mine.example/")
        assert (await bob.expect("FAIL", timeout=10.0)).params[1] == "KEY_NO_PERMISSION"
        # An op on the other server: the request goes to the home, which answers.
        await alice.send(f"MODE {channel} +o {bob.nick}")
        await bob.expect("MODE", timeout=10.0)
        await bob.send(f"METADATA {channel} SET topic-url :https://bob.example/")
        assert keyvalue(await answer(bob)) == (channel, "topic-url", "https://bob.example/")
        await alice.send(f"METADATA {channel} GET topic-url")
        assert [keyvalue(m) for m in await batch_of(alice)] == [
            (channel, "topic-url", "https://bob.example/")
        ]
        # Alice's metadata was copied for her account: she finds it on the other server.
        await alice.quit()
        _client, burst = await sasl_client(net.port(other), account, "pw-linked")
        assert {keyvalue(m)[1:] for m in burst if m.command == "761"} == {
            ("display-name", "Alice Far")
        }

    run()


@aio
async def test_a_registered_channel_keeps_its_metadata(ircpsyc_server: ServerStarter) -> None:
    first = ircpsyc_server()
    storage = first.config["storage"]["path"]
    founder = unique("cf")
    channel = unique("#ckm")
    alice = await register_account(first.port, founder, "pw-founder")
    await joined(alice, channel)
    await alice.send(f"CS REGISTER {channel}")
    await alice.expect("NOTICE", where=lambda m: "is now registered" in m.params[-1])
    await alice.send(f"METADATA {channel} SET url :https://kept.example/")
    assert keyvalue(await answer(alice)) == (channel, "url", "https://kept.example/")
    await alice.send(f"METADATA {channel} SET display-name :Kept")
    await answer(alice)
    await alice.send(f"METADATA {channel} SET display-name")
    assert keyvalue(await answer(alice)) == (channel, "display-name", None)
    first.stop()

    second = ircpsyc_server({"storage": {"path": storage}})
    stranger = await connect_registered(second.port, caps=CAPS)
    await stranger.send(f"METADATA {channel} LIST")
    assert [keyvalue(m) for m in await batch_of(stranger)] == [
        (channel, "url", "https://kept.example/")
    ]


@aio
async def test_a_dropped_account_keeps_no_metadata(shared_server: ServerProcess) -> None:
    account = unique("drop")
    owner = await register_account(shared_server.port, account, "pw-drop-1")
    await owner.send("METADATA * SET avatar :https://example.com/old.png")
    await answer(owner)
    await owner.send("NS DROP pw-drop-1")
    await owner.expect("NOTICE", where=lambda m: "has been dropped" in m.params[-1])
    await owner.quit()
    again = await register_account(shared_server.port, account, "pw-drop-2")
    await again.send("METADATA * LIST")
    assert await batch_of(again) == []
