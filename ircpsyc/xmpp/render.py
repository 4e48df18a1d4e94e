"""Packets to XMPP users, rendered as room stanzas (one renderer per method family).

The gateway looks a packet's method up in `DELIVERY` (with PSYC's prefix
inheritance) and calls the renderer with the person it is for.  Kicks and bans
are unavailable presences with 307/301, nick changes are 303, modes that
change roles re-send presences, other mode changes are status 104; a place's
refusal is a presence or message error, answering the request it refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.channels import modes as M
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Dispatch, Packet
from ircpsyc.psyc_backend.uniform import casefold, normalize
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import muc
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.person import RoomState, XmppPerson
from ircpsyc.xmpp.presence import join_sequence
from ircpsyc.xmpp.state import joined
from ircpsyc.xmpp.text import to_xmpp

if TYPE_CHECKING:
    from ircpsyc.channels.place import Member, PlaceView
    from ircpsyc.xmpp.state import Host

Renderer = Callable[["Host", XmppPerson, Packet], None]

_XID = "xmpp-id"  # render_cache key: the XMPP id of a reflected message

# What a place's refusal to let somebody in is in XEP-0045 (7.2.4 - 7.2.10).
ENTER_ERRORS: dict[str, tuple[str, str]] = {
    V.ERROR_PLACE_ENTER_NECESSARY_INVITATION: (
        "registration-required",
        "This channel is invite-only (+i)",
    ),
    V.ERROR_PLACE_ENTER_NECESSARY_ACCOUNT: (
        "registration-required",
        "Only users logged into an account may join (+R)",
    ),
    V.ERROR_PLACE_ENTER_BANNED: ("forbidden", "You are banned from this channel (+b)"),
    V.ERROR_PLACE_ENTER_NECESSARY_KEY: ("not-authorized", "This channel needs a password (+k)"),
    V.ERROR_PLACE_ENTER_FULL: ("service-unavailable", "This channel is full (+l)"),
    V.ERROR_UNKNOWN_NAME_PLACE: ("item-not-found", "No such channel"),
}


def _room(gw: Host, person: XmppPerson, packet: Packet) -> tuple[RoomState, PlaceView] | None:
    folded = casefold(packet.get(V.NICK_PLACE))
    state = person.rooms.get(folded)
    if state is None or not state.joined:
        return None
    view = gw.view(state.channel)
    if view is None:
        return None
    return state, view


def on_echo_enter(gw: Host, person: XmppPerson, packet: Packet) -> None:
    gw.pending.pop(packet.routing.get(V.TAG_RELAY, ""), None)
    folded = casefold(packet.get(V.NICK_PLACE))
    state = person.rooms.get(folded)
    if state is None and person.bound is not None:
        return  # the person entered from another of its locations (IRC): not ours
    if state is None:  # entered for a session that left meanwhile: leave again
        person.request(V.REQUEST_LEAVE, packet.context or packet.source, {V.REASON: ""})
        return
    view = gw.view(packet.get(V.NICK_PLACE))
    if view is None:
        return
    state.joined = True
    state.channel = view.name
    state.uniform = view.uniform
    person.enter_channel(folded, view)
    for occ in list(state.sessions.values()):
        join_sequence(gw, person, state, occ)


def on_enter(gw: Host, person: XmppPerson, packet: Packet) -> None:
    room = _room(gw, person, packet)
    if room is None:
        return
    state, view = room
    # The place tells its members before it adds the newcomer: no rank yet.
    route = gw.core.router.lookup(packet.relay)
    role = "visitor" if "m" in view.flags else "participant"
    item = Element(S.qname("item", S.MUC_USER), {"affiliation": "none", "role": role})
    real = muc.real_jid(route, view)
    if real:
        item.set("jid", real)
    shown: object = route
    if not isinstance(route, Person):
        shown = muc.Absent(packet.get(V.AWAY))
    for occ in joined(state):
        gw.send(muc.presence_of(view, state, occ.full, person, packet.get(V.NICK), shown, item))


def on_leave(gw: Host, person: XmppPerson, packet: Packet) -> None:
    room = _room(gw, person, packet)
    if room is None:
        return
    state, view = room
    nick = packet.get(V.NICK)
    if normalize(packet.relay) == normalize(person.uniform):
        if person.bound is not None:  # the person left from IRC: so do its XMPP sessions
            for occ in joined(state):
                gw.send(
                    muc.self_unavailable(person, state, occ.full, ["110"], packet.get(V.REASON))
                )
            person.rooms.pop(view.folded, None)
            person.channels.pop(view.folded, None)
            gw.forget_if_idle(person)
        return  # our own leave: already answered
    member = view.member(packet.relay)
    for occ in joined(state):
        presence = S.stanza("presence", state.occupant(nick), occ.full, "unavailable")
        reason = packet.get(V.REASON)
        if reason:
            S.text_child(presence, "status", reason)
        x = SubElement(presence, S.qname("x", S.MUC_USER))
        if member is not None:
            item = muc.item(view, member, {"role": "none"})
        else:
            item = Element(S.qname("item", S.MUC_USER), {"affiliation": "none", "role": "none"})
        x.append(item)
        gw.send(presence)


def on_rename(gw: Host, person: XmppPerson, packet: Packet) -> None:
    """RENAME: the room of the old name goes away (XEP-0045 10.9, its destruction, with
    the room of the new name as the alternate venue the client may join); the person
    leaves the renamed place, so what is not joined again is no ghost member."""
    old, new = casefold(packet.get(V.NICK_PLACE)), packet.get(V.NICK_PLACE_NEW)
    state = person.rooms.get(old)
    if state is None:
        return
    if casefold(new) == old:
        state.channel = new  # only the case: the room JID is the same
        return
    reason = packet.get(V.REASON) or f"Renamed to {new}"
    venue = J.room_jid(new, state.jid.partition("@")[2] or gw.domain)
    for occ in joined(state):
        presence = muc.self_unavailable(person, state, occ.full, ["110"])
        x = presence.find(S.qname("x", S.MUC_USER))
        if x is not None:
            destroy = SubElement(x, S.qname("destroy", S.MUC_USER), {"jid": venue})
            S.text_child(destroy, "reason", reason, S.MUC_USER)
        gw.send(presence)
    del person.rooms[old]
    person.channels.pop(old, None)
    if state.joined:  # after this cast: a leave inside it would overtake it on the links
        gw.leave_later(person, packet.get(V.UNIFORM_PLACE_NEW) or state.uniform, reason)


def on_kick(gw: Host, person: XmppPerson, packet: Packet) -> None:
    room = _room(gw, person, packet)
    if room is None:
        return
    state, view = room
    victim_nick = packet.get(V.NICK_TARGET)
    victim = view.member_by_nick(victim_nick)
    banned = False
    if victim is not None:
        try:
            banned = view.is_banned(victim.subject())
        except Exception:
            banned = view.is_banned(victim.prefix)
    code = "301" if banned else "307"
    affiliation = "outcast" if banned else "none"
    actor = packet.get(V.NICK)
    reason = packet.get(V.REASON)
    if casefold(victim_nick) == casefold(person.nick):
        for occ in joined(state):
            gw.send(
                muc.self_unavailable(
                    person, state, occ.full, ["110", code], "", actor, reason, affiliation
                )
            )
        person.rooms.pop(view.folded, None)
        person.channels.pop(view.folded, None)
        gw.forget_if_idle(person)
        return
    for occ in joined(state):
        presence = S.stanza("presence", state.occupant(victim_nick), occ.full, "unavailable")
        x = SubElement(presence, S.qname("x", S.MUC_USER))
        attrs = {"affiliation": affiliation, "role": "none"}
        if victim is not None and muc.real_jid(victim.route, view):
            attrs["jid"] = muc.real_jid(victim.route, view)
        item = SubElement(x, S.qname("item", S.MUC_USER), attrs)
        if actor:
            SubElement(item, S.qname("actor", S.MUC_USER), {"nick": actor})
        if reason:
            S.text_child(item, "reason", reason, S.MUC_USER)
        SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
        gw.send(presence)


def on_nick(gw: Host, person: XmppPerson, packet: Packet) -> None:
    room = _room(gw, person, packet)
    if room is None:
        return
    state, view = room
    old, new = packet.get(V.NICK), packet.get(V.NICK_NEW)
    member = view.member_by_nick(new)
    mine = casefold(new) == casefold(person.nick)
    for occ in joined(state):
        gone = S.stanza("presence", state.occupant(old), occ.full, "unavailable")
        x = SubElement(gone, S.qname("x", S.MUC_USER))
        if member is not None:
            x.append(muc.item(view, member, {"nick": new}))
        for code in (["110"] if mine else []) + ["303"]:
            SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
        gw.send(gone)
        if member is not None:
            codes = ["210"] if mine and person.nick != state.requested else []
            gw.send(muc.occupant_presence(view, member, state, occ.full, person, codes))


def on_message(gw: Host, person: XmppPerson, packet: Packet) -> None:
    if packet.method.endswith(V.TAGMSG_SUFFIX):
        return
    room = _room(gw, person, packet)
    if room is None:
        return
    state, _view = room
    body = to_xmpp(packet.body)
    if body is None:
        return
    xid, origin = _message_id(gw, packet)
    psyc_id = packet.get(V.ID)
    for occ in joined(state):
        message = S.stanza(
            "message",
            state.occupant(packet.get(V.NICK)),
            occ.full,
            "groupchat",
            xid or psyc_id,
        )
        S.text_child(message, "body", body)
        if psyc_id:
            SubElement(message, S.qname("stanza-id", S.SID), {"id": psyc_id, "by": state.jid})
        if origin:
            SubElement(message, S.qname("origin-id", S.SID), {"id": origin})
        gw.send(message)


def on_redact(gw: Host, person: XmppPerson, packet: Packet) -> None:
    """An IRC REDACT: an XEP-0424 retraction of the message (by its stanza-id, which is
    the IRC msgid), with a fallback body for clients without retraction."""
    room = _room(gw, person, packet)
    if room is None:
        return
    state, _view = room
    msgid = packet.get(V.ID_REDACTED)
    for occ in joined(state):
        message = S.stanza(
            "message", state.occupant(packet.get(V.NICK)), occ.full, "groupchat", packet.get(V.ID)
        )
        retract = SubElement(message, S.qname("retract", S.RETRACT), {"id": msgid})
        reason = packet.get(V.REASON)
        if reason:
            S.text_child(retract, "reason", reason, S.RETRACT)
        SubElement(message, S.qname("fallback", S.FALLBACK), {"for": S.RETRACT})
        S.text_child(message, "body", f"{packet.get(V.NICK)} retracted a message.")
        gw.send(message)


def _message_id(gw: Host, packet: Packet) -> tuple[str, str]:
    """The XMPP id a cast message goes out with: the sender's, when an XMPP user said it."""
    cached = packet.render_cache.get(_XID)
    if cached is None:
        cached = ("", "")
        sender = gw.core.router.lookup(packet.relay)
        said: list[XmppPerson] = []
        if isinstance(sender, XmppPerson):
            said = [sender]
        elif isinstance(sender, Person):  # a person one of whose locations is XMPP
            said = [loc for loc in sender.locations if isinstance(loc, XmppPerson)]
        for speaker in said:
            state = speaker.rooms.get(casefold(packet.get(V.NICK_PLACE)))
            while state is not None and state.sent:
                pending = gw.pending.pop(state.sent.popleft(), None)
                if pending is not None:
                    cached = (pending.xid, pending.origin)
                    break
            if cached != ("", ""):
                break
        packet.render_cache[_XID] = cached
    xid, origin = cached
    return str(xid), str(origin)


