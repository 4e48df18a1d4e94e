"""Raw-socket conversations with a real server: the RFC 2812 commands and IRCv3 caps.

Most tests share one server per module (each uses its own nicks and channels);
tests that count users or change the configuration start their own.
"""

from __future__ import annotations

import re
import time

from conftest import (
    MOTD,
    NETWORK,
    OPER_NAME,
    OPER_PASSWORD,
    SERVER_NAME,
    ServerProcess,
    ServerStarter,
)

from .support import RawClient, aio, connect_registered, find, numerics, unique

SERVER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def channel_with(
    port: int, *nicks: str, name: str | None = None
) -> tuple[str, list[RawClient]]:
    """A fresh channel; the first client creates it (and is op), the others join."""
    channel = name or "#" + unique("c")
    clients = []
    for nick in nicks:
        client = await connect_registered(port, nick)
        await client.send(f"JOIN {channel}")
        await client.expect("366")
        clients.append(client)
    # Everyone has seen everyone join once the last joiner is visible to the first.
    for client in clients[:-1]:
        await client.expect("JOIN", where=lambda m, n=nicks[-1]: m.source.startswith(n + "!"))
    return channel, clients


# --- registration ---------------------------------------------------------------


@aio
async def test_registration_burst(server: ServerProcess) -> None:
    nick = unique("reg")
    client = await RawClient.connect(server.port)
    burst = await client.register(nick, user="alice", realname="Alice Liddell")
    got = numerics(burst)
    # RFC 2812 5.1 and modern ircdocs: welcome, LUSERS and MOTD, in this order.
    expected_order = ["001", "002", "003", "004", "005", "251", "375", "372", "376"]
    positions = [got.index(n) for n in expected_order]
    assert positions == sorted(positions), got
    for n in ("252", "253", "254", "255"):
        assert n in got, (n, got)
    welcome = find(burst, "001")[0]
    assert welcome.source == SERVER_NAME
    assert welcome.params[0] == nick
    assert f"{nick}!" in welcome.params[-1]
    assert NETWORK in welcome.params[-1]
    myinfo = find(burst, "004")[0]
    assert myinfo.params[1] == SERVER_NAME
    assert len(myinfo.params) >= 5
    tokens: dict[str, str] = {}
    for isupport in find(burst, "005"):
        assert isupport.params[-1] == "are supported by this server"
        for token in isupport.params[1:-1]:
            key, _, value = token.partition("=")
            tokens[key] = value
    assert tokens["NETWORK"] == NETWORK
    assert tokens["CHANTYPES"] == "#"
    modes, _, symbols = tokens["PREFIX"][1:].partition(")")
    assert dict(zip(modes, symbols, strict=True)).items() >= {("o", "@"), ("v", "+")}
    assert tokens["CASEMAPPING"] in ("rfc1459", "ascii", "rfc1459-strict")
    assert "CHANMODES" in tokens and "STATUSMSG" in tokens
    assert int(tokens["NICKLEN"]) >= 9
    motd = [m.params[-1] for m in find(burst, "372")]
    assert [t.removeprefix("- ") for t in motd] == MOTD.splitlines()
    luserclient = find(burst, "251")[0].params[-1]
    assert "1 users" in luserclient or "0 users and 1 invisible" in luserclient, luserclient
    # A registered client may not register again.
    await client.send("USER again 0 * :Again")
    assert (await client.expect("462")).params[0] == nick


@aio
async def test_registration_errors(shared_server: ServerProcess) -> None:
    port = shared_server.port
    taken = await connect_registered(port)
    client = await RawClient.connect(port)
    await client.send("PRIVMSG nobody :hi")
    assert (await client.expect("451")).params[0] == "*"
    await client.send("NICK")
    await client.expect("431")
    await client.send("NICK 9invalid")
    await client.expect("432", where=lambda m: m.params[1] == "9invalid")
    await client.send(f"NICK {taken.nick}")
    await client.expect("433", where=lambda m: m.params[1] == taken.nick)
    await client.send("USER onlytwo 0")
    await client.expect("461", where=lambda m: m.params[1] == "USER")
    nick = unique("late")
    await client.send(f"NICK {nick}", "USER late 0 * :Late Registrant")
    await client.expect("001")
    await client.expect("376", "422")
    await client.send("PASS toolate")
    await client.expect("462")
    await client.send("FOOBAR baz")
    await client.expect("421", where=lambda m: m.params[1] == "FOOBAR")


@aio
async def test_nick_in_use_case_insensitive_and_nick_change(shared_server: ServerProcess) -> None:
    port = shared_server.port
    _, (alice, bob) = await channel_with(port, unique("Al"), unique("Bo"))
    other = await RawClient.connect(port)
    await other.send(f"NICK {alice.nick.upper()}")
    await other.expect("433")
    new = unique("Renamed")
    await alice.send(f"NICK {new}")
    own = await alice.expect("NICK")
    assert own.source.startswith(alice.nick + "!") and own.params[0] == new
    seen = await bob.expect("NICK")
    assert seen.source.startswith(alice.nick + "!") and seen.params[0] == new
    # The old nick is free again, the new one is taken.
    await other.send(f"NICK {alice.nick}", "USER other 0 * :Other")
    await other.expect("001")
    await bob.send(f"NICK {new}")
    await bob.expect("433")


@aio
async def test_ping_pong_and_quit(shared_server: ServerProcess) -> None:
    _, (alice, bob) = await channel_with(shared_server.port, unique("q"), unique("q"))
    await alice.send("PING :some token")
    pong = await alice.expect("PONG")
    assert pong.params[-1] == "some token"
    await bob.send("QUIT :gone fishing")
    error = await bob.expect("ERROR")
    assert "gone fishing" in error.params[-1] or "Quit" in error.params[-1]
    await bob.until_closed()
    quit_line = await alice.expect("QUIT")
    assert quit_line.source.startswith(bob.nick + "!")
    assert "gone fishing" in quit_line.params[0]


# --- channels -----------------------------------------------------------------------


