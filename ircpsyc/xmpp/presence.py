"""Presence to a room: join, leave, nick change, away; and the join sequence.

A join (presence to `room@DOMAIN/nick`) creates or reuses the `XmppPerson` of
that bare JID and nick and sends `_request_enter` for it: the place decides.
The echo (`render`) plays the join sequence here: the other occupants'
presences, the self-presence (110, 100, 170, and 210 when the nick was
altered), the history and the subject.  Show away/xa/dnd is the person's AWAY.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.xmpp import history, muc
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.nicks import irc_nick, unique_nick
from ircpsyc.xmpp.person import GatewayUser, Occupancy, RoomState, XmppPerson, away_text
from ircpsyc.xmpp.state import Pending, joined, xmpp_members

if TYPE_CHECKING:
    from ircpsyc.xmpp.state import Host


def handle(gw: Host, element: Element, sender: J.JID, to: J.JID, channel: str) -> None:
    """A presence from an XMPP session to the room of `channel`."""
    folded = casefold(channel)
    full = str(sender)
    type_ = element.get("type", "")
    person = gw.session_person(full, folded)
    if type_ in ("unavailable", "error"):
        if person is not None:
            status = S.child_text(element, "status") or ""
            leave_session(gw, person, folded, full, status, type_ == "error")
        return
    if type_:
        return  # subscriptions and probes are not for rooms
    nick = to.resource
    if not nick.strip():
        gw.send(S.error(element, "jid-malformed", "You need a nickname to join"))
        return
    muc_x = S.child(element, "x", S.MUC)
    if person is None:
        _join(gw, element, sender, to, channel, nick, muc_x)
        return
    state = person.rooms[folded]
    occ = state.sessions[full]
    if person.bound is not None:  # a location of a person: its nick is the person's
        if muc_x is not None and state.joined:
            occ.history = history.request_of(muc_x)
            join_sequence(gw, person, state, occ)
        else:
            _update_show(gw, person, occ, element)
        return
    if nick != state.requested and casefold(irc_nick(nick, gw.nicklen())) != casefold(person.nick):
        _change_nick(gw, element, person, state, nick)
        return
    if muc_x is not None and state.joined:
        occ.history = history.request_of(muc_x)
        _update_show(gw, person, occ, element)
        join_sequence(gw, person, state, occ)
        return
    _update_show(gw, person, occ, element)


def _join(
    gw: Host,
    element: Element,
    sender: J.JID,
    to: J.JID,
    channel: str,
    nick: str,
    muc_x: Element | None,
) -> None:
    owner = _bound_person(gw, sender)
    if owner is not None:
        _join_as(gw, element, sender, to, channel, nick, muc_x, owner)
        return
    folded = casefold(channel)
    full = str(sender)
    key = (sender.bare, nick.lower())
    person = gw.persons.get(key)
    occ = Occupancy(full, history=history.request_of(muc_x))
    _update_show(gw, None, occ, element)
    if person is not None and folded in person.rooms:
        state = person.rooms[folded]  # another session of the same occupant
        state.sessions[full] = occ
        if state.joined:
            join_sequence(gw, person, state, occ)
        return
    view = gw.view(channel)
    wanted = irc_nick(nick, gw.nicklen())
    if person is None:
        holder = view.member_by_nick(wanted) if view is not None else None
        if holder is not None:
            gw.send(
                S.error(
                    element,
                    "conflict",
                    "That nickname is already in use in this room",
                    by=to.bare,
                )
            )
            return
        if len(gw.persons) >= gw.core.config.limits.max_clients:
            gw.send(S.error(element, "service-unavailable", "Too many XMPP users"))
            return
        given = unique_nick(wanted, gw.nicklen(), gw.nick_taken)
        user = irc_nick(sender.local or sender.domain, 10).lower()
        person = XmppPerson(gw, given, sender.bare, nick, user, sender.domain)
        person.show = occ.show
        person.away = away_text(occ.show, occ.status)
        gw.persons[key] = person
        gw.by_bare.setdefault(person.bare, []).append(person)
        gw.add_user(person)
    elif view is not None:
        holder = view.member_by_nick(person.nick)
        if holder is not None and holder.route is not person:
            gw.send(S.error(element, "conflict", "That nickname is already in use", by=to.bare))
            return
    if len(person.rooms) >= gw.core.config.limits.max_channels:
        gw.send(S.error(element, "not-allowed", "You have joined too many channels", by=to.bare))
        gw.forget_if_idle(person)
        return
    state = RoomState(view.name if view is not None else channel, to.bare, "", nick)
    state.uniform = view.uniform if view is not None else gw.place_uniform(channel)
    state.sessions[full] = occ
    person.rooms[folded] = state
    tag = gw.tag()
    gw.remember(tag, Pending("enter", person, folded, full))
    vars = person.enter_vars()
    vars[V.IP] = "0.0.0.0"
    _request_enter(gw, person, state, tag, muc_x, vars)


def _bound_person(gw: Host, sender: J.JID) -> Person | None:
    """The online person of the account `sender`'s bare JID is bound to, if any."""
    account = gw.bindings.get(sender.bare)
    if not account:
        return None
    found: Person | None = gw.core.persons.account_person(account)
    if found is None:  # nobody is on IRC: the XMPP presence brings the person online
        user = irc_nick(sender.local or sender.domain, 10).lower()
        found = gw.core.location_person(account, user, sender.domain)
    if found is None or isinstance(found, GatewayUser):
        return None
    owner: Person = found
    return owner