def on_private(gw: Host, person: XmppPerson, packet: Packet) -> None:
    if packet.method.endswith(V.TAGMSG_SUFFIX):
        return
    body = to_xmpp(packet.body)
    if body is None:
        return
    sender_nick = packet.get(V.NICK)
    state = _pm_room(gw, person, packet)
    if state is None:
        return
    for occ in joined(state):
        message = S.stanza(
            "message",
            state.occupant(sender_nick),
            occ.full,
            "chat",
            packet.get(V.ID) or new_id(),
        )
        S.text_child(message, "body", body)
        SubElement(message, S.qname("x", S.MUC_USER))
        gw.send(message)


def _pm_room(gw: Host, person: XmppPerson, packet: Packet) -> RoomState | None:
    """Which room a private message to an XMPP user comes through."""
    sender_nick = packet.get(V.NICK)
    candidates = [packet.get(V.NICK_PLACE), person.pm_rooms.get(casefold(sender_nick), "")]
    sender = gw.core.persons.find(sender_nick)
    if sender is not None:
        candidates.extend(view.name for view in sender.channels.values())
    candidates.extend(state.channel for state in person.rooms.values())
    for channel in candidates:
        state = person.rooms.get(casefold(channel)) if channel else None
        if state is not None and state.joined:
            person.pm_rooms[casefold(sender_nick)] = state.channel
            return state
    return None