@aio
async def test_join_several_channels_with_keys(shared_server: ServerProcess) -> None:
    port = shared_server.port
    op = await connect_registered(port)
    a, b, c = ("#" + unique("k") for _ in range(3))
    await op.send(f"JOIN {a},{b} keyA,keyB")
    for channel in (a, b):
        joined = await op.expect("JOIN", where=lambda m, ch=channel: m.params[0] == ch)
        assert joined.source.startswith(op.nick + "!")
        names = await op.expect("353", where=lambda m, ch=channel: m.params[2] == ch)
        assert names.params[-1] == "@" + op.nick
        await op.expect("366")
    # A key given on JOIN of a new channel does not set +k (RFC 2812 3.2.1): set it.
    await op.send(f"MODE {a} +k keyA", f"MODE {b} +k keyB")
    await op.expect("MODE", where=lambda m: m.params[0] == a)
    await op.expect("MODE", where=lambda m: m.params[0] == b)

    guest = await connect_registered(port)
    await guest.send(f"JOIN {a},{b} wrong,keyB")
    bad = await guest.expect("475")
    assert bad.params[1] == a
    await guest.expect("JOIN", where=lambda m: m.params[0] == b)
    await guest.send(f"JOIN {a},{c} keyA")
    await guest.expect("JOIN", where=lambda m: m.params[0] == a)
    await guest.expect("JOIN", where=lambda m: m.params[0] == c)
    await guest.expect("366", where=lambda m: m.params[1] == c)
    seen = await op.expect("JOIN", where=lambda m: m.params[0] == a)
    assert seen.source.startswith(guest.nick + "!")
    await guest.send(f"JOIN #bad\x07name,{'#' + 'x' * 80}")
    errors = await guest.sync()
    assert set(numerics(errors)) <= {"403", "479", "476"} and len(numerics(errors)) == 2, errors
    await guest.send("JOIN nohash")
    await guest.expect("403", "476", "479")


@aio
async def test_join_zero_parts_everything(shared_server: ServerProcess) -> None:
    port = shared_server.port
    a, b = "#" + unique("z"), "#" + unique("z")
    watcher = await connect_registered(port)
    await watcher.send(f"JOIN {a},{b}")
    await watcher.expect("366", where=lambda m: m.params[1] == b)
    leaver = await connect_registered(port)
    await leaver.send(f"JOIN {a},{b}")
    await leaver.expect("366", where=lambda m: m.params[1] == b)
    await leaver.send("JOIN 0")
    parts = {(await leaver.expect("PART")).params[0] for _ in range(2)}
    assert parts == {a, b}
    for _ in range(2):
        part = await watcher.expect("PART")
        assert part.source.startswith(leaver.nick + "!")
    await leaver.send("WHOIS " + leaver.nick)
    whois = await leaver.collect("318")
    assert not find(whois, "319"), whois


@aio
async def test_part(shared_server: ServerProcess) -> None:
    channel, (alice, bob) = await channel_with(shared_server.port, unique("p"), unique("p"))
    await bob.send(f"PART {channel} :see you later")
    for client in (alice, bob):
        part = await client.expect("PART")
        assert part.source.startswith(bob.nick + "!")
        assert part.params == [channel, "see you later"]
    await bob.send(f"PART {channel}")
    assert (await bob.expect("442")).params[1] == channel
    await bob.send("PART #" + unique("nonexistent"))
    await bob.expect("403")
    await bob.send("PART")
    await bob.expect("461")
    # Parting the last member makes the channel go away.
    await alice.send(f"PART {channel}")
    await alice.expect("PART")
    await alice.send(f"LIST {channel}")
    listing = await alice.collect("323")
    assert not find(listing, "322"), listing