def _join_as(
    gw: Host,
    element: Element,
    sender: J.JID,
    to: J.JID,
    channel: str,
    nick: str,
    muc_x: Element | None,
    owner: Person,
) -> None:
    """A bound JID joins: its session is one more location of `owner` (the account's
    person), shown in the room under the person's nick (210), never as a second
    occupant.  A room the person is in plays the join sequence at once; otherwise
    the person enters (its IRC sessions see the JOIN) and the echo plays it."""
    folded = casefold(channel)
    full = str(sender)
    occ = Occupancy(full, history=history.request_of(muc_x))
    _update_show(gw, None, occ, element)
    location = next((p for p in gw.by_bare.get(sender.bare, ()) if p.bound is owner), None)
    if location is not None and folded in location.rooms:
        state = location.rooms[folded]
        state.sessions[full] = occ
        if state.joined:
            join_sequence(gw, location, state, occ)
        return
    if location is None:
        location = XmppPerson(gw, owner.nick, sender.bare, nick, owner.user, owner.host)
        location.uniform = owner.uniform
        location.account = owner.account
        location.bound = owner
        gw.persons[(sender.bare, "\0" + casefold(owner.account))] = location
        gw.by_bare.setdefault(sender.bare, []).append(location)
        owner.attach_location(location)
    view = gw.view(channel)
    state = RoomState(view.name if view is not None else channel, to.bare, "", nick)
    state.uniform = view.uniform if view is not None else gw.place_uniform(channel)
    state.sessions[full] = occ
    location.rooms[folded] = state
    if view is not None and folded in owner.channels:
        state.joined = True
        location.enter_channel(folded, view)
        join_sequence(gw, location, state, occ)
        return
    tag = gw.tag()
    gw.remember(tag, Pending("enter", location, folded, full))
    _request_enter(gw, owner, state, tag, muc_x, owner.enter_vars())


def _request_enter(
    gw: Host,
    who: Person,
    state: RoomState,
    tag: str,
    muc_x: Element | None,
    vars: dict[str, Value],
) -> None:
    """`who` asks the room's place to enter (with the room password, if given); the
    answer comes back tagged `tag`."""
    vars[V.NICK_PLACE] = state.channel
    password = S.child_text(muc_x, "password", S.MUC) if muc_x is not None else None
    if password:
        vars[V.KEY] = password
    gw.core.router.send(
        Packet(
            V.REQUEST_ENTER,
            {V.SOURCE: who.uniform, V.TARGET: state.uniform, V.TAG: tag},
            {V.NICK: who.nick, **vars},
        )
    )