def on_topic(gw: Host, person: XmppPerson, packet: Packet) -> None:
    room = _room(gw, person, packet)
    if room is None:
        return
    state, view = room
    nick = packet.get(V.NICK)
    sender = state.occupant(nick) if view.member_by_nick(nick) is not None else state.jid
    for occ in joined(state):
        message = S.stanza("message", sender, occ.full, "groupchat", packet.get(V.ID) or new_id())
        S.text_child(message, "subject", packet.get(V.TOPIC))
        gw.send(message)


def on_mode(gw: Host, person: XmppPerson, packet: Packet) -> None:
    room = _room(gw, person, packet)
    if room is None:
        return
    state, view = room
    parsed = M.parse_channel_modes(packet.get(V.MODE), packet.get_list(V.LIST_PARAMETERS))
    changed: dict[str, Member] = {}
    config_change = False
    for change in parsed.changes:
        if change.mode in M.RANKS and change.param:
            member = view.member_by_nick(change.param)
            if member is not None:
                changed[casefold(member.nick)] = member
        elif change.mode == "m":
            for member in list(view.members.values()):
                if member.rank() > M.VOICE:
                    changed[casefold(member.nick)] = member
            config_change = True
        elif change.mode not in M.LIST_MODES:
            config_change = True
    for occ in joined(state):
        for member in changed.values():
            gw.send(muc.occupant_presence(view, member, state, occ.full, person))
        if config_change:
            notice = S.stanza("message", state.jid, occ.full, "groupchat", new_id())
            x = SubElement(notice, S.qname("x", S.MUC_USER))
            SubElement(x, S.qname("status", S.MUC_USER), {"code": "104"})
            gw.send(notice)