@aio
async def test_privmsg_and_notice_multi_target(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (alice, bob, carol) = await channel_with(port, unique("m"), unique("m"), unique("m"))
    outsider = await connect_registered(port)
    await alice.send(f"PRIVMSG {channel},{outsider.nick} :hello both")
    for client in (bob, carol):
        got = await client.expect("PRIVMSG")
        assert got.source.startswith(alice.nick + "!")
        assert got.params == [channel, "hello both"]
    private = await outsider.expect("PRIVMSG")
    assert private.params == [outsider.nick, "hello both"]
    assert private.source.startswith(alice.nick + "!")
    # Without echo-message the sender does not see its own channel message.
    assert not find(await alice.sync(), "PRIVMSG")

    await bob.send(f"NOTICE {carol.nick},{channel} :notice text")
    got = await carol.expect("NOTICE", where=lambda m: m.params[0] == carol.nick)
    assert got.params[1] == "notice text"
    got = await carol.expect("NOTICE", where=lambda m: m.params[0] == channel)
    got = await alice.expect("NOTICE")
    assert got.params == [channel, "notice text"]

    await alice.send("PRIVMSG nosuchnick" + unique("") + " :hi")
    await alice.expect("401")
    await alice.send("NOTICE nosuchnick" + unique("") + " :hi")  # NOTICE never answers
    assert not numerics(await alice.sync())
    await alice.send("PRIVMSG")
    await alice.expect("411")
    await alice.send(f"PRIVMSG {bob.nick}")
    await alice.expect("412")
    five = ",".join([bob.nick, carol.nick, outsider.nick, channel, alice.nick])
    await alice.send(f"PRIVMSG {five} :too many")  # TARGMAX is 4
    await alice.expect("407")
    await alice.send("PRIVMSG #" + unique("nochan") + " :anyone?")
    await alice.expect("401", "403", "404")


@aio
async def test_statusmsg(shared_server: ServerProcess) -> None:
    channel, (op, voiced, plain) = await channel_with(
        shared_server.port, unique("s"), unique("s"), unique("s")
    )
    await op.send(f"MODE {channel} +v {voiced.nick}")
    for client in (op, voiced, plain):
        await client.expect("MODE")
    await plain.send(f"PRIVMSG @{channel} :to the ops")
    got = await op.expect("PRIVMSG")
    assert got.params == ["@" + channel, "to the ops"]
    await plain.send(f"NOTICE +{channel} :to voices and up")
    got = await op.expect("NOTICE")
    assert got.params == ["+" + channel, "to voices and up"]
    got = await voiced.expect("NOTICE")
    assert got.params == ["+" + channel, "to voices and up"]
    assert not find(await voiced.sync(), "PRIVMSG"), "voiced user got an @-only message"
    assert not find(await plain.sync(), "NOTICE")


@aio
async def test_topic(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, member) = await channel_with(port, unique("t"), unique("t"))
    await member.send(f"TOPIC {channel}")
    assert (await member.expect("331")).params[1] == channel
    before = int(time.time())
    await op.send(f"TOPIC {channel} :The topic: with colons")
    for client in (op, member):
        got = await client.expect("TOPIC")
        assert got.source.startswith(op.nick + "!")
        assert got.params == [channel, "The topic: with colons"]
    await member.send(f"TOPIC {channel}")
    topic = await member.expect("332")
    assert topic.params[1:] == [channel, "The topic: with colons"]
    whotime = await member.expect("333")
    assert whotime.params[1] == channel
    assert whotime.params[2].split("!")[0] == op.nick
    assert abs(int(whotime.params[3]) - before) <= 5
    # +t is on by default: a plain member may not change it.
    await member.send(f"TOPIC {channel} :mine now")
    assert (await member.expect("482")).params[1] == channel
    # A newcomer gets 332/333 on JOIN.
    late = await connect_registered(port)
    await late.send(f"JOIN {channel}")
    burst = await late.collect("366")
    assert find(burst, "332")[0].params[-1] == "The topic: with colons"
    assert find(burst, "333")
    # A non-member may read (the channel is not secret) but not set.
    outsider = await connect_registered(port)
    await outsider.send(f"TOPIC {channel}")
    await outsider.expect("332")
    await outsider.send(f"TOPIC {channel} :hijack")
    await outsider.expect("442")
    # Clearing the topic.
    await op.send(f"TOPIC {channel} :")
    cleared = await member.expect("TOPIC")
    assert cleared.params == [channel, ""]
    await member.send(f"TOPIC {channel}")
    await member.expect("331")


@aio
async def test_names(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, voiced, plain) = await channel_with(port, unique("N"), unique("N"), unique("N"))
    await op.send(f"MODE {channel} +v {voiced.nick}")
    await plain.expect("MODE")
    await plain.send(f"NAMES {channel}")
    lines = await plain.collect("366")
    names = " ".join(m.params[-1] for m in find(lines, "353")).split()
    assert sorted(names) == sorted(["@" + op.nick, "+" + voiced.nick, plain.nick])
    assert find(lines, "353")[0].params[1] == "="
    assert find(lines, "366")[0].params[1] == channel
    await plain.send("NAMES #" + unique("none"))
    lines = await plain.collect("366")
    assert not find(lines, "353")


@aio
async def test_list_masks_and_counts(shared_server: ServerProcess) -> None:
    port = shared_server.port
    tag = unique("L")
    big, small = f"#{tag}big", f"#{tag}small"
    users = [await connect_registered(port) for _ in range(3)]
    for user in users:
        await user.send(f"JOIN {big}")
        await user.expect("366")
    await users[0].send(f"JOIN {small}", f"TOPIC {small} :small talk")
    await users[0].expect("TOPIC")
    asker = await connect_registered(port)

    async def listing(*params: str) -> dict[str, tuple[int, str]]:
        await asker.send(" ".join(["LIST", *params]))
        lines = await asker.collect("323")
        assert find(lines, "321") or not find(lines, "322"), lines
        return {
            m.params[1]: (int(m.params[2]), m.params[3])
            for m in find(lines, "322")
            if m.params[1] in (big, small)
        }

    everything = await listing()
    assert everything[big][0] == 3 and everything[small][0] == 1
    assert everything[small][1].endswith("small talk")
    assert set(await listing(f"#{tag}*")) == {big, small}
    assert set(await listing(f"#{tag}s*")) == {small}
    assert set(await listing(big)) == {big}
    assert set(await listing(f"{big},{small}")) == {big, small}
    assert set(await listing(">2")) == {big}
    assert set(await listing("<2")) == {small}
    assert set(await listing(f"#{tag}*", ">1")) == {big}


@aio
async def test_invite(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, member) = await channel_with(port, unique("i"), unique("i"))
    await op.send(f"MODE {channel} +i")
    await member.expect("MODE")
    guest = await connect_registered(port)
    stranger = await connect_registered(port)
    await stranger.send(f"JOIN {channel}")
    assert (await stranger.expect("473")).params[1] == channel
    # Only ops may invite to a +i channel.
    await member.send(f"INVITE {guest.nick} {channel}")
    await member.expect("482")
    await op.send(f"INVITE {guest.nick} {channel}")
    inviting = await op.expect("341")
    assert inviting.params[1:3] == [guest.nick, channel]
    invite = await guest.expect("INVITE")
    assert invite.source.startswith(op.nick + "!")
    assert invite.params == [guest.nick, channel]
    await guest.send(f"JOIN {channel}")
    await guest.expect("JOIN")
    await op.expect("JOIN", where=lambda m: m.source.startswith(guest.nick + "!"))
    await op.send(f"INVITE {member.nick} {channel}")
    await op.expect("443")
    await op.send(f"INVITE nobody{unique('')} {channel}")
    await op.expect("401")
    await stranger.send(f"INVITE {guest.nick} {channel}")
    await stranger.expect("442")
    await op.send("INVITE " + guest.nick)
    await op.expect("461")


@aio
async def test_kick(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, victim, witness) = await channel_with(port, unique("K"), unique("K"), unique("K"))
    await witness.send(f"KICK {channel} {victim.nick} :not an op")
    await witness.expect("482")
    await op.send(f"KICK {channel} {victim.nick} :behave")
    for client in (op, victim, witness):
        kick = await client.expect("KICK")
        assert kick.source.startswith(op.nick + "!")
        assert kick.params == [channel, victim.nick, "behave"]
    await op.send(f"KICK {channel} {victim.nick}")
    await op.expect("441")
    await victim.send(f"PRIVMSG {channel} :still here?")
    await victim.expect("404")
    await op.send(f"KICK #{unique('none')} {witness.nick}")
    await op.expect("403")
    # Without a comment the reason defaults to something non-empty.
    await op.send(f"KICK {channel} {witness.nick}")
    kick = await witness.expect("KICK")
    assert kick.params[:2] == [channel, witness.nick]


@aio
async def test_channel_modes(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, member) = await channel_with(port, unique("M"), unique("M"))
    await member.send(f"MODE {channel}")
    modeis = await member.expect("324")
    assert modeis.params[1] == channel
    assert "n" in modeis.params[2] and "t" in modeis.params[2]
    created = await member.expect("329")
    assert abs(int(created.params[2]) - time.time()) < 60

    await member.send(f"MODE {channel} +m")
    await member.expect("482")

    await op.send(f"MODE {channel} +o {member.nick}")
    change = await member.expect("MODE")
    assert change.params == [channel, "+o", member.nick]
    await member.send(f"MODE {channel} -o {member.nick}")
    change = await op.expect("MODE", where=lambda m: m.source.startswith(member.nick + "!"))
    assert change.params[1:] == ["-o", member.nick]

    await op.send(f"MODE {channel} +imkl-t secret 10")
    change = await member.expect("MODE", where=lambda m: "k" in m.params[1])
    assert change.params[1].startswith("+") and set(change.params[1]) >= set("+imkl-t")
    await op.send(f"MODE {channel}")
    modeis = await op.expect("324")
    assert set("imkl") <= set(modeis.params[2]) and "t" not in modeis.params[2]
    assert "secret" in modeis.params and "10" in modeis.params
    await member.send(f"MODE {channel}")  # members see the key too
    assert "secret" in (await member.expect("324")).params

    await op.send(f"MODE {channel} +z")
    assert (await op.expect("472")).params[1] == "z"
    await op.send(f"MODE #{unique('none')} +m")
    await op.expect("403")


@aio
async def test_mode_privilege_is_judged_once_per_command(shared_server: ServerProcess) -> None:
    # An op may give away op and take voice in one MODE (as every ircd allows):
    # privileges are checked when the command starts, not after each letter.
    channel, (op, member) = await channel_with(shared_server.port, unique("J"), unique("J"))
    await op.send(f"MODE {channel} -o+v {op.nick} {op.nick}")
    change = await member.expect("MODE")
    assert change.params[1:] == ["-o+v", op.nick, op.nick]
    assert not numerics(await op.sync())


@aio
async def test_modes_take_effect(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, talker) = await channel_with(port, unique("E"), unique("E"))
    outsider = await connect_registered(port)

    # +n (default): no outside messages.
    await outsider.send(f"PRIVMSG {channel} :from outside")
    await outsider.expect("404")
    await op.send(f"MODE {channel} -n")
    await talker.expect("MODE")
    await outsider.send(f"PRIVMSG {channel} :from outside")
    got = await talker.expect("PRIVMSG")
    assert got.params == [channel, "from outside"]

    # +m: only voiced and ops speak.
    await op.send(f"MODE {channel} +m")
    await talker.expect("MODE")
    await talker.send(f"PRIVMSG {channel} :muted?")
    await talker.expect("404")
    await op.send(f"MODE {channel} +v {talker.nick}")
    await talker.expect("MODE")
    await talker.send(f"PRIVMSG {channel} :voiced now")
    await op.expect("PRIVMSG", where=lambda m: m.params[1] == "voiced now")

    # -t: anyone may set the topic.
    await op.send(f"MODE {channel} -t")
    await talker.expect("MODE")
    await talker.send(f"TOPIC {channel} :talker's topic")
    await op.expect("TOPIC", where=lambda m: m.params[1] == "talker's topic")

    # +k / +l
    await op.send(f"MODE {channel} +kl pw 2")
    await talker.expect("MODE")
    joiner = await connect_registered(port)
    await joiner.send(f"JOIN {channel}")
    await joiner.expect("475")
    await joiner.send(f"JOIN {channel} pw")
    await joiner.expect("471")
    await op.send(f"MODE {channel} -l")
    await talker.expect("MODE")
    await joiner.send(f"JOIN {channel} pw")
    await joiner.expect("366")
    await op.send(f"MODE {channel} -k pw")
    unset = await talker.expect("MODE", where=lambda m: "k" in m.params[1])
    assert unset.params[1] == "-k"

    # +b: banned users cannot join, and a banned member cannot speak.
    banned = await connect_registered(port)
    await op.send(f"MODE {channel} +b {banned.nick}!*@*")
    ban = await talker.expect("MODE", where=lambda m: "b" in m.params[1])
    assert ban.params[1:] == ["+b", f"{banned.nick}!*@*"]
    await banned.send(f"JOIN {channel}")
    await banned.expect("474")
    await op.send(f"MODE {channel} +b")
    entries = await op.collect("368")
    masks = [m.params[2] for m in find(entries, "367")]
    assert masks == [f"{banned.nick}!*@*"]
    await op.send(f"MODE {channel} +b {joiner.nick}", f"MODE {channel} -v {talker.nick}")
    await joiner.expect("MODE", where=lambda m: m.params[1] == "+b")
    await joiner.expect("MODE", where=lambda m: m.params[1] == "-v")
    await op.send(f"MODE {channel} -m")
    await joiner.expect("MODE", where=lambda m: m.params[1] == "-m")
    await joiner.send(f"PRIVMSG {channel} :banned but present")
    await joiner.expect("404")
    await op.send(f"MODE {channel} -b {joiner.nick}!*@*")
    await joiner.expect("MODE", where=lambda m: m.params[1] == "-b")
    await joiner.send(f"PRIVMSG {channel} :free again")
    await talker.expect("PRIVMSG", where=lambda m: m.params[1] == "free again")


@aio
async def test_user_modes(shared_server: ServerProcess) -> None:
    port = shared_server.port
    client = await connect_registered(port)
    other = await connect_registered(port)
    await client.send(f"MODE {client.nick} +i")
    # (The +x of the cloak given at sign-on comes after the MOTD, as on Ergo.)
    change = await client.expect("MODE", where=lambda m: m.params[1] != "+x")
    assert change.params == [client.nick, "+i"]
    await client.send(f"MODE {client.nick}")
    assert "i" in (await client.expect("221")).params[1]
    await client.send(f"MODE {client.nick} +o")  # only OPER gives +o
    await client.send(f"MODE {client.nick}")
    assert "o" not in (await client.expect("221")).params[1]
    await client.send(f"MODE {other.nick} +i")
    await client.expect("502")
    await client.send(f"MODE {client.nick} +Z")
    await client.expect("501")


# --- queries ----------------------------------------------------------------------


@aio
async def test_who(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, member) = await channel_with(port, unique("w"), unique("w"))
    await member.send(f"WHO {channel}")
    lines = await member.collect("315")
    replies = {m.params[5]: m for m in find(lines, "352")}
    assert set(replies) == {op.nick, member.nick}
    mine = replies[op.nick]
    assert mine.params[1] == channel
    assert mine.params[2].lstrip("~") == "tester"
    assert mine.params[4] == SERVER_NAME
    assert mine.params[6].startswith("H") and "@" in mine.params[6]
    assert mine.params[7].split(" ", 1) == ["0", "Integration Tester"]
    assert find(lines, "315")[0].params[1] == channel
    await member.send(f"WHO {op.nick}")
    lines = await member.collect("315")
    assert [m.params[5] for m in find(lines, "352")] == [op.nick]
    await member.send(f"WHO {channel} %tnf,42")
    lines = await member.collect("315")
    whox = find(lines, "354")
    assert {m.params[2] for m in whox} == {op.nick, member.nick}
    assert all(m.params[1] == "42" for m in whox)


@aio
async def test_whois(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, member) = await channel_with(port, unique("W"), unique("W"))
    await member.send(f"WHOIS {op.nick}")
    lines = await member.collect("318")
    got = numerics(lines)
    for n in ("311", "319", "312", "317", "318"):
        assert n in got, (n, got)
    user = find(lines, "311")[0]
    assert user.params[1:4] == [op.nick, "~tester", "127.0.0.1"] or (
        user.params[1] == op.nick and user.params[2].lstrip("~") == "tester"
    )
    assert user.params[-1] == "Integration Tester"
    assert find(lines, "319")[0].params[-1].split() == ["@" + channel]
    assert find(lines, "312")[0].params[2] == SERVER_NAME
    assert "671" not in got  # plain TCP
    await member.send(f"WHOIS {SERVER_NAME} {op.nick}")
    assert "311" in numerics(await member.collect("318"))
    await member.send("WHOIS nobody" + unique(""))
    lines = await member.collect("318")
    assert numerics(lines)[-2:] == ["401", "318"]
    await member.send("WHOIS")
    await member.expect("431", "461")


@aio
async def test_whowas(shared_server: ServerProcess) -> None:
    port = shared_server.port
    asker = await connect_registered(port)
    gone = await connect_registered(port, realname="Was Here")
    await gone.quit()
    await asker.send(f"WHOWAS {gone.nick}")
    lines = await asker.collect("369")
    was = find(lines, "314")
    assert was and was[0].params[1] == gone.nick and was[0].params[-1] == "Was Here"
    assert find(lines, "312")
    await asker.send("WHOWAS never" + unique(""))
    lines = await asker.collect("369")
    assert numerics(lines) == ["406", "369"]


@aio
async def test_ison_and_userhost(shared_server: ServerProcess) -> None:
    port = shared_server.port
    a = await connect_registered(port)
    b = await connect_registered(port)
    absent = unique("absent")
    await a.send(f"ISON {b.nick} {absent} {a.nick.upper()}")
    ison = await a.expect("303")
    assert sorted(ison.params[-1].split()) == sorted([a.nick, b.nick])
    await a.send(f"ISON :{absent}")
    assert (await a.expect("303")).params[-1] == ""
    await a.send(f"USERHOST {b.nick} {absent} {a.nick}")
    reply = (await a.expect("302")).params[-1].split()
    assert sorted(reply) == sorted(
        [f"{b.nick}=+~tester@127.0.0.1", f"{a.nick}=+~tester@127.0.0.1"]
    ) or all(re.fullmatch(r"[^=*]+\*?=[+-]~?tester@\S+", r) for r in reply)
    assert len(reply) == 2


@aio
async def test_away(shared_server: ServerProcess) -> None:
    port = shared_server.port
    a = await connect_registered(port)
    b = await connect_registered(port)
    await b.send("AWAY :out for lunch")
    await b.expect("306")
    await a.send(f"PRIVMSG {b.nick} :are you there?")
    away = await a.expect("301")
    assert away.params[1:] == [b.nick, "out for lunch"]
    assert (await b.expect("PRIVMSG")).params[-1] == "are you there?"
    await a.send(f"USERHOST {b.nick}")
    assert "=-" in (await a.expect("302")).params[-1]
    await a.send(f"WHOIS {b.nick}")
    lines = await a.collect("318")
    assert find(lines, "301")[0].params[-1] == "out for lunch"
    await a.send(f"WHO {b.nick}")
    lines = await a.collect("315")
    assert find(lines, "352")[0].params[6].startswith("G")
    await b.send("AWAY")
    await b.expect("305")
    await a.send(f"PRIVMSG {b.nick} :back?")
    assert "301" not in numerics(await a.sync())


@aio
async def test_server_queries(shared_server: ServerProcess) -> None:
    client = await connect_registered(shared_server.port)
    await client.send("MOTD")
    lines = await client.collect("376")
    assert numerics(lines)[0] == "375"
    assert [m.params[-1].removeprefix("- ") for m in find(lines, "372")] == MOTD.splitlines()
    await client.send("MOTD nonexistent.server.example")
    await client.expect("402")

    await client.send("LUSERS")
    lines = await client.collect("255")
    assert numerics(lines)[:5] == ["251", "252", "253", "254", "255"]

    await client.send("VERSION")
    version = await client.expect("351")
    assert SERVER_NAME in version.params

    await client.send("TIME")
    stamp = await client.expect("391")
    assert stamp.params[1] == SERVER_NAME

    await client.send("INFO")
    lines = await client.collect("374")
    assert find(lines, "371")

    await client.send("ADMIN")
    lines = await client.collect("259")
    assert numerics(lines) == ["256", "257", "258", "259"]
    text = " ".join(m.params[-1] for m in lines)
    assert "Test Admin" in text and "admin@test.example" in text and "Loopback" in text

    await client.send("LINKS")
    lines = await client.collect("365")
    link = find(lines, "364")[0]
    assert link.params[1:3] == [SERVER_NAME, SERVER_NAME]

    await client.send("STATS u")
    lines = await client.collect("219")
    assert numerics(lines) == ["242", "219"]
    await client.send("STATS m")
    lines = await client.collect("219")
    assert any(m.params[1] == "STATS" for m in find(lines, "212"))
    await client.send("STATS o")
    lines = await client.collect("219")
    assert [m.params[4] for m in find(lines, "243")] == [OPER_NAME] or find(lines, "481")
    await client.send("STATS")
    await client.expect("461")


@aio
async def test_lusers_counts(server: ServerProcess) -> None:
    clients = [await connect_registered(server.port) for _ in range(3)]
    await clients[0].send(f"MODE {clients[0].nick} +i")
    await clients[0].expect("MODE")
    await clients[1].send("JOIN #counted")
    await clients[1].expect("366")
    unregistered = await RawClient.connect(server.port)
    await unregistered.send("NICK pending")
    await clients[2].sync()
    await clients[2].send("LUSERS")
    lines = await clients[2].collect("266")
    counts = {m.command: m for m in lines}
    assert counts["251"].params[-1].startswith("There are 2 users and 1 invisible")
    assert counts["252"].params[1] == "0"
    assert counts["253"].params[1] == "1"
    assert counts["254"].params[1] == "1"
    assert "3 clients" in counts["255"].params[-1]


@aio
async def test_oper_kill_wallops_rehash(shared_server: ServerProcess) -> None:
    port = shared_server.port
    _, (oper, victim, witness) = await channel_with(port, unique("O"), unique("O"), unique("O"))
    for command in ("KILL x :y", "WALLOPS :hi", "REHASH"):
        await witness.send(command)
        await witness.expect("481")
    await oper.send(f"OPER {OPER_NAME} wrongpassword")
    await oper.expect("464", timeout=10)
    await oper.send(f"OPER nosuchoper {OPER_PASSWORD}")
    await oper.expect("464", "491", timeout=10)
    await oper.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
    await oper.expect("381", timeout=10)
    mode = await oper.expect("MODE")
    assert mode.params[0] == oper.nick and "o" in mode.params[1]
    await witness.send(f"WHOIS {oper.nick}")
    assert "313" in numerics(await witness.collect("318"))

    await witness.send(f"MODE {witness.nick} +w")
    await witness.expect("MODE")
    await oper.send("WALLOPS :attention please")
    wallops = await witness.expect("WALLOPS")
    assert wallops.params == ["attention please"]
    assert not find(await victim.sync(), "WALLOPS")  # victim is not +w

    await oper.send(f"KILL {victim.nick} :spamming")
    closing = await victim.until_closed()
    error = find(closing, "ERROR")
    assert error and "spamming" in error[-1].params[-1], closing
    quit_line = await witness.expect("QUIT")
    assert quit_line.source.startswith(victim.nick + "!")
    assert "spamming" in quit_line.params[0]
    await oper.send(f"KILL {SERVER_NAME} :no")
    await oper.expect("483")
    await oper.send("KILL nobody" + unique("") + " :no")
    await oper.expect("401")

    await oper.send("REHASH")
    rehashing = await oper.expect("382")
    assert rehashing.params[1].endswith(".toml")
    assert not find(await oper.sync(), "FAIL")


# --- IRCv3 capabilities -------------------------------------------------------------


@aio
async def test_cap_negotiation(shared_server: ServerProcess) -> None:
    client = await RawClient.connect(shared_server.port)
    await client.send("CAP LS 302")
    ls = await client.expect("CAP")
    assert ls.params[:2] == ["*", "LS"]
    offered = set()
    lines = [ls]
    while lines[-1].params[2] == "*":
        lines.append(await client.expect("CAP"))
    for m in lines:
        offered |= {token.split("=")[0] for token in m.params[-1].split()}
    assert {"server-time", "echo-message", "labeled-response", "batch", "message-tags"} <= offered
    await client.send("NICK " + unique("cap"), "USER cap 0 * :Cap")
    assert not find(await client.quiet(0.3), "001"), "registered during CAP negotiation"
    await client.send("CAP REQ :server-time bogus-cap")
    nak = await client.expect("CAP")
    assert nak.params[1] == "NAK" and nak.params[2] == "server-time bogus-cap"
    await client.send("CAP REQ :server-time echo-message")
    ack = await client.expect("CAP")
    assert ack.params[1] == "ACK" and set(ack.params[2].split()) == {
        "server-time",
        "echo-message",
    }
    await client.send("CAP LIST")
    listed = await client.expect("CAP")
    assert listed.params[1] == "LIST"
    assert {"server-time", "echo-message"} <= set(listed.params[2].split())
    await client.send("CAP END")
    await client.expect("001")
    await client.send("CAP FROB")
    await client.expect("410")


@aio
async def test_server_time_and_echo_message(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel = "#" + unique("v3")
    alice = await connect_registered(port, caps=["server-time", "echo-message"])
    bob = await connect_registered(port, caps=["server-time"])
    plain = await connect_registered(port)
    for client in (alice, bob, plain):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    await alice.sync()
    await alice.send(f"PRIVMSG {channel} :tagged")
    echo = await alice.expect("PRIVMSG")
    assert echo.source.startswith(alice.nick + "!") and echo.params == [channel, "tagged"]
    assert echo.tags and SERVER_TIME.match(echo.tags["time"]), echo.format()
    got = await bob.expect("PRIVMSG")
    assert got.tags and SERVER_TIME.match(got.tags["time"]), got.format()
    stamp = time.mktime(time.strptime(got.tags["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(stamp - time.timezone - time.time()) < 60
    got = await plain.expect("PRIVMSG")
    assert not got.tags
    await alice.send(f"PRIVMSG {bob.nick} :private echo")
    echo = await alice.expect("PRIVMSG")
    assert echo.params == [bob.nick, "private echo"]
    assert (await bob.expect("PRIVMSG")).params == [bob.nick, "private echo"]


@aio
async def test_labeled_response(shared_server: ServerProcess) -> None:
    port = shared_server.port
    client = await connect_registered(port, caps=["labeled-response", "batch"])
    other = await connect_registered(port)
    # One reply: the label is on that line.
    await client.send("@label=one PING tok")
    pong = await client.expect("PONG")
    assert pong.tags == {"label": "one"}
    # Several replies: wrapped in a labeled-response batch.
    await client.send(f"@label=two WHOIS {other.nick}")
    start = await client.expect("BATCH")
    assert start.tags and start.tags["label"] == "two"
    assert start.params[0].startswith("+") and start.params[1] == "labeled-response"
    ref = start.params[0][1:]
    inside = []
    while True:
        m = await client.expect()
        if m.command == "BATCH":
            assert m.params == ["-" + ref]
            break
        assert m.tags and m.tags.get("batch") == ref, m.format()
        inside.append(m.command)
    assert inside[0] == "311" and inside[-1] == "318"
    # No reply at all: ACK.
    await client.send(f"@label=three PRIVMSG {other.nick} :hi")
    ack = await client.expect("ACK")
    assert ack.tags == {"label": "three"}
    # Without the cap the label is ignored.
    await other.send("@label=four PING x")
    assert not (await other.expect("PONG")).tags


# --- finer points ------------------------------------------------------------------------


@aio
async def test_kick_several_and_part_several(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, a, b) = await channel_with(port, unique("ks"), unique("ks"), unique("ks"))
    await op.send(f"KICK {channel} {a.nick},{b.nick} :both of you")
    kicked = {(await op.expect("KICK")).params[1] for _ in range(2)}
    assert kicked == {a.nick, b.nick}
    other = "#" + unique("ps")
    await op.send(f"JOIN {other}")
    await op.expect("366")
    await op.send(f"PART {channel},{other} :leaving both")
    parts = [await op.expect("PART") for _ in range(2)]
    assert {m.params[0] for m in parts} == {channel, other}
    assert all(m.params[1] == "leaving both" for m in parts)


@aio
async def test_nick_case_change_and_names_follow(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (alice, bob) = await channel_with(port, unique("cc"), unique("cc"))
    upper = alice.nick.upper()
    await alice.send(f"NICK {upper}")
    change = await bob.expect("NICK")
    assert change.params == [upper]
    alice.nick = upper
    await bob.send(f"NAMES {channel}")
    names = " ".join(m.params[-1] for m in find(await bob.collect("366"), "353")).split()
    assert "@" + upper in names
    await bob.send(f"WHOIS {upper.lower()}")
    assert find(await bob.collect("318"), "311")[0].params[1] == upper


@aio
async def test_secret_channel_is_hidden(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op,) = await channel_with(port, unique("sec"))
    await op.send(f"MODE {channel} +s")
    await op.expect("MODE")
    outsider = await connect_registered(port)
    await outsider.send("LIST")
    assert channel not in [m.params[1] for m in find(await outsider.collect("323"), "322")]
    await outsider.send(f"NAMES {channel}")
    assert not find(await outsider.collect("366"), "353")
    await outsider.send(f"WHOIS {op.nick}")
    assert not find(await outsider.collect("318"), "319")
    await outsider.send(f"WHO {channel}")
    assert not find(await outsider.collect("315"), "352")
    await op.send(f"NAMES {channel}")
    reply = find(await op.collect("366"), "353")
    assert reply and reply[0].params[1] == "@"  # RFC 2812: "@" marks a secret channel


@aio
async def test_invisible_users_in_who(shared_server: ServerProcess) -> None:
    port = shared_server.port
    hidden = await connect_registered(port, unique("hid"))
    await hidden.send(f"MODE {hidden.nick} +i")
    await hidden.expect("MODE")
    asker = await connect_registered(port)
    await asker.send(f"WHO {hidden.nick}*")
    assert not find(await asker.collect("315"), "352"), "+i user listed by a mask"
    await asker.send(f"WHO {hidden.nick}")  # an exact nick is fine
    assert find(await asker.collect("315"), "352")


@aio
async def test_relayed_lines_fit_in_512_bytes(shared_server: ServerProcess) -> None:
    port = shared_server.port
    long_nick = unique("L" * 20)
    channel, (sender, receiver) = await channel_with(port, long_nick, unique("r"))
    text = "é" * 240  # 480 bytes of two-byte characters
    await sender.send(f"PRIVMSG {channel} :{text}")
    got = await receiver.expect("PRIVMSG")
    assert len(receiver.raw[-1]) + 2 <= 512, len(receiver.raw[-1])
    assert text.startswith(got.params[-1]) and got.params[-1]  # cut at a character boundary
    topic = "t" * 400
    await sender.send(f"TOPIC {channel} :{topic}")
    await receiver.expect("TOPIC")
    assert len(receiver.raw[-1]) + 2 <= 512


@aio
async def test_channel_edge_cases(ircpsyc_server: ServerStarter) -> None:
    server = ircpsyc_server({"limits": {"max_channels": 2}})
    client = await connect_registered(server.port)
    a, b, c = ("#" + unique("e") for _ in range(3))
    await client.send(f"JOIN {a}")
    await client.expect("366")
    await client.send(f"JOIN {a}")  # already there: nothing happens
    assert not find(await client.sync(), "JOIN")
    await client.send(f"JOIN {b},{c}")
    await client.expect("366", where=lambda m: m.params[1] == b)
    assert (await client.expect("405")).params[1] == c
    await client.send(f"MODE {a} +l notanumber")
    await client.expect("696", "461")
    await client.send(f"MODE {a} +k")
    await client.expect("696", "461", "525")
    await client.send("TOPIC")
    await client.expect("461")
    await client.send(f"PRIVMSG {client.nick} :note to self")
    assert (await client.expect("PRIVMSG")).params == [client.nick, "note to self"]


@aio
async def test_echo_message_with_label(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel = "#" + unique("el")
    client = await connect_registered(
        port, caps=["echo-message", "labeled-response", "batch", "message-tags"]
    )
    await client.send(f"JOIN {channel}")
    await client.expect("366")
    await client.send(f"@label=L1;+client=tag PRIVMSG {channel} :echoed")
    echo = await client.expect("PRIVMSG")
    assert echo.tags is not None
    assert echo.tags.get("label") == "L1", echo.format()
    assert echo.tags.get("+client") == "tag"
    assert "msgid" in echo.tags


@aio
async def test_cap_after_registration(shared_server: ServerProcess) -> None:
    client = await connect_registered(shared_server.port)
    await client.send("CAP LS 302")
    ls = await client.expect("CAP")
    assert ls.params[0] == client.nick
    await client.send("CAP REQ :server-time")
    ack = await client.expect("CAP", where=lambda m: m.params[1] != "LS")  # LS may be 2 lines
    assert ack.params[0] == client.nick and ack.params[1] == "ACK"
    await client.send(f"PRIVMSG {client.nick} :timed")
    assert "time" in ((await client.expect("PRIVMSG")).tags or {})


@aio
async def test_labeled_join_is_one_batch(shared_server: ServerProcess) -> None:
    client = await connect_registered(shared_server.port, caps=["labeled-response", "batch"])
    channel = "#" + unique("lj")
    await client.send(f"@label=J1 JOIN {channel}")
    start = await client.expect("BATCH")
    assert start.tags and start.tags.get("label") == "J1", start.format()
    ref = start.params[0][1:]
    inside = []
    while True:
        m = await client.expect()
        if m.command == "BATCH":
            assert m.params == ["-" + ref]
            break
        assert m.tags and m.tags.get("batch") == ref, m.format()
        inside.append(m.command)
    assert inside[0] == "JOIN" and "353" in inside and inside[-1] == "366", inside


@aio
async def test_casemapping_of_channels_and_nicks(shared_server: ServerProcess) -> None:
    port = shared_server.port
    tag = unique("cm")
    first = await connect_registered(port, f"Nick[{tag}]")
    other = await RawClient.connect(port)
    await other.send(f"NICK nick{{{tag.upper()}}}")  # rfc1459: {} are lower-case []
    await other.expect("433")
    await other.register(unique("cm"))
    await first.send(f"JOIN #Chan[{tag}]")
    await first.expect("366")
    await other.send(f"JOIN #CHAN{{{tag}}}")
    joined = await other.expect("JOIN")
    assert joined.params[0] == f"#Chan[{tag}]"  # the channel's own spelling
    seen = await first.expect("JOIN")
    assert seen.source.startswith(other.nick + "!")
    await other.send(f"PRIVMSG #chan{{{tag.lower()}}} :same channel")
    got = await first.expect("PRIVMSG")
    assert got.params == [f"#Chan[{tag}]", "same channel"]


@aio
async def test_exception_lists(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op,) = await channel_with(port, unique("ex"))
    banned = await connect_registered(port)
    await op.send(f"MODE {channel} +be *!*@127.0.0.1 {banned.nick}!*@*")
    change = await op.expect("MODE")
    assert change.params[1:] == ["+be", "*!*@127.0.0.1", f"{banned.nick}!*@*"]
    await banned.send(f"JOIN {channel}")
    await banned.expect("366")  # +e beats +b
    stranger = await connect_registered(port)
    await stranger.send(f"JOIN {channel}")
    await stranger.expect("474")
    await op.send(f"MODE {channel} -b+iI *!*@127.0.0.1 {stranger.nick}!*@*")
    await op.expect("MODE", where=lambda m: "I" in m.params[1])
    await stranger.send(f"JOIN {channel}")
    await stranger.expect("366")  # +I beats +i
    await op.send(f"MODE {channel} e", f"MODE {channel} I")
    excepts = await op.collect("349")
    assert [m.params[2] for m in find(excepts, "348")] == [f"{banned.nick}!*@*"]
    invex = await op.collect("347")
    assert [m.params[2] for m in find(invex, "346")] == [f"{stranger.nick}!*@*"]


@aio
async def test_multi_prefix_and_userhost_in_names(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op,) = await channel_with(port, unique("mp"))
    await op.send(f"MODE {channel} +v {op.nick}")
    await op.expect("MODE")
    viewer = await connect_registered(port, caps=["multi-prefix", "userhost-in-names"])
    await viewer.send(f"NAMES {channel}")
    names = find(await viewer.collect("366"), "353")[0].params[-1].split()
    # The server cloaks by default ([cloaks]): the host is the cloak of 127.0.0.1.
    assert len(names) == 1
    assert re.fullmatch(rf"@\+{op.nick}!~tester@[0-9a-f]{{8}}(\.[0-9a-f]{{8}}){{2}}\.ip", names[0])
    await viewer.send(f"WHO {channel}")
    flags = find(await viewer.collect("315"), "352")[0].params[6]
    assert flags.endswith("@+")


@aio
async def test_invite_without_plus_i_and_quit_reason(shared_server: ServerProcess) -> None:
    port = shared_server.port
    channel, (op, member) = await channel_with(port, unique("iq"), unique("iq"))
    guest = await connect_registered(port)
    await member.send(f"INVITE {guest.nick} {channel}")  # not +i: members may invite
    assert (await member.expect("341")).params[1:3] == [guest.nick, channel]
    await guest.expect("INVITE")
    await member.send("QUIT")
    quit_line = await op.expect("QUIT")
    assert quit_line.source.startswith(member.nick + "!")
    assert quit_line.params and quit_line.params[0], "QUIT without a reason"
    await op.send("PING")
    await op.expect("409", "461")
