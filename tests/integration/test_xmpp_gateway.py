"""The Jabber MUC gateway against a real Prosody, with slixmpp clients and raw IRC clients.

One Prosody and one ircpsyc process (whose gateway is Prosody's component
`irc.localhost`) serve the whole module; every test uses its own channel and
nicks.  The relay test bridges `#relay…` to a room of Prosody's own MUC
service, configured when the server starts.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import ParamSpec
from xml.etree.ElementTree import Element

import pytest
from conftest import ServerFactory

from .prosody import (
    COMPONENT_DOMAIN,
    DELAY,
    MUC_DOMAIN,
    MUC_USER,
    Stack,
    XmppClient,
    close_all,
    error_condition,
    find,
    fresh_id,
    muc_item,
    start_prosody,
    status_codes,
    tag,
    text_of,
    xmpp_settings,
)
from .support import RawClient, aio, connect_registered, unique

P = ParamSpec("P")

_WORKER_ROOM = unique("relay").lower()
RELAY_CHANNEL = "#" + _WORKER_ROOM
RELAY_ROOM = f"{_WORKER_ROOM}@{MUC_DOMAIN}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("xmpp")
    prosody = start_prosody(directory / "prosody")
    factory = ServerFactory(directory / "ircpsyc")
    try:
        server = factory(
            {
                "xmpp": xmpp_settings(prosody),
                "xmpp.bridge": [{"channel": RELAY_CHANNEL, "room": RELAY_ROOM}],
            }
        )
        server.wait_for_log("component irc.localhost is connected", timeout=15)
        yield Stack(prosody, server)
    finally:
        problems = factory.close()
        prosody.stop()
    assert not problems, "the server logged a traceback:\n" + "\n".join(problems)


def xmpp(fn: Callable[P, Awaitable[None]]) -> Callable[P, None]:
    """`aio`, and the XMPP clients of the test closed at its end."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await fn(*args, **kwargs)
        finally:
            await close_all()

    return aio(run)


def presence_from(room: str, nick: str, type_: str = "") -> Callable[[Element], bool]:
    def match(e: Element) -> bool:
        return (
            e.tag == tag("presence")
            and e.get("from") == f"{room}/{nick}"
            and e.get("type", "") == type_
        )

    return match


def groupchat(body: str) -> Callable[[Element], bool]:
    return lambda e: e.tag == tag("message") and text_of(e, "body") == body


async def irc_join(
    port: int, channel: str, nick: str = "", caps: tuple[str, ...] = ()
) -> RawClient:
    client = await connect_registered(port, nick or unique("i"), caps=caps)
    await client.send(f"JOIN {channel}")
    await client.expect("366")
    return client


# --- joining, history, talking ---------------------------------------------------------


@xmpp
async def test_join_sequence_history_and_subject(stack: Stack) -> None:
    channel = "#" + unique("hist")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    await alice.send(f"PRIVMSG {channel} :first words", f"PRIVMSG {channel} :second words")
    await alice.send(f"TOPIC {channel} :history is kept")
    await alice.expect("TOPIC")
    bob = await XmppClient.connect(stack.prosody)
    got = await bob.join(room, "bob", "<history maxstanzas='5'/>")
    others = [e for e in got if e.tag == tag("presence") and "110" not in status_codes(e)]
    assert [e.get("from") for e in others] == [f"{room}/{alice.nick}"]
    item = muc_item(others[0])
    assert item is not None and (item.get("role"), item.get("affiliation")) == (
        "moderator",
        "admin",
    )
    mine = [e for e in got if "110" in status_codes(e)]
    assert mine and {"110", "100"} <= status_codes(mine[0])
    history = [e for e in got if e.tag == tag("message") and find(e, "body") is not None]
    assert [text_of(e, "body") for e in history] == ["first words", "second words"]
    assert all(find(e, "delay", DELAY) is not None for e in history)
    subject = got[-1]
    assert text_of(subject, "subject") == "history is kept"
    # IRC sees the XMPP user join under its nick.
    join = await alice.expect("JOIN")
    assert join.source is not None and join.source.startswith("bob!")
    await alice.send(f"NAMES {channel}")
    names = await alice.expect("353")
    assert "bob" in names.params[-1].split()


