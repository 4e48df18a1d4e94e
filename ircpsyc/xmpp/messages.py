"""Messages to a room: groupchat lines, subjects, private messages, invitations.

Groupchat messages are `_message_public` (reflected to everybody with the
sender's id, see `render`), subjects are `_request_set_topic`, chat messages
to `room/nick` are `_message_private` to that nick, and a mediated invitation
(XEP-0045 7.8.2) is `_request_invite`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.person import GatewayUser, RoomState, XmppPerson
from ircpsyc.xmpp.state import Pending, state_of
from ircpsyc.xmpp.text import to_irc

if TYPE_CHECKING:
    from ircpsyc.xmpp.state import Host


def handle(gw: Host, element: Element, sender: J.JID, to: J.JID, channel: str) -> None:
    """A message from an XMPP session to the room of `channel` or one of its occupants."""
    folded = casefold(channel)
    full = str(sender)
    type_ = element.get("type", "normal")
    person = gw.session_person(full, folded)
    body = S.child_text(element, "body")
    if type_ == "groupchat":
        if to.resource:
            gw.send(S.error(element, "bad-request", "Send groupchat messages to the room"))
            return
        if person is None or not person.rooms[folded].joined:
            gw.send(S.error(element, "not-acceptable", "You are not in this room", by=to.bare))
            return
        state = person.rooms[folded]
        subject = S.child_text(element, "subject")
        if subject is not None and body is None:
            tag = gw.tag()
            gw.remember(tag, Pending("topic", person, folded, full, element.get("id", "")))
            gw.core.router.send(
                Packet(
                    V.REQUEST_SET_TOPIC,
                    {V.SOURCE: person.uniform, V.TARGET: state.uniform, V.TAG: tag},
                    {
                        V.NICK: person.nick,
                        V.PREFIX: person.prefix,
                        V.TOPIC: " ".join(subject.split("\n")),
                        V.NICK_PLACE: state.channel,
                    },
                )
            )
            return
        if body:
            _say(gw, person, state, full, body, element)
        return
    if type_ in ("chat", "normal") and to.resource and body:
        _private(gw, element, person, state_of(person, folded), full, to, body)
        return
    if to.resource == "" and type_ == "normal":
        invite = S.child(element, "x", S.MUC_USER)
        if invite is not None and person is not None:
            _invite(gw, person, person.rooms[folded], invite)
        return


def _say(
    gw: Host, person: XmppPerson, state: RoomState, full: str, body: str, element: Element
) -> None:
    origin = ""
    origin_node = S.child(element, "origin-id", S.SID)
    if origin_node is not None:
        origin = origin_node.get("id", "")
    lines = to_irc(body)
    xid = element.get("id", "") or origin
    for index, text in enumerate(lines):
        tag = gw.tag()
        gw.remember(
            tag,
            Pending(
                "message",
                person,
                casefold(state.channel),
                full,
                xid if index == 0 else "",
                origin if index == 0 else "",
            ),
        )
        state.sent.append(tag)
        speaker = person.bound or person  # a location speaks as its person
        if person.bound is not None:  # its IRC sessions get a copy of the echo
            person.bound.location_said(state.channel, V.MESSAGE_PUBLIC, text)
        gw.core.router.send(
            Packet(
                V.MESSAGE_PUBLIC,
                {V.SOURCE: speaker.uniform, V.TARGET: state.uniform, V.TAG: tag},
                {
                    V.NICK: speaker.nick,
                    V.PREFIX: speaker.prefix,
                    V.NICK_PLACE: state.channel,
                    V.TIME: str(int(gw.core.clock() * 1000)),
                },
                text,
            )
        )


def _private(
    gw: Host,
    element: Element,
    person: XmppPerson | None,
    state: RoomState | None,
    full: str,
    to: J.JID,
    body: str,
) -> None:
    if person is None or state is None or not state.joined:
        gw.send(S.error(element, "not-acceptable", "You are not in this room", by=to.bare))
        return
    view = gw.view(state.channel)
    member = view.member_by_nick(to.resource) if view is not None else None
    target = gw.core.persons.find(to.resource) if member is not None else None
    if member is None or target is None:
        gw.send(S.error(element, "item-not-found", "No such occupant", by=to.bare))
        return
    person.pm_rooms[casefold(target.nick)] = state.channel
    for text in to_irc(body):
        gw.core.router.send(
            Packet(
                V.MESSAGE_PRIVATE,
                {V.SOURCE: person.uniform, V.TARGET: target.uniform},
                {
                    V.NICK: person.nick,
                    V.PREFIX: person.prefix,
                    V.NICK_TARGET: target.nick,
                    V.NICK_PLACE: state.channel,
                    V.ID: new_id(),
                    V.TIME: str(int(gw.core.clock() * 1000)),
                },
                text,
            )
        )
    if target.away and not isinstance(target, GatewayUser):
        reply = S.stanza("message", state.occupant(target.nick), full, "chat")
        S.text_child(reply, "body", f"{target.nick} is away: {target.away}")
        SubElement(reply, S.qname("x", S.MUC_USER))
        gw.send(reply)


def _invite(gw: Host, person: XmppPerson, state: RoomState, x: Element) -> None:
    """A mediated invitation (XEP-0045 7.8.2) to a JID that is in a room here is INVITE."""
    for node in x:
        if S.local_name(node) != "invite":
            continue
        invitee = J.parse(node.get("to", ""))
        if invitee is None:
            continue
        target = next(iter(gw.by_bare.get(invitee.bare, ())), None)
        if target is None:
            continue
        person.request(
            V.REQUEST_INVITE,
            state.uniform,
            {
                V.NICK_TARGET: target.nick,
                V.UNIFORM_TARGET: target.uniform,
                V.NICK_PLACE: state.channel,
                V.PREFIX: person.prefix,
            },
        )
