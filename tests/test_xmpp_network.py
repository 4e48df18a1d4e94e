"""The MUC gateway on a server that is not the channel's home (sans-IO, `netsim`).

`#x` is pinned to a; the gateway runs on b.  A joining XMPP occupant gets the
history said at the home: b asks a's `$history` (`_request_history`), as IRC's
replay on JOIN does, and the join sequence ends with the subject after it;
what the room says meanwhile waits behind the history (and is not shown twice).
"""

from __future__ import annotations

import dataclasses
import re
from xml.etree.ElementTree import Element, fromstring

from netsim import Sim

from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.component import install
from ircpsyc.xmpp.gateway import Gateway

A, B = "a.test", "b.test"
DOMAIN = "irc.b.test"
ROOM = f"x@{DOMAIN}"
BOB = "bob@example.org/phone"


def network() -> tuple[Sim, Gateway, list[Element]]:
    sim = Sim([A, B], [(A, B)], services=True, pins={"#x": A})
    core = sim[B].core
    core.config = dataclasses.replace(
        core.config,
        xmpp=dataclasses.replace(core.config.xmpp, enabled=True, domain=DOMAIN, secret="s"),
    )
    gateway = install(core)
    sent: list[Element] = []
    gateway.output = sent.append
    gateway.link_up()
    sim.link_all()
    return sim, gateway, sent


def join(sim: Sim, gateway: Gateway, full: str, nick: str, inner: str = "") -> None:
    """A session joins; the network runs until the home has answered everything."""
    presence(gateway, full, nick, inner)
    sim.run()


def presence(gateway: Gateway, full: str, nick: str, inner: str = "") -> None:
    xml = f"<presence from='{full}' to='{ROOM}/{nick}'><x xmlns='{S.MUC}'>{inner}</x></presence>"
    xml = re.sub(r"^<(\w+)", rf"<\1 xmlns='{S.COMPONENT}'", xml, count=1)
    gateway.handle(fromstring(xml))


def bodies(elements: list[Element]) -> list[str]:
    return [b for e in elements if (b := S.child_text(e, "body")) is not None]


def test_joining_occupant_gets_the_history_said_at_the_home() -> None:
    sim, gateway, sent = network()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x", "TOPIC #x :the topic")
    for n in range(5):
        sim.now += 1
        sim.do(alice, f"PRIVMSG #x :line {n}")
    sim.settle()
    assert sim[B].core.history is not None and not sim[B].core.history.recent("#x", 10)
    join(sim, gateway, BOB, "bob", "<history maxstanzas='3'/>")
    sim.settle()
    mine = [e for e in sent if e.get("to") == BOB]
    assert bodies(mine) == ["line 2", "line 3", "line 4"]
    history = [e for e in mine if S.child_text(e, "body")]
    assert all(e.get("from") == f"{ROOM}/alice" for e in history)
    assert all(S.child(e, "delay", S.DELAY) is not None for e in history)
    # The subject ends the sequence, after the history.
    subject = [i for i, e in enumerate(mine) if S.child_text(e, "subject") is not None]
    assert subject and subject[-1] > max(mine.index(e) for e in history)
    assert S.child_text(mine[subject[-1]], "subject") == "the topic"
    # Live lines come after it, once.
    sent.clear()
    sim.do(alice, "PRIVMSG #x :live")
    sim.settle()
    assert bodies([e for e in sent if e.get("to") == BOB]) == ["live"]


def test_a_line_said_while_the_home_answers_comes_once_before_the_subject() -> None:
    sim, gateway, sent = network()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x", "PRIVMSG #x :before")
    sim.settle()
    presence(gateway, BOB, "bob")
    for _ in range(1000):  # deliver packet by packet until b asked a for the history
        if gateway.waiting or not sim.run(1):
            break
    assert gateway.waiting
    mine = [e for e in sent if e.get("to") == BOB]
    assert not [e for e in mine if S.child(e, "subject") is not None]  # not yet
    # Said while the request travels: its cast reaches b before the answer, and the
    # home logged it before answering, so it is history: shown once, before the subject.
    sim.do(alice, "PRIVMSG #x :meanwhile")
    sim.settle()
    order = []
    for element in sent:
        if element.get("to") != BOB:
            continue
        if S.child(element, "subject") is not None:
            order.append("SUBJECT")
        elif S.child_text(element, "body") is not None:
            order.append(S.child_text(element, "body"))
    assert order == ["before", "meanwhile", "SUBJECT"]
    assert not gateway.waiting
    sent.clear()
    sim.do(alice, "PRIVMSG #x :after")
    sim.settle()
    assert bodies([e for e in sent if e.get("to") == BOB]) == ["after"]


def test_an_unreachable_home_still_ends_the_join_with_the_subject() -> None:
    sim, gateway, sent = network()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x", "PRIVMSG #x :said")
    sim.settle()
    join(sim, gateway, BOB, "bob")
    sim.cut(A, B)  # the request (or its answer) is lost with the link
    sim.tick(sim[B].config.network.request_timeout + 2)
    mine = [e for e in sent if e.get("to") == BOB]
    assert [e for e in mine if S.child_text(e, "subject") is not None]
    assert not gateway.waiting
