"""Getting a registered nick back, as a user sees it: RECOVER and IDENTIFY from a guest nick."""

from __future__ import annotations

from conftest import ServerStarter

from .support import aio, connect_registered, unique

PASSWORD = "correct-horse-battery"


@aio
async def test_recover_tells_the_holder_why_they_are_renamed(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"services": {"nick_grace": 60}})
    nick = unique("own")
    owner = await connect_registered(server.port, nick)
    await owner.send(f"NS REGISTER {PASSWORD}")
    await owner.expect("900")
    await owner.send("NS SET ALWAYS-ON OFF")  # the nick is free when the owner quits
    await owner.expect("NOTICE", where=lambda m: "Always-on" in m.params[-1])
    await owner.quit()

    holder = await connect_registered(server.port, nick)
    owner = await connect_registered(server.port, unique("away"))
    await owner.send(f"NS RECOVER {nick} {PASSWORD}")
    why = await holder.expect("NOTICE", where=lambda m: "RECOVER" in m.params[-1])
    assert why.source is not None and why.source.startswith("NickServ!")
    assert f"belongs to their account {nick}" in why.params[-1]
    renamed = await holder.expect("NICK")
    assert renamed.params[0].startswith("Guest")
    taken = await owner.expect("NICK")
    assert taken.params[0] == nick


@aio
async def test_identify_from_a_guest_nick_takes_the_nick_back(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"services": {"nick_grace": 0.5}})
    nick = unique("own")
    owner = await connect_registered(server.port, nick)
    await owner.send(f"NS REGISTER {PASSWORD}")
    await owner.expect("900")
    await owner.send("NS SET ALWAYS-ON OFF")  # the nick is free when the owner quits
    await owner.expect("NOTICE", where=lambda m: "Always-on" in m.params[-1])
    await owner.quit()

    # Back without logging in: renamed to a guest nick once the grace time is over.
    client = await connect_registered(server.port, nick)
    guest = (await client.expect("NICK", timeout=10)).params[0]
    assert guest.startswith("Guest")
    await client.send(f"NS IDENTIFY {nick} {PASSWORD}")
    await client.expect("900")
    assert (await client.expect("NICK")).params[0] == nick
    await client.send("WHOIS " + nick)
    assert (await client.expect("330")).params[1:3] == [nick, nick]


@aio
async def test_identify_from_a_guest_nick_says_how_to_recover_a_nick_in_use(
    ircpsyc_server: ServerStarter,
) -> None:
    server = ircpsyc_server({"services": {"nick_grace": 0.5}})
    nick = unique("own")
    owner = await connect_registered(server.port, nick)
    await owner.send(f"NS REGISTER {PASSWORD}")
    await owner.expect("900")
    other = await connect_registered(server.port, unique("x"))
    await other.send(f"NICK Guest{unique('')[-5:]}")
    await other.send(f"NS IDENTIFY {nick} {PASSWORD}")
    await other.expect("900")
    hint = await other.expect("NOTICE", where=lambda m: "RECOVER" in m.params[-1])
    assert f"RECOVER {nick}" in hint.params[-1]
