"""Relay mode without a network: a channel bridged to a remote MUC, whose stanzas we forge."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest
from test_xmpp_gateway import Gate, body, lines

from ircpsyc.config import XmppBridgeEntry
from ircpsyc.xmpp import stanza as S

REMOTE = "chat@conference.example"
PUPPET = "alice@irc.localhost/irc"


@pytest.fixture
def gate() -> Gate:
    return Gate(bridge=(XmppBridgeEntry(channel="#chat", room=REMOTE),))


def occupant(
    nick: str, to: str = PUPPET, role: str = "participant", jid: str = "", extra: str = ""
) -> str:
    real = f" jid='{jid}'" if jid else ""
    return (
        f"<presence from='{REMOTE}/{nick}' to='{to}'><x xmlns='{S.MUC_USER}'>"
        f"<item affiliation='none' role='{role}'{real}/>{extra}</x></presence>"
    )


def self_presence(nick: str, to: str = PUPPET) -> str:
    return occupant(nick, to, extra="<status code='110'/>")


def joins(out: list[Element]) -> list[tuple[str, str]]:
    return [
        (e.get("from", ""), e.get("to", ""))
        for e in out
        if S.local_name(e) == "presence" and not e.get("type")
    ]


def test_members_become_puppets_and_occupants_members(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    out = gate.take()
    assert joins(out) == [(PUPPET, f"{REMOTE}/alice")]
    history = out[0].find(f"{{{S.MUC}}}x/{{{S.MUC}}}history")
    assert history is not None and history.get("maxstanzas") == "0"
    alice.send("PRIVMSG #chat :early")  # queued until the puppet is in
    assert gate.take() == []
    gate.send(occupant("rita", jid="rita@example.org/home", role="moderator"))
    said = gate.send(self_presence("alice"))
    assert [body(e) for e in said] == ["early"] and said[0].get("to") == REMOTE
    assert said[0].get("from") == PUPPET
    got = lines(alice)
    assert ":rita!rita@example.org JOIN #chat" in got
    assert any(" MODE #chat +o rita" in ln for ln in got)
    gate.send(
        f"<message from='{REMOTE}/rita' to='{PUPPET}' type='groupchat'>"
        f"<body>hi irc</body></message>"
    )
    assert lines(alice) == [":rita!rita@example.org PRIVMSG #chat :hi irc"]
    # Our own lines reflected by the room, and its history, are not said twice.
    gate.send(
        f"<message from='{REMOTE}/alice' to='{PUPPET}' type='groupchat'>"
        f"<body>early</body></message>"
    )
    gate.send(
        f"<message from='{REMOTE}/rita' to='{PUPPET}' type='groupchat'><body>old</body>"
        f"<delay xmlns='{S.DELAY}' stamp='2020-01-01T00:00:00Z'/></message>"
    )
    assert lines(alice) == []
    gate.send(
        f"<message from='{REMOTE}/rita' to='{PUPPET}' type='groupchat'>"
        f"<subject>remote topic</subject></message>"
    )
    assert any(ln.endswith("TOPIC #chat :remote topic") for ln in lines(alice))


def test_private_messages_go_through_the_puppet(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.send(occupant("rita"))
    gate.send(self_presence("alice"))
    gate.take()
    alice.take()
    alice.send("PRIVMSG rita :psst")
    (message,) = gate.take()
    assert (message.get("from"), message.get("to"), message.get("type")) == (
        PUPPET,
        f"{REMOTE}/rita",
        "chat",
    )
    gate.send(
        f"<message from='{REMOTE}/rita' to='{PUPPET}' type='chat'><body>yes?</body></message>"
    )
    assert lines(alice) == [":rita!rita@conference.example PRIVMSG alice yes?"]
    outsider = gate.irc("zed")
    out = outsider.send("PRIVMSG rita :hello")
    assert [ln.command for ln in out] == ["401"]


def test_conflicting_puppet_nick_is_retried(gate: Gate) -> None:
    gate.irc("alice", "#chat")
    gate.send(occupant("bob"))  # a remote bob, before our bob comes
    gate.send(self_presence("alice"))
    gate.take()
    assert gate.core.find("bob") is not None  # the remote one, as "bob"
    gate.irc("bobby", "#chat")
    out = gate.take()
    assert joins(out) == [("bobby@irc.localhost/irc", f"{REMOTE}/bobby")]
    out = gate.send(
        f"<presence from='{REMOTE}/bobby' to='bobby@irc.localhost/irc' type='error'>"
        f"<error type='cancel'><conflict xmlns='{S.STANZAS}'/></error></presence>"
    )
    assert joins(out) == [("bobby@irc.localhost/irc", f"{REMOTE}/bobby[irc]")]


def test_occupants_leave_rename_and_go_with_the_last_member(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat", caps=("away-notify",))
    gate.send(occupant("rita"))
    gate.send(occupant("sam"))
    gate.send(self_presence("alice"))
    alice.take()
    gate.send(
        f"<presence from='{REMOTE}/rita' to='{PUPPET}' type='unavailable'>"
        f"<x xmlns='{S.MUC_USER}'><item affiliation='none' role='none' nick='ritab'/>"
        f"<status code='303'/></x></presence>"
    )
    assert lines(alice) == [":rita!rita@conference.example NICK ritab"]
    gate.send(occupant("ritab", extra="").replace("</presence>", "<show>away</show></presence>"))
    assert lines(alice) == [":ritab!rita@conference.example AWAY Away"]
    gate.send(
        f"<presence from='{REMOTE}/sam' to='{PUPPET}' type='unavailable'>"
        f"<status>bye</status></presence>"
    )
    assert lines(alice) == [":sam!sam@conference.example PART #chat bye"]
    alice.send("PART #chat")
    out = gate.take()
    assert [(e.get("from"), e.get("type")) for e in out] == [(PUPPET, "unavailable")]
    assert gate.core.find("ritab") is None and gate.core.places.get("#chat") is None


def test_reconnect_drops_occupants_not_seen_again(gate: Gate) -> None:
    alice = gate.irc("alice", "#chat")
    gate.send(occupant("rita"))
    gate.send(occupant("sam"))
    gate.send(self_presence("alice"))
    alice.take()
    gate.gateway.link_down(10.0)
    gate.gateway.link_up()
    assert joins(gate.take()) == [(PUPPET, f"{REMOTE}/alice")]
    gate.send(occupant("rita"))
    gate.send(self_presence("alice"))
    assert lines(alice) == [
        ":sam!sam@conference.example PART #chat :Left while the bridge was away"
    ]
    assert gate.core.find("rita") is not None


def test_iq_to_a_puppet_is_answered(gate: Gate) -> None:
    gate.irc("alice", "#chat")
    gate.take()
    (pong,) = gate.send(
        f"<iq from='{REMOTE}/rita' to='{PUPPET}' type='get' id='p'><ping xmlns='{S.PING}'/></iq>"
    )
    assert pong.get("type") == "result" and pong.get("from") == PUPPET