@xmpp
async def test_subject_sent_even_when_empty(stack: Stack) -> None:
    bob = await XmppClient.connect(stack.prosody)
    got = await bob.join(stack.room("#" + unique("empty")), "bobby")
    assert text_of(got[-1], "subject") == ""
    assert "110" in status_codes(next(e for e in got if e.tag == tag("presence")))


@xmpp
async def test_talk_both_ways_with_reflection(stack: Stack) -> None:
    channel = "#" + unique("talk")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    carol = await XmppClient.connect(stack.prosody)
    await carol.join(room, "carol")
    await alice.expect("JOIN")
    msgid = fresh_id("m")
    carol.send(
        f"<message to='{room}' type='groupchat' id='{msgid}'><body>hello IRC</body></message>"
    )
    line = await alice.expect("PRIVMSG")
    assert line.params == [channel, "hello IRC"]
    assert line.source is not None and line.source.startswith("carol!")
    echo = await carol.expect(groupchat("hello IRC"), what="the reflection")
    assert echo.get("id") == msgid
    assert echo.get("from") == f"{room}/carol"
    await alice.send(f"PRIVMSG {channel} :hello XMPP")
    heard = await carol.expect(groupchat("hello XMPP"))
    assert heard.get("from") == f"{room}/{alice.nick}"
    assert heard.get("type") == "groupchat"
    # Actions both ways, and IRC formatting never reaches the XML stream.
    await alice.send(f"PRIVMSG {channel} :\x01ACTION waves \x02boldly\x02\x01")
    await carol.expect(groupchat("/me waves boldly"))
    carol.send(f"<message to='{room}' type='groupchat'><body>/me nods</body></message>")
    action = await alice.expect("PRIVMSG")
    assert action.params[-1] == "\x01ACTION nods\x01"


@xmpp
async def test_two_xmpp_users_see_each_other(stack: Stack) -> None:
    channel = "#" + unique("pair")
    room = stack.room(channel)
    dan = await XmppClient.connect(stack.prosody)
    eve = await XmppClient.connect(stack.prosody)
    await dan.join(room, "dan")
    await eve.join(room, "eve")
    await dan.expect(presence_from(room, "eve"), what="eve's presence")
    msgid = fresh_id("m")
    eve.send(f"<message to='{room}' type='groupchat' id='{msgid}'><body>hi dan</body></message>")
    got = await dan.expect(groupchat("hi dan"))
    assert got.get("id") == msgid and got.get("from") == f"{room}/eve"
    await eve.expect(groupchat("hi dan"))


# --- topic, private messages -------------------------------------------------------------


@xmpp
async def test_subject_both_ways(stack: Stack) -> None:
    channel = "#" + unique("topic")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    fay = await XmppClient.connect(stack.prosody)
    await fay.join(room, "fay")
    await alice.send(f"TOPIC {channel} :set from IRC")
    await alice.expect("TOPIC")
    subject = await fay.expect(lambda e: text_of(e, "subject") == "set from IRC")
    assert subject.get("from") == f"{room}/{alice.nick}"
    # +t: a plain occupant may not; once opped she may.
    fay.send(f"<message to='{room}' type='groupchat' id='s1'><subject>mine</subject></message>")
    refused = await fay.expect(lambda e: e.get("type") == "error", what="the refusal")
    assert refused.get("id") == "s1" and error_condition(refused) == "forbidden"
    await alice.send(f"MODE {channel} +o fay")
    await fay.expect(
        lambda e: (
            e.tag == tag("presence")
            and (muc_item(e) is not None)
            and muc_item(e).get("role") == "moderator"
        )  # type: ignore[union-attr]
    )
    fay.send(f"<message to='{room}' type='groupchat'><subject>set from XMPP</subject></message>")
    topic = await alice.expect("TOPIC")
    assert topic.params == [channel, "set from XMPP"]