def leave_session(
    gw: Host, person: XmppPerson, folded: str, full: str, status: str, bounced: bool
) -> None:
    """Session `full` left the room (or bounced): the person leaves with its last session."""
    state = person.rooms.get(folded)
    if state is None or full not in state.sessions:
        return
    occ = state.sessions.pop(full)
    for element in gw.waiting.pop((full, state.jid), ()):  # no history any more
        gw.send(element)
    if not bounced and occ.joined:
        gw.send(muc.self_unavailable(person, state, full, ["110"], status))
    if state.sessions:
        return
    del person.rooms[folded]
    if state.joined:
        person.channels.pop(folded, None)
        if person.bound is None:  # a location leaves the room, never the person
            person.request(V.REQUEST_LEAVE, state.uniform, {V.REASON: status})
    gw.forget_if_idle(person)


def _change_nick(
    gw: Host, element: Element, person: XmppPerson, state: RoomState, nick: str
) -> None:
    """A joined session asks for another nick: the person is renamed everywhere (IRC NICK)."""
    to = state.jid
    if not state.joined:
        gw.send(S.error(element, "not-acceptable", "Wait until you have joined", by=to))
        return
    wanted = irc_nick(nick, gw.nicklen())
    for folded in person.rooms:
        view = gw.view(person.rooms[folded].channel)
        holder = view.member_by_nick(wanted) if view is not None else None
        if holder is not None and holder.route is not person:
            gw.send(S.error(element, "conflict", "That nickname is already in use", by=to))
            return
    if gw.persons.get((person.bare, nick.lower())) not in (None, person):
        gw.send(S.error(element, "conflict", "You already use that nickname", by=to))
        return
    new = unique_nick(wanted, gw.nicklen(), lambda n: gw.nick_taken(n, person))
    for key, known in list(gw.persons.items()):
        if known is person:
            del gw.persons[key]
    gw.persons[(person.bare, nick.lower())] = person
    person.requested = nick
    for room in person.rooms.values():
        room.requested = nick
    if new == person.nick:
        return
    gw.rename_user(person, new)


def _update_show(gw: Host, person: XmppPerson | None, occ: Occupancy, element: Element) -> None:
    show = S.child_text(element, "show") or ""
    status = S.child_text(element, "status") or ""
    occ.show, occ.status = show, status
    if person is None or person.bound is not None:  # a location's show is not its AWAY yet
        return
    away = away_text(show, status)[: gw.core.config.limits.awaylen]
    changed = show != person.show or away != person.away
    person.show = show
    if away != person.away:
        person.away = away
        gw.core.persons.gateway_away(person)
    if changed:
        presence_changed(gw, person)


def presence_changed(gw: Host, user: Person) -> None:
    """Show `user`'s (new) show/status to the XMPP occupants of its channels."""
    for view in list(user.channels.values()):
        member = view.member(user.uniform)
        if member is None:
            continue
        for other in xmpp_members(view):
            state = other.rooms.get(view.folded)
            if state is None or not state.joined:
                continue
            for occ in joined(state):
                gw.send(muc.occupant_presence(view, member, state, occ.full, other))


def join_sequence(gw: Host, person: XmppPerson, state: RoomState, occ: Occupancy) -> None:
    """The room as a session that just joined sees it: occupants, itself, history, subject."""
    view = gw.view(state.channel)
    if view is None:
        return
    occ.joined = True
    me = view.member(person.uniform)
    for member in list(view.members.values()):
        if member is not me:
            gw.send(muc.occupant_presence(view, member, state, occ.full, person))
    if me is not None:
        codes = ["100"]
        if gw.core.config.history.enabled:
            codes.append("170")
        if person.nick != state.requested:
            codes.append("210")
        gw.send(muc.occupant_presence(view, me, state, occ.full, person, codes))
    if history.ask_home(gw, person, view, state, occ):
        return  # the history and the subject follow the home's answer
    for message in history.local(gw, view, state, occ):
        gw.send(message)
    gw.send(muc.subject(view, state, occ))
