"""The MUC gateway's sans-IO core: stanzas in, IRC lines and stanzas out, no sockets.

`Gate` is an in-memory ircpsyc (`helpers.World`) with the gateway installed;
what the gateway sends is collected, and every stanza is checked on the way:
its `from` must be in the component's domain (anything else would make the
XMPP server drop the component) and it must serialise to well-formed XML.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from xml.etree.ElementTree import Element, fromstring, tostring

import pytest
from helpers import FakeClient, World, make_config

from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.component import install
from ircpsyc.xmpp.person import XmppPerson

DOMAIN = "irc.localhost"
ROOM = f"chat@{DOMAIN}"
BOB = "bob@example.org/phone"
EVE = "eve@example.net/laptop"


class Gate:
    def __init__(self, **settings: Any) -> None:
        config = make_config()
        xmpp = dataclasses.replace(config.xmpp, enabled=True, domain=DOMAIN, secret="s", **settings)
        self.world = World(dataclasses.replace(config, xmpp=xmpp))
        self.core = self.world.core
        self.gateway = install(self.core)
        self.sent: list[Element] = []
        self.gateway.output = self._out
        self.gateway.link_up()

    def _out(self, element: Element) -> None:
        sender = element.get("from", "")
        assert sender == DOMAIN or re.fullmatch(rf"[^@/]+@{re.escape(DOMAIN)}(/.*)?", sender), (
            f"a stanza from outside the component's domain: {tostring(element).decode()}"
        )
        fromstring(tostring(element))  # well-formed, whatever went into it
        self.sent.append(element)

    def take(self) -> list[Element]:
        out, self.sent = self.sent, []
        return out

    def send(self, xml: str) -> list[Element]:
        xml = re.sub(r"^<(\w+)", rf"<\1 xmlns='{S.COMPONENT}'", xml, count=1)
        self.gateway.handle(fromstring(xml))
        return self.take()

    def join(self, full: str, nick: str, room: str = ROOM, inner: str = "") -> list[Element]:
        return self.send(
            f"<presence from='{full}' to='{room}/{nick}'><x xmlns='{S.MUC}'>{inner}</x></presence>"
        )

    def say(self, full: str, body: str, id_: str = "m1", room: str = ROOM) -> list[Element]:
        return self.send(
            f"<message from='{full}' to='{room}' type='groupchat' id='{id_}'>"
            f"<body>{body}</body></message>"
        )

    def irc(self, nick: str, *channels: str, caps: tuple[str, ...] = ()) -> FakeClient:
        client = self.world.client(nick, caps)
        for channel in channels:
            client.send(f"JOIN {channel}")
        client.take()
        return client


def codes(element: Element) -> set[str]:
    x = S.child(element, "x", S.MUC_USER)
    return {n.get("code", "") for n in x if S.local_name(n) == "status"} if x is not None else set()


def item(element: Element) -> Element:
    x = S.child(element, "x", S.MUC_USER)
    assert x is not None, tostring(element)
    found = S.child(x, "item", S.MUC_USER)
    assert found is not None
    return found


def body(element: Element) -> str | None:
    return S.child_text(element, "body")


def condition(element: Element) -> str:
    error = S.child(element, "error")
    assert error is not None, tostring(element)
    return next(S.local_name(n) for n in error if S.local_name(n) != "text")


def kinds(elements: list[Element]) -> list[str]:
    return [S.local_name(e) for e in elements]


def lines(client: FakeClient) -> list[str]:
    return [line.format() for line in client.take()]


@pytest.fixture
def gate() -> Gate:
    return Gate()


# --- joining ----------------------------------------------------------------------------------


def test_join_sequence(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    alice.send("PRIVMSG #chat :earlier")
    alice.send("TOPIC #chat :our topic")
    alice.take()
    out = gate.join(BOB, "bob")
    assert kinds(out) == ["presence", "presence", "message", "message"]
    other, mine, history, subject = out
    assert other.get("from") == f"{ROOM}/alice"
    assert (item(other).get("affiliation"), item(other).get("role")) == ("admin", "moderator")
    assert mine.get("from") == f"{ROOM}/bob" and mine.get("to") == BOB
    assert {"110", "100", "170"} <= codes(mine) and "210" not in codes(mine)
    assert item(mine).get("jid") == BOB
    assert body(history) == "earlier" and history.get("from") == f"{ROOM}/alice"
    assert S.child(history, "delay", S.DELAY) is not None
    assert S.child_text(subject, "subject") == "our topic"
    assert lines(alice) == [":bob!bob@example.org JOIN #chat"]
    whois = alice.send("WHOIS bob")
    assert any(
        ln.command == "311" and ln.params[1:4] == ["bob", "bob", "example.org"] for ln in whois
    )


def test_history_as_asked(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    for n in range(5):
        alice.send(f"PRIVMSG #chat :line {n}")
    out = gate.join(BOB, "bob", inner="<history maxstanzas='2'/>")
    assert [body(e) for e in out if body(e)] == ["line 3", "line 4"]
    out = gate.join(EVE, "eve", inner="<history maxchars='0'/>")
    assert not [e for e in out if body(e)]
    gate.world.advance(100)
    alice.send("PRIVMSG #chat :recent")
    gate.take()
    out = gate.join("joe@example.org/x", "joe", inner="<history seconds='50'/>")
    assert [body(e) for e in out if body(e) and e.get("to") == "joe@example.org/x"] == ["recent"]


def test_subject_is_sent_even_without_topic(gate: Gate) -> None:
    out = gate.join(BOB, "bob")
    subject = out[-1]
    assert S.child_text(subject, "subject") == "" and subject.get("from") == ROOM
    assert {"110"} <= codes(out[0])
    assert item(out[0]).get("role") == "moderator"  # first in: op


def test_join_errors_follow_the_channel_rules(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    alice.send("MODE #chat +k sesame")
    (error,) = gate.join(BOB, "bob")
    assert error.get("type") == "error" and condition(error) == "not-authorized"
    assert error.get("from") == f"{ROOM}/bob"
    out = gate.join(BOB, "bob", inner="<password>sesame</password>")
    assert "110" in codes(out[1])
    alice.send("MODE #chat -k+i *")
    gate.take()
    assert condition(gate.join(EVE, "eve")[0]) == "registration-required"
    alice.send("MODE #chat -i+l 2")
    gate.take()
    assert condition(gate.join(EVE, "eve")[0]) == "service-unavailable"
    alice.send("MODE #chat -l+b *!*@example.net")
    gate.take()
    assert condition(gate.join(EVE, "eve")[0]) == "forbidden"
    assert gate.core.find("eve") is None and not [
        p for p in gate.gateway.persons.values() if p.bare.startswith("eve")
    ]
    (error,) = gate.send(f"<presence from='{EVE}' to='{ROOM}'><x xmlns='{S.MUC}'/></presence>")
    assert condition(error) == "jid-malformed"
    (error,) = gate.join(EVE, "eve", room=f"a,b@{DOMAIN}")
    assert condition(error) == "item-not-found"


def test_nick_conflict_and_dedup(gate: Gate) -> None:
    gate.irc("alice", "#chat")
    (error,) = gate.join(BOB, "alice")
    assert condition(error) == "conflict"
    gate.irc("carol")  # on IRC, not in the room
    out = gate.join(BOB, "carol")
    mine = next(e for e in out if "110" in codes(e))
    assert mine.get("from") == f"{ROOM}/carol_" and "210" in codes(mine)
    (error,) = gate.join(EVE, "carol_")
    assert condition(error) == "conflict"
    out = gate.join(EVE, "Ève Étoile")
    mine = next(e for e in out if "110" in codes(e))
    assert mine.get("from") == f"{ROOM}/Eve_Etoile"
    # IRC users cannot take those nicks.
    dave = gate.world.connect()
    out = dave.register("carol_")
    assert any(ln.command == "433" for ln in out)


def test_second_session_of_an_occupant(gate: Gate) -> None:
    gate.join(BOB, "bob")
    out = gate.join("bob@example.org/desktop", "bob")
    assert "110" in codes(out[0]) and out[0].get("to") == "bob@example.org/desktop"
    person = gate.core.find("bob")
    assert isinstance(person, XmppPerson)
    assert len(person.rooms["#chat"].sessions) == 2
    out = gate.say(BOB, "hi")
    assert sorted(e.get("to", "") for e in out) == ["bob@example.org/desktop", BOB]
    out = gate.send(f"<presence from='{BOB}' to='{ROOM}/bob' type='unavailable'/>")
    assert [e.get("to") for e in out] == [BOB] and "110" in codes(out[0])
    assert gate.core.find("bob") is person


# --- talking --------------------------------------------------------------------------------------


def test_messages_are_reflected_with_the_senders_id(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    gate.join(EVE, "eve")
    alice.take()
    out = gate.send(
        f"<message from='{BOB}' to='{ROOM}' type='groupchat' id='abc'><body>hello</body>"
        f"<origin-id xmlns='{S.SID}' id='o1'/></message>"
    )
    assert {e.get("to") for e in out} == {BOB, EVE}
    assert {e.get("id") for e in out} == {"abc"}
    assert all(e.get("from") == f"{ROOM}/bob" and body(e) == "hello" for e in out)
    stanza_ids = {S.child(e, "stanza-id", S.SID).get("id") for e in out}  # type: ignore[union-attr]
    assert len(stanza_ids) == 1
    assert lines(alice) == [":bob!bob@example.org PRIVMSG #chat hello"]
    out = gate.say(BOB, "two\nlines", "xyz")
    assert next((body(e), e.get("id")) for e in out if e.get("to") == BOB) == ("two", "xyz")
    assert lines(alice) == [
        ":bob!bob@example.org PRIVMSG #chat two",
        ":bob!bob@example.org PRIVMSG #chat lines",
    ]
    alice.send("PRIVMSG #chat :\x01ACTION \x02waves\x02\x01")
    out = gate.take()
    assert [body(e) for e in out] == ["/me waves", "/me waves"]
    assert out[0].get("from") == f"{ROOM}/alice"


def test_refused_message_is_an_error_with_the_id(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.send("MODE #chat +m")
    gate.take()
    (error,) = gate.say(BOB, "can I talk?", "q9")
    assert error.get("type") == "error" and error.get("id") == "q9"
    assert condition(error) == "forbidden" and error.get("from") == ROOM
    # A message from somebody who is not in the room.
    (error,) = gate.say(EVE, "me?", "q10")
    assert condition(error) == "not-acceptable"
    alice.send("MODE #chat +v bob")
    gate.take()
    out = gate.say(BOB, "now I can", "q11")
    assert [e.get("id") for e in out] == ["q11"]


def test_subject_both_ways(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.send("TOPIC #chat :from irc")
    (subject,) = gate.take()
    assert S.child_text(subject, "subject") == "from irc"
    assert subject.get("from") == f"{ROOM}/alice"
    (error,) = gate.send(
        f"<message from='{BOB}' to='{ROOM}' type='groupchat' id='s'>"
        f"<subject>mine</subject></message>"
    )
    assert condition(error) == "forbidden" and error.get("id") == "s"
    alice.send("MODE #chat -t")
    alice.take()
    gate.send(
        f"<message from='{BOB}' to='{ROOM}' type='groupchat'><subject>mine</subject></message>"
    )
    assert lines(alice) == [":bob!bob@example.org TOPIC #chat mine"]


def test_private_messages(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", "#other")
    gate.join(BOB, "bob")
    gate.join(BOB, "bob", room=f"other@{DOMAIN}")
    alice.take()
    gate.send(
        f"<message from='{BOB}' to='other@{DOMAIN}/alice' type='chat'><body>psst</body></message>"
    )
    assert lines(alice) == [":bob!bob@example.org PRIVMSG alice psst"]
    alice.send("PRIVMSG bob :back")
    (reply,) = gate.take()
    assert reply.get("type") == "chat" and body(reply) == "back"
    assert reply.get("from") == f"other@{DOMAIN}/alice"  # the room the conversation is in
    (error,) = gate.send(
        f"<message from='{BOB}' to='{ROOM}/nobody' type='chat'><body>?</body></message>"
    )
    assert condition(error) == "item-not-found"
    alice.send("AWAY :out")
    gate.take()
    out = gate.send(
        f"<message from='{BOB}' to='{ROOM}/alice' type='chat'><body>there?</body></message>"
    )
    assert [body(e) for e in out] == ["alice is away: out"]


# --- leaving, kicks, bans, ranks, nicks -----------------------------------------------------------


def test_leave(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.take()
    (out,) = gate.send(
        f"<presence from='{BOB}' to='{ROOM}/bob' type='unavailable'><status>bye</status></presence>"
    )
    assert out.get("type") == "unavailable" and "110" in codes(out)
    assert lines(alice) == [":bob!bob@example.org PART #chat bye"]
    assert gate.core.find("bob") is None and "bob" not in gate.core.gateway_users


def test_kick_and_ban(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    gate.join(EVE, "eve")
    alice.send("KICK #chat bob :behave")
    out = gate.take()
    mine = next(e for e in out if e.get("to") == BOB)
    seen = next(e for e in out if e.get("to") == EVE)
    assert {"110", "307"} <= codes(mine) and codes(seen) == {"307"}
    actor = S.child(item(seen), "actor", S.MUC_USER)
    assert actor is not None and actor.get("nick") == "alice"
    assert S.child_text(item(seen), "reason", S.MUC_USER) == "behave"
    assert gate.core.find("bob") is None
    gate.join(BOB, "bob")
    alice.send("MODE #chat +b *!bob@example.org")
    alice.send("KICK #chat bob :gone")
    out = gate.take()
    mine = next(e for e in out if e.get("to") == BOB and e.get("type") == "unavailable")
    assert {"110", "301"} <= codes(mine) and item(mine).get("affiliation") == "outcast"
    assert condition(gate.join(BOB, "bob")[0]) == "forbidden"


def test_moderation_from_xmpp(gate: Gate) -> None:
    gate.join(BOB, "bob")  # op
    alice = gate.irc("alice", "#chat")
    gate.join(EVE, "eve")
    gate.take()

    def admin(items: str, id_: str) -> list[Element]:
        return gate.send(
            f"<iq from='{BOB}' to='{ROOM}' type='set' id='{id_}'>"
            f"<query xmlns='{S.MUC_ADMIN}'>{items}</query></iq>"
        )

    out = admin("<item nick='alice' role='moderator'/>", "a1")
    assert out[-1].get("type") == "result"
    assert "@alice" in " ".join(alice.send("NAMES #chat")[0].params)
    out = admin("<item nick='alice' role='none'><reason>bye</reason></item>", "a2")
    assert any("307" in codes(e) for e in out) and out[-1].get("type") == "result"
    assert any(ln.command == "KICK" for ln in alice.take())
    out = admin("<item jid='eve@example.net' affiliation='outcast'/>", "a3")
    assert any("301" in codes(e) for e in out)
    view = gate.core.places.get("#chat")
    assert view is not None and [e.mask for e in view.lists["b"]] == ["*!eve@example.net"]
    listing = gate.send(
        f"<iq from='{BOB}' to='{ROOM}' type='get' id='a4'>"
        f"<query xmlns='{S.MUC_ADMIN}'><item affiliation='outcast'/></query></iq>"
    )
    found = [i.get("jid") for i in listing[0].iter(S.qname("item", S.MUC_ADMIN))]
    assert found == ["eve@example.net"]
    # A plain occupant may not.
    gate.join(EVE.replace("eve@", "zed@"), "zed")
    (error,) = gate.send(
        f"<iq from='{EVE.replace('eve@', 'zed@')}' to='{ROOM}' type='set' id='a5'>"
        f"<query xmlns='{S.MUC_ADMIN}'><item nick='bob' role='none'/></query></iq>"
    )
    assert error.get("type") == "error" and condition(error) == "not-allowed"


def test_ranks_are_roles_and_mode_changes_resend_presence(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.send("MODE #chat +v bob")
    (update,) = gate.take()
    assert "110" in codes(update)
    assert (item(update).get("affiliation"), item(update).get("role")) == ("member", "participant")
    alice.send("MODE #chat -v+h bob bob")
    assert item(gate.take()[-1]).get("role") == "moderator"
    alice.send("MODE #chat +m")
    out = gate.take()
    notice = [e for e in out if S.local_name(e) == "message"]
    assert notice and "104" in codes(notice[0])
    eve_self = [e for e in gate.join(EVE, "eve") if e.get("to") == EVE and "110" in codes(e)]
    assert item(eve_self[0]).get("role") == "visitor"


def test_nick_changes(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    gate.join(EVE, "eve")
    alice.take()
    out = gate.send(f"<presence from='{BOB}' to='{ROOM}/robert'/>")
    to_bob = [e for e in out if e.get("to") == BOB]
    assert {"303", "110"} <= codes(to_bob[0]) and item(to_bob[0]).get("nick") == "robert"
    assert to_bob[1].get("from") == f"{ROOM}/robert" and "110" in codes(to_bob[1])
    to_eve = [e for e in out if e.get("to") == EVE]
    assert codes(to_eve[0]) == {"303"}
    assert lines(alice) == [":bob!bob@example.org NICK robert"]
    assert gate.core.find("robert") is not None and gate.core.find("bob") is None
    (error,) = gate.send(f"<presence from='{BOB}' to='{ROOM}/alice'/>")
    assert condition(error) == "conflict"
    alice.send("NICK alicia")
    out = gate.take()
    assert {e.get("to") for e in out} == {BOB, EVE}
    assert item(out[0]).get("nick") == "alicia" and "303" in codes(out[0])


# --- away, invitations, discovery -----------------------------------------------------------------


def test_away_both_ways(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", caps=("away-notify",))
    gate.join(BOB, "bob")
    gate.join(EVE, "eve")
    alice.take()
    out = gate.send(f"<presence from='{BOB}' to='{ROOM}/bob'><show>xa</show></presence>")
    assert lines(alice) == [":bob!bob@example.org AWAY :Extended away"]
    shown = [e for e in out if e.get("to") == EVE]
    assert S.child_text(shown[0], "show") == "xa"
    gate.send(f"<presence from='{BOB}' to='{ROOM}/bob'><show>chat</show></presence>")
    assert lines(alice) == [":bob!bob@example.org AWAY"]
    alice.send("AWAY :lunch")
    out = gate.take()
    assert {(S.child_text(e, "show"), S.child_text(e, "status")) for e in out} == {
        ("away", "lunch")
    }
    # A newcomer sees who is away at once.
    out = [e for e in gate.join("joe@example.org/x", "joe") if e.get("to") == "joe@example.org/x"]
    first = out[0]
    assert first.get("from") == f"{ROOM}/alice" and S.child_text(first, "show") == "away"


def test_irc_display_name_shows_as_xep_0172_nick(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", caps=("draft/metadata-2",))
    gate.join(BOB, "bob")
    gate.take()
    alice.send("METADATA * SET display-name :Alice Liddell")
    (shown,) = gate.take()
    assert shown.get("from") == f"{ROOM}/alice"  # the occupant's nick stays
    assert S.child_text(shown, "nick", S.NICK) == "Alice Liddell"
    out = [e for e in gate.join(EVE, "eve") if e.get("from") == f"{ROOM}/alice"]
    assert S.child_text(out[0], "nick", S.NICK) == "Alice Liddell"
    alice.send("METADATA * SET display-name")
    shown_to = {e.get("to"): e for e in gate.take()}
    assert set(shown_to) == {BOB, EVE}
    assert all(S.child(e, "nick", S.NICK) is None for e in shown_to.values())


def test_irc_invite_becomes_a_mediated_invitation(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", "#secret")
    gate.join(BOB, "bob")
    alice.send("INVITE bob #secret")
    (invite,) = gate.take()
    assert invite.get("to") == "bob@example.org" and invite.get("from") == f"secret@{DOMAIN}"
    x = S.child(invite, "x", S.MUC_USER)
    assert x is not None and S.child(x, "invite", S.MUC_USER) is not None


def test_disco_ping_and_version(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", "#hidden")
    alice.send("MODE #hidden +s")
    (info,) = gate.send(
        f"<iq from='{BOB}' to='{DOMAIN}' type='get' id='1'><query xmlns='{S.DISCO_INFO}'/></iq>"
    )
    features = {f.get("var") for f in info.iter(S.qname("feature", S.DISCO_INFO))}
    assert {S.MUC, S.PING, S.DISCO_ITEMS} <= features
    (items,) = gate.send(
        f"<iq from='{BOB}' to='{DOMAIN}' type='get' id='2'><query xmlns='{S.DISCO_ITEMS}'/></iq>"
    )
    assert [i.get("jid") for i in items.iter(S.qname("item", S.DISCO_ITEMS))] == [ROOM]
    (room,) = gate.send(
        f"<iq from='{BOB}' to='hidden@{DOMAIN}' type='get' id='3'>"
        f"<query xmlns='{S.DISCO_INFO}'/></iq>"
    )
    features = {f.get("var") for f in room.iter(S.qname("feature", S.DISCO_INFO))}
    assert {"muc_hidden", "muc_open", "muc_unsecured", "muc_nonanonymous"} <= features
    identity = next(room.iter(S.qname("identity", S.DISCO_INFO)))
    assert identity.get("category") == "conference" and identity.get("name") == "#hidden"
    (pong,) = gate.send(
        f"<iq from='{BOB}' to='{DOMAIN}' type='get' id='4'><ping xmlns='{S.PING}'/></iq>"
    )
    assert pong.get("type") == "result"
    (version,) = gate.send(
        f"<iq from='{BOB}' to='{DOMAIN}' type='get' id='5'><query xmlns='{S.VERSION}'/></iq>"
    )
    assert version.get("type") == "result"
    (unknown,) = gate.send(
        f"<iq from='{BOB}' to='{DOMAIN}' type='get' id='6'><query xmlns='jabber:iq:last'/></iq>"
    )
    assert condition(unknown) == "service-unavailable"
    (selfping,) = gate.send(
        f"<iq from='{BOB}' to='{ROOM}/bob' type='get' id='7'><ping xmlns='{S.PING}'/></iq>"
    )
    assert condition(selfping) == "not-acceptable"
    gate.join(BOB, "bob")
    (selfping,) = gate.send(
        f"<iq from='{BOB}' to='{ROOM}/bob' type='get' id='8'><ping xmlns='{S.PING}'/></iq>"
    )
    assert selfping.get("type") == "result"
    (vcard,) = gate.send(
        f"<iq from='{BOB}' to='{ROOM}/alice' type='get' id='9'><vCard xmlns='vcard-temp'/></iq>"
    )
    assert condition(vcard) == "service-unavailable"


def test_stanzas_for_other_domains_are_ignored(gate: Gate) -> None:
    assert (
        gate.send(
            f"<message from='{BOB}' to='room@elsewhere.org' type='groupchat'>"
            f"<body>x</body></message>"
        )
        == []
    )


# --- the link -------------------------------------------------------------------------------------


def test_outage_queues_then_grace_drops(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.take()
    gate.gateway.link_down(100.0)
    alice.send("PRIVMSG #chat :while you were out")
    assert gate.take() == [] and len(gate.gateway.queue) == 1
    gate.gateway.tick(110.0)
    gate.gateway.link_up()
    out = gate.take()
    assert body(out[0]) == "while you were out"
    assert S.local_name(out[1]) == "iq" and out[1].get("to") == BOB  # is bob still there?
    gate.send(
        f"<iq from='{BOB}' to='{ROOM}/bob' type='error' id='{out[1].get('id')}'>"
        f"<error type='cancel'><service-unavailable xmlns='{S.STANZAS}'/></error></iq>"
    )
    assert lines(alice) == [":bob!bob@example.org PART #chat Disconnected"]
    gate.join(BOB, "bob")
    alice.take()
    gate.gateway.link_down(200.0)
    gate.gateway.tick(229.0)
    assert gate.core.find("bob") is not None
    gate.gateway.tick(231.0)
    assert gate.core.find("bob") is None
    assert [ln.command for ln in alice.take()] == ["QUIT"]


def test_bounced_messages_remove_the_occupant(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.take()
    gate.send(
        f"<message from='{BOB}' to='{ROOM}/bob' type='error'>"
        f"<error type='cancel'><recipient-unavailable xmlns='{S.STANZAS}'/></error></message>"
    )
    assert lines(alice) == [":bob!bob@example.org PART #chat Disconnected"]


def test_shutdown_tells_every_session(gate: Gate) -> None:
    gate.join(BOB, "bob")
    gate.gateway.shutdown()
    (out,) = gate.take()
    assert out.get("type") == "unavailable" and {"110", "332"} <= codes(out)


def test_irc_text_never_breaks_the_stream(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.join(BOB, "bob")
    alice.send("PRIVMSG #chat :\x03" + "4,5colour\x07bell\x1b[0m")
    (out,) = gate.take()
    assert body(out) == "colourbell[0m"
    alice.send("PRIVMSG #chat :\x01VERSION\x01")
    assert gate.take() == []


def test_redact_is_a_retraction_and_multiline_one_body(gate: Gate) -> None:
    caps = ("message-tags", "echo-message", "batch", "draft/message-redaction", "draft/multiline")
    alice = gate.irc("alice", "#chat", caps=caps)
    gate.join(BOB, "bob")
    alice.take()
    echo = alice.send("PRIVMSG #chat :regret")[0]
    assert echo.tags is not None
    msgid = echo.tags["msgid"]
    said = next(e for e in gate.take() if e.get("to") == BOB)
    assert S.child(said, "stanza-id", S.SID).get("id") == msgid  # type: ignore[union-attr]

    redacted = alice.send(f"REDACT #chat {msgid} :typo")
    assert [(m.command, m.params) for m in redacted] == [("REDACT", ["#chat", msgid, "typo"])]
    (out,) = gate.take()
    assert out.get("to") == BOB and out.get("from") == f"{ROOM}/alice"
    retract = S.child(out, "retract", S.RETRACT)
    assert retract is not None and retract.get("id") == msgid
    assert S.child_text(retract, "reason", S.RETRACT) == "typo"
    assert S.child(out, "fallback", S.FALLBACK) is not None and body(out)

    # A multiline message from IRC is one XMPP body.
    alice.send("BATCH +m draft/multiline #chat")
    alice.send("@batch=m PRIVMSG #chat :one")
    alice.send("@batch=m PRIVMSG #chat :two")
    alice.send("BATCH -m")
    (out,) = gate.take()
    assert body(out) == "one\ntwo"


def test_rename_destroys_the_room_and_offers_the_new_one(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", caps=("draft/channel-rename",))  # the op
    gate.join(BOB, "bob")
    alice.take()
    seen = [ln.format().split(" ", 1)[1] for ln in alice.send("RENAME #chat #talk :tidier")]
    assert seen == ["RENAME #chat #talk tidier"], seen
    out = gate.take()
    mine = next(e for e in out if e.get("to") == BOB and e.get("type") == "unavailable")
    assert mine.get("from") == f"{ROOM}/bob" and "110" in codes(mine)
    x = S.child(mine, "x", S.MUC_USER)
    destroy = S.child(x, "destroy", S.MUC_USER) if x is not None else None
    assert destroy is not None and destroy.get("jid") == f"talk@{DOMAIN}", tostring(mine)
    assert S.child_text(destroy, "reason", S.MUC_USER) == "tidier"
    # After the cast, the occupant leaves the renamed place (no ghost member) ...
    gate.gateway.tick(0.0)
    assert lines(alice) == [":bob!bob@example.org PART #talk tidier"]
    # ... and joining the new room is an ordinary join.
    out = gate.join(BOB, "bob", room=f"talk@{DOMAIN}")
    assert any("110" in codes(e) for e in out if S.local_name(e) == "presence")
    assert lines(alice) == [":bob!bob@example.org JOIN #talk"]