@xmpp
async def test_private_messages_both_ways(stack: Stack) -> None:
    channel = "#" + unique("pm")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    gus = await XmppClient.connect(stack.prosody)
    await gus.join(room, "gus")
    gus.send(f"<message to='{room}/{alice.nick}' type='chat'><body>psst</body></message>")
    line = await alice.expect("PRIVMSG")
    assert line.params == [alice.nick, "psst"]
    assert line.source is not None and line.source.startswith("gus!")
    await alice.send("PRIVMSG gus :psst back")
    reply = await gus.expect(
        lambda e: e.get("type") == "chat" and text_of(e, "body") == "psst back"
    )
    assert reply.get("from") == f"{room}/{alice.nick}"
    # To somebody who is not in the room.
    gus.send(f"<message to='{room}/nobody' type='chat' id='x'><body>hm</body></message>")
    error = await gus.expect(lambda e: e.get("type") == "error")
    assert error_condition(error) == "item-not-found"


# --- nicks -------------------------------------------------------------------------------


@xmpp
async def test_nick_conflict_dedup_and_reservation(stack: Stack) -> None:
    channel = "#" + unique("nick")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    hal = await XmppClient.connect(stack.prosody)
    hal.send(
        f"<presence to='{room}/{alice.nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    )
    error = await hal.expect(lambda e: e.get("type") == "error", what="the conflict")
    assert error_condition(error) == "conflict"
    # A nick used on IRC outside the room is de-duplicated (210), and a bad one is made valid.
    outsider = await connect_registered(stack.port, unique("out"))
    got = await hal.join(room, outsider.nick)
    mine = next(e for e in got if "110" in status_codes(e))
    assert "210" in status_codes(mine)
    given = mine.get("from", "").split("/", 1)[1]
    assert given != outsider.nick and given.startswith(outsider.nick)
    # IRC users cannot take it, and WHOIS knows it.
    await outsider.send(f"NICK {given}")
    await outsider.expect("433")
    await outsider.send(f"WHOIS {given}")
    whois = await outsider.collect("318")
    assert any(m.command == "311" and m.params[1] == given for m in whois)
    ivy = await XmppClient.connect(stack.prosody)
    got = await ivy.join(room, "Ivy Green!")
    mine = next(e for e in got if "110" in status_codes(e))
    assert mine.get("from") == f"{room}/Ivy_Green" and "210" in status_codes(mine)


@xmpp
async def test_nick_changes_both_ways(stack: Stack) -> None:
    channel = "#" + unique("ren")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    jo = await XmppClient.connect(stack.prosody)
    await jo.join(room, "jo")
    new_xmpp = unique("jojo")
    jo.send(f"<presence to='{room}/{new_xmpp}'/>")
    gone = await jo.expect(presence_from(room, "jo", "unavailable"))
    assert {"303", "110"} <= status_codes(gone)
    assert muc_item(gone).get("nick") == new_xmpp  # type: ignore[union-attr]
    await jo.expect(presence_from(room, new_xmpp))
    nick = await alice.expect("NICK")
    assert nick.params == [new_xmpp]
    renamed = unique("al")
    await alice.send(f"NICK {renamed}")
    gone = await jo.expect(presence_from(room, alice.nick, "unavailable"))
    assert "303" in status_codes(gone) and muc_item(gone).get("nick") == renamed  # type: ignore[union-attr]
    await jo.expect(presence_from(room, renamed))


# --- kicks, bans, leaving, channel rules ------------------------------------------------------


@xmpp
async def test_kick_and_ban(stack: Stack) -> None:
    channel = "#" + unique("kick")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    kim = await XmppClient.connect(stack.prosody)
    await kim.join(room, "kim")
    await alice.send(f"KICK {channel} kim :behave")
    out = await kim.expect(presence_from(room, "kim", "unavailable"))
    assert {"110", "307"} <= status_codes(out)
    item = muc_item(out)
    assert item is not None
    actor = item.find(tag("actor", MUC_USER))
    assert actor is not None and actor.get("nick") == alice.nick
    assert item.findtext(tag("reason", MUC_USER)) == "behave"
    await kim.join(room, "kim")
    await alice.send(f"MODE {channel} +b *!*@localhost")
    await alice.expect("MODE")
    await alice.send(f"KICK {channel} kim :banned now")
    out = await kim.expect(presence_from(room, "kim", "unavailable"))
    assert {"110", "301"} <= status_codes(out)
    assert muc_item(out).get("affiliation") == "outcast"  # type: ignore[union-attr]
    kim.send(f"<presence to='{room}/kim'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    error = await kim.expect(lambda e: e.get("type") == "error")
    assert error_condition(error) == "forbidden"


@xmpp
async def test_kick_from_xmpp_moderator(stack: Stack) -> None:
    channel = "#" + unique("mod")
    room = stack.room(channel)
    leo = await XmppClient.connect(stack.prosody)
    await leo.join(room, "leo")  # first in: op
    victim = await irc_join(stack.port, channel)
    await leo.expect(presence_from(room, victim.nick))
    leo.send(
        f"<iq type='set' to='{room}' id='k1'><query xmlns='http://jabber.org/protocol/muc#admin'>"
        f"<item nick='{victim.nick}' role='none'><reason>out</reason></item></query></iq>"
    )
    kick = await victim.expect("KICK")
    assert kick.params == [channel, victim.nick, "out"]
    gone = await leo.expect(presence_from(room, victim.nick, "unavailable"))
    assert "307" in status_codes(gone)
    result = await leo.expect(lambda e: e.get("id") == "k1")
    assert result.get("type") == "result"


@xmpp
async def test_leave(stack: Stack) -> None:
    channel = "#" + unique("leave")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    max_ = await XmppClient.connect(stack.prosody)
    await max_.join(room, "max")
    await alice.expect("JOIN")
    max_.send(f"<presence to='{room}/max' type='unavailable'><status>bye all</status></presence>")
    out = await max_.expect(presence_from(room, "max", "unavailable"))
    assert "110" in status_codes(out)
    part = await alice.expect("PART")
    assert part.params == [channel, "bye all"]
    await alice.send("WHOIS max")
    assert (await alice.expect("401", "311")).command == "401"


@xmpp
async def test_channel_rules_decide(stack: Stack) -> None:
    channel = "#" + unique("rules")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    await alice.send(f"MODE {channel} +k sesame")
    await alice.expect("MODE")
    ned = await XmppClient.connect(stack.prosody)
    ned.send(f"<presence to='{room}/ned'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    assert error_condition(await ned.expect(lambda e: e.get("type") == "error")) == "not-authorized"
    await ned.join(room, "ned", password="sesame")
    await alice.send(f"MODE {channel} -k+il * 2")
    await alice.expect("MODE")
    olga = await XmppClient.connect(stack.prosody)
    olga.send(f"<presence to='{room}/olga'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    error = await olga.expect(lambda e: e.get("type") == "error")
    assert error_condition(error) == "registration-required"
    await alice.send(f"MODE {channel} -i")
    await alice.expect("MODE")
    olga.send(f"<presence to='{room}/olga'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    error = await olga.expect(lambda e: e.get("type") == "error")
    assert error_condition(error) == "service-unavailable"


# --- presence, discovery, ping --------------------------------------------------------------


@xmpp
async def test_away_reaches_irc_and_back(stack: Stack) -> None:
    channel = "#" + unique("away")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel, caps=("away-notify",))
    pat = await XmppClient.connect(stack.prosody)
    await pat.join(room, "pat")
    await alice.expect("JOIN")
    pat.send(f"<presence to='{room}/pat'><show>away</show><status>at lunch</status></presence>")
    away = await alice.expect("AWAY")
    assert (
        away.params == ["at lunch"] and away.source is not None and away.source.startswith("pat!")
    )
    pat.send(f"<presence to='{room}/pat'/>")
    back = await alice.expect("AWAY")
    assert back.params == []
    await alice.send("AWAY :gone fishing")
    shown = await pat.expect(
        lambda e: presence_from(room, alice.nick)(e) and text_of(e, "show") == "away"
    )
    assert text_of(shown, "status") == "gone fishing"


@xmpp
async def test_disco_and_ping(stack: Stack) -> None:
    channel = "#" + unique("disco")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    await alice.send(f"MODE {channel} +m")
    quin = await XmppClient.connect(stack.prosody)
    quin.send(
        "<iq type='get' to='irc.localhost' id='i1'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    info = await quin.expect(lambda e: e.get("id") == "i1")
    query = info.find("{http://jabber.org/protocol/disco#info}query")
    assert query is not None
    identity = query.find("{http://jabber.org/protocol/disco#info}identity")
    assert identity is not None and identity.get("category") == "conference"
    features = {
        f.get("var") for f in query.findall("{http://jabber.org/protocol/disco#info}feature")
    }
    assert {"http://jabber.org/protocol/muc", "urn:xmpp:ping"} <= features
    quin.send(
        "<iq type='get' to='irc.localhost' id='i2'>"
        "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
    )
    items = await quin.expect(lambda e: e.get("id") == "i2")
    jids = {i.get("jid") for i in items.iter("{http://jabber.org/protocol/disco#items}item")}
    assert room in jids
    quin.send(
        f"<iq type='get' to='{room}' id='i3'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    info = await quin.expect(lambda e: e.get("id") == "i3")
    features = {f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert {"http://jabber.org/protocol/muc", "muc_moderated", "muc_public", "muc_open"} <= features
    quin.send("<iq type='get' to='irc.localhost' id='i4'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert (await quin.expect(lambda e: e.get("id") == "i4")).get("type") == "result"
    # XEP-0410: pinging one's own occupant JID tells whether one is still in.
    quin.send(f"<iq type='get' to='{room}/quin' id='i5'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert error_condition(await quin.expect(lambda e: e.get("id") == "i5")) == "not-acceptable"
    await quin.join(room, "quin")
    quin.send(f"<iq type='get' to='{room}/quin' id='i6'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert (await quin.expect(lambda e: e.get("id") == "i6")).get("type") == "result"


# --- relay mode -------------------------------------------------------------------------------


@xmpp
async def test_relay_to_a_room_on_prosodys_muc(stack: Stack) -> None:
    rita = await XmppClient.connect(stack.prosody)
    await rita.join(RELAY_ROOM, "rita")
    sam = await irc_join(stack.port, RELAY_CHANNEL)
    # The IRC user appears in the remote room as an occupant (its puppet) ...
    await rita.expect(presence_from(RELAY_ROOM, sam.nick), what="the puppet's presence")
    # ... and the room's occupants are in the channel.
    joined = await sam.expect(
        "JOIN", where=lambda m: m.source is not None and m.source.startswith("rita!")
    )
    assert joined.params[0] == RELAY_CHANNEL
    await sam.send(f"PRIVMSG {RELAY_CHANNEL} :hello remote room")
    heard = await rita.expect(groupchat("hello remote room"))
    assert heard.get("from") == f"{RELAY_ROOM}/{sam.nick}"
    rita.send(f"<message to='{RELAY_ROOM}' type='groupchat'><body>hello channel</body></message>")
    line = await sam.expect("PRIVMSG")
    assert line.params == [RELAY_CHANNEL, "hello channel"]
    assert line.source is not None and line.source.startswith("rita!")
    # Private messages go through the puppet.
    await sam.send("PRIVMSG rita :just you")
    private = await rita.expect(
        lambda e: e.get("type") == "chat" and text_of(e, "body") == "just you"
    )
    assert private.get("from") == f"{RELAY_ROOM}/{sam.nick}"
    # Leaving the channel leaves the room.
    await sam.send(f"PART {RELAY_CHANNEL} :later")
    await rita.expect(presence_from(RELAY_ROOM, sam.nick, "unavailable"))
    await asyncio.sleep(0)


# --- a JID bound to an account is a location of the person -----------------------------

LOCATION_PASSWORD = "location-pass-word"


def chat_reply(type_: str) -> Callable[[Element], bool]:
    return lambda e: (
        e.tag == tag("message") and e.get("from") == COMPONENT_DOMAIN and e.get("type") == type_
    )


def names_of(line: object) -> list[str]:
    params = getattr(line, "params", [])
    return [n.lstrip("~&@%+") for n in params[-1].split()]


@xmpp
async def test_bound_jid_is_a_location_of_the_person(stack: Stack) -> None:
    channel = "#" + unique("loc")
    room = stack.room(channel)
    dana = await irc_join(stack.port, channel)  # the person, on IRC
    await dana.send(f"PRIVMSG NickServ :REGISTER {LOCATION_PASSWORD}")
    await dana.expect("900")
    eve = await irc_join(stack.port, channel)
    await dana.expect("JOIN")
    phone = await XmppClient.connect(stack.prosody)
    identify = "<message to='{to}' type='chat' id='{id}'><body>IDENTIFY {who} {pw}</body></message>"
    # A wrong password is refused with an XMPP error.
    phone.send(identify.format(to=COMPONENT_DOMAIN, id="w1", who=dana.nick, pw="wrong"))
    refused = await phone.expect(chat_reply("error"), what="the refusal")
    assert refused.get("id") == "w1" and error_condition(refused) == "not-authorized"
    phone.send(identify.format(to=COMPONENT_DOMAIN, id="r1", who=dana.nick, pw=LOCATION_PASSWORD))
    bound = await phone.expect(chat_reply("chat"), what="the confirmation")
    assert f"identified as {dana.nick}" in (text_of(bound, "body") or "")
    # The join: the occupant is the person, under its nick (210), in one piece.
    got = await phone.join(room, "danaphone")
    mine = [e for e in got if "110" in status_codes(e)]
    assert mine and mine[0].get("from") == f"{room}/{dana.nick}"
    assert {"110", "210"} <= status_codes(mine[0])
    occupants = {e.get("from") for e in got if e.tag == tag("presence")}
    assert occupants == {f"{room}/{dana.nick}", f"{room}/{eve.nick}"}
    await eve.send(f"NAMES {channel}")
    names = names_of(await eve.expect("353"))
    assert sorted(names) == sorted([dana.nick, eve.nick])
    # A line from XMPP: the others get it once, from the person; its IRC session a copy.
    phone.send(
        f"<message to='{room}' type='groupchat' id='p1'><body>from the phone</body></message>"
    )
    heard = await eve.expect("PRIVMSG")
    assert heard.params == [channel, "from the phone"]
    assert heard.source is not None and heard.source.startswith(dana.nick + "!")
    copy = await dana.expect("PRIVMSG")
    assert copy.params == [channel, "from the phone"]
    assert copy.source is not None and copy.source.startswith(dana.nick + "!")
    echo = await phone.expect(groupchat("from the phone"), what="the reflection")
    assert echo.get("id") == "p1" and echo.get("from") == f"{room}/{dana.nick}"
    # A line to the channel reaches the person's IRC session and its XMPP location.
    await eve.send(f"PRIVMSG {channel} :to both of you")
    assert (await dana.expect("PRIVMSG")).params == [channel, "to both of you"]
    heard_x = await phone.expect(groupchat("to both of you"))
    assert heard_x.get("from") == f"{room}/{eve.nick}"
    # What the person says on IRC shows in the XMPP location too.
    await dana.send(f"PRIVMSG {channel} :from the laptop")
    said = await phone.expect(groupchat("from the laptop"))
    assert said.get("from") == f"{room}/{dana.nick}"
    await eve.expect("PRIVMSG", where=lambda m: m.params[-1] == "from the laptop")
    await eve.sync()
    lines = [m for m in eve.history if m.command == "PRIVMSG"]
    assert [m.params[-1] for m in lines].count("from the phone") == 1
    # The person changes nick on IRC: its XMPP location follows (110, 303).
    old = dana.nick
    dana.nick = unique("dn")
    await dana.send(f"NICK {dana.nick}")
    renamed = await phone.expect(presence_from(room, old, "unavailable"))
    assert {"110", "303"} <= status_codes(renamed)
    phone.send(f"<message to='{room}' type='groupchat'><body>renamed</body></message>")
    later = await eve.expect("PRIVMSG", where=lambda m: m.params[-1] == "renamed")
    assert later.source is not None and later.source.startswith(dana.nick + "!")
    # The person joins another channel from IRC: nothing changes for its XMPP location.
    other = "#" + unique("loc2")
    await dana.send(f"JOIN {other}")
    await dana.expect("366")
    phone.send(f"<message to='{room}' type='groupchat'><body>still in</body></message>")
    await eve.expect("PRIVMSG", where=lambda m: m.params[-1] == "still in")
    await dana.sync()
    assert not [m for m in dana.history if m.command == "PART"]
    # The XMPP session leaves the room: the person stays in the channel (no PART).
    phone.send(f"<presence to='{room}/danaphone' type='unavailable'/>")
    await phone.expect(presence_from(room, dana.nick, "unavailable"))
    await eve.send(f"NAMES {channel}")
    assert sorted(names_of(await eve.expect("353"))) == sorted([dana.nick, eve.nick])
    assert not [m for m in eve.history if m.command in ("PART", "QUIT")]
    # It joins again, and the person PARTs on IRC: the XMPP session is out of the room.
    await phone.join(room, "danaphone")
    await dana.send(f"PART {channel} :done")
    gone = await phone.expect(presence_from(room, dana.nick, "unavailable"))
    assert "110" in status_codes(gone)


@xmpp
async def test_bound_jid_joins_for_the_person_and_keeps_it_online(stack: Stack) -> None:
    channel = "#" + unique("locj")
    room = stack.room(channel)
    dana = await connect_registered(stack.port, unique("d"))
    await dana.send(f"PRIVMSG NickServ :REGISTER {LOCATION_PASSWORD}")
    await dana.expect("900")
    await dana.send("PRIVMSG NickServ :SET ALWAYS-ON OFF")  # else it stays online anyway
    await dana.expect("NOTICE")
    eve = await irc_join(stack.port, channel)
    phone = await XmppClient.connect(stack.prosody)
    phone.send(
        f"<message to='{COMPONENT_DOMAIN}' type='chat'>"
        f"<body>IDENTIFY {dana.nick} {LOCATION_PASSWORD}</body></message>"
    )
    await phone.expect(chat_reply("chat"), what="the confirmation")
    # The person is not in the channel: it enters, and its IRC session sees the JOIN.
    await phone.join(room, "whatever")
    joined_line = await dana.expect("JOIN")
    assert joined_line.params[0] == channel
    seen = await eve.expect("JOIN")
    assert seen.source is not None and seen.source.startswith(dana.nick + "!")
    # Its IRC connection ends: the XMPP location keeps the person online, in the channel.
    await dana.send("QUIT :bye")
    phone.send(f"<message to='{room}' type='groupchat'><body>still here</body></message>")
    heard = await eve.expect("PRIVMSG")
    assert heard.source is not None and heard.source.startswith(dana.nick + "!")
    await eve.send(f"WHOIS {dana.nick}")
    assert (await eve.expect("330")).params[2] == dana.nick
    assert not [m for m in eve.history if m.command in ("PART", "QUIT")]
    # Its last location leaves: now the person (not always-on) quits.
    phone.send(f"<presence to='{room}/whatever' type='unavailable'/>")
    quit_line = await eve.expect("QUIT")
    assert quit_line.source is not None and quit_line.source.startswith(dana.nick + "!")


@xmpp
async def test_bound_jid_brings_an_offline_person_online(stack: Stack) -> None:
    channel = "#" + unique("loco")
    room = stack.room(channel)
    dana = await connect_registered(stack.port, unique("o"))
    account = dana.nick
    await dana.send(f"PRIVMSG NickServ :REGISTER {LOCATION_PASSWORD}")
    await dana.expect("900")
    await dana.send("PRIVMSG NickServ :SET ALWAYS-ON OFF")
    await dana.expect("NOTICE")
    await dana.send("QUIT :gone")
    eve = await irc_join(stack.port, channel)
    await eve.send(f"WHOIS {account}")
    await eve.expect("401")  # nobody is online for the account
    phone = await XmppClient.connect(stack.prosody)
    phone.send(
        f"<message to='{COMPONENT_DOMAIN}' type='chat'>"
        f"<body>IDENTIFY {account} {LOCATION_PASSWORD}</body></message>"
    )
    await phone.expect(chat_reply("chat"), what="the confirmation")
    got = await phone.join(room, "someone")
    assert any(e.get("from") == f"{room}/{account}" and "110" in status_codes(e) for e in got)
    # The person is online by its XMPP location: in NAMES under the account's name,
    # logged in (WHOIS 330).
    seen = await eve.expect("JOIN")
    assert seen.source is not None and seen.source.startswith(account + "!")
    await eve.send(f"WHOIS {account}")
    assert (await eve.expect("330")).params[2] == account
    # An IRC login to the account attaches to that person: it is in the channel.
    laptop = await RawClient.connect(stack.port)
    laptop.nick = account
    await laptop.send(f"PASS {account}:{LOCATION_PASSWORD}", f"NICK {account}", "USER l 0 * :L")
    await laptop.expect("001")
    joined_line = await laptop.expect("JOIN")
    assert joined_line.params[0] == channel
    phone.send(f"<message to='{room}' type='groupchat'><body>one person</body></message>")
    copy = await laptop.expect("PRIVMSG")
    assert copy.params == [channel, "one person"]
    assert not [m for m in eve.history if m.command in ("PART", "QUIT")]


@xmpp
async def test_unbound_and_logged_out_jids_are_persons_of_their_own(stack: Stack) -> None:
    channel = "#" + unique("unb")
    room = stack.room(channel)
    alice = await irc_join(stack.port, channel)
    frank = await XmppClient.connect(stack.prosody)
    frank.send(f"<message to='{COMPONENT_DOMAIN}' type='chat'><body>LOGOUT</body></message>")
    await frank.expect(chat_reply("chat"))
    await frank.join(room, "frank")
    await alice.send(f"NAMES {channel}")
    assert "frank" in names_of(await alice.expect("353"))


def test_prosody_directory_is_private(tmp_path: Path) -> None:
    """The fixture writes everything under the test's own directory (xdist-safe)."""
    from .prosody import Prosody

    prosody = Prosody(tmp_path, 1, 2)
    prosody.write_config()
    text = prosody.config_path.read_text()
    assert str(tmp_path) in text and "c2s_ports = { 1 }" in text


def test_missing_prosody_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Prosody the XMPP tests fail (never skip) and say how to get it."""
    from . import prosody as module

    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install prosody"):
        module.prosody_binary()