def on_invite(gw: Host, person: XmppPerson, packet: Packet) -> None:
    channel = packet.get(V.NICK_PLACE)
    room = J.room_jid(channel, gw.domain)
    message = S.stanza("message", room, person.bare, "normal", new_id())
    x = SubElement(message, S.qname("x", S.MUC_USER))
    inviter = packet.get(V.NICK)
    invite = SubElement(x, S.qname("invite", S.MUC_USER), {"from": f"{room}/{inviter}"})
    S.text_child(invite, "reason", f"{inviter} invites you to {channel}", S.MUC_USER)
    SubElement(message, S.qname("x", S.CONFERENCE), {"jid": room})
    gw.send(message)


def on_error(gw: Host, person: XmppPerson, packet: Packet) -> None:
    pending = gw.pending.pop(packet.routing.get(V.TAG_RELAY, ""), None)
    if pending is None:
        return
    state = person.rooms.get(pending.folded)
    text = packet.body or _error_text(packet.method)
    if pending.kind == "enter":
        condition, default = ENTER_ERRORS.get(packet.method, ("not-allowed", ""))
        if state is None:
            return
        room = state.jid
        for occ in list(state.sessions.values()):
            reply = S.stanza("presence", state.occupant(state.requested), occ.full, "error")
            SubElement(reply, S.qname("x", S.MUC))
            reply.append(S.error_element(condition, packet.body or default, by=room))
            gw.send(reply)
        person.rooms.pop(pending.folded, None)
        gw.forget_if_idle(person)
    elif pending.kind in ("message", "topic") and state is not None:
        reply = S.stanza("message", state.jid, pending.full, "error", pending.xid)
        reply.append(S.error_element("forbidden", text, by=state.jid))
        gw.send(reply)
    elif pending.kind == "admin" and pending.stanza is not None:
        condition = "not-allowed" if "privilege" in packet.method else "bad-request"
        gw.send(S.error(pending.stanza, condition, text))


def _error_text(method: str) -> str:
    words = method.removeprefix(V.ERROR_PREFIX).replace("_", " ")
    return words[:1].upper() + words[1:]


DELIVERY: Dispatch[Renderer] = Dispatch(
    {
        V.ECHO_PLACE_ENTER: on_echo_enter,
        V.NOTICE_PLACE_ENTER: on_enter,
        V.NOTICE_PLACE_LEAVE: on_leave,
        V.NOTICE_PLACE_LEAVE_KICK: on_kick,
        V.NOTICE_PLACE_NICK: on_nick,
        V.NOTICE_PLACE_TOPIC: on_topic,
        V.NOTICE_PLACE_MODE: on_mode,
        V.NOTICE_PLACE_INVITE: on_invite,
        V.MESSAGE_PUBLIC: on_message,
        V.NOTICE_PLACE_REDACT: on_redact,
        V.NOTICE_PLACE_RENAME: on_rename,
        V.MESSAGE_PRIVATE: on_private,
        V.ERROR: on_error,
    }
)
