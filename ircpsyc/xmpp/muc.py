"""The XEP-0045 stanzas the gateway builds about occupants (pure: no sending).

Ranks become affiliations and roles, members become `<item/>`s with the JID
they are known by, and presences carry the show/status of the person behind
them.  Who receives them is decided by the callers (`presence`, `render`,
`rooms`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.person import AWAY_SHOWS, Occupancy, RemoteOccupant, RoomState, XmppPerson

if TYPE_CHECKING:
    from ircpsyc.channels.place import Member, PlaceView


class Absent:
    """Stands for a newcomer we cannot look up (a remote person): only its away text."""

    def __init__(self, away: str) -> None:
        self.away = away


def role_of(member: Member, moderated: bool) -> tuple[str, str]:
    """The MUC (affiliation, role) of a member's IRC rank (as biboumi maps them)."""
    modes = member.modes
    if "q" in modes:
        return "owner", "moderator"
    if "a" in modes or "o" in modes:
        return "admin", "moderator"
    if "h" in modes:
        return "member", "moderator"
    if "v" in modes:
        return "member", "participant"
    return "none", "visitor" if moderated else "participant"


def real_jid(route: object, view: PlaceView | None = None) -> str:
    """The JID a member is known by in MUC items (XMPP users: the session in that room)."""
    if isinstance(route, XmppPerson):
        state = route.rooms.get(view.folded) if view is not None else None
        if state is not None and state.sessions:
            return next(iter(state.sessions))
        return route.bare
    if isinstance(route, RemoteOccupant):
        return route.real_jid
    return ""


def item(view: PlaceView, member: Member, attrs: dict[str, str] | None = None) -> Element:
    """A member's muc#user `<item/>`: its affiliation, role and real JID."""
    affiliation, role = role_of(member, "m" in view.flags)
    node = Element(S.qname("item", S.MUC_USER), {"affiliation": affiliation, "role": role})
    real = real_jid(member.route, view)
    if real:
        node.set("jid", real)
    if attrs:
        for key, value in attrs.items():
            node.set(key, value)
    return node


DISPLAY_NAME = "display-name"  # the IRCv3 metadata key shown as XEP-0172 nick


def occupant_presence(
    view: PlaceView,
    member: Member,
    state: RoomState,
    to: str,
    viewer: XmppPerson,
    codes: Iterable[str] = (),
) -> Element:
    """A member's presence in the room, as the session `to` of `viewer` sees it."""
    return presence_of(
        view, state, to, viewer, member.nick, member.route, item(view, member), codes
    )


def presence_of(
    view: PlaceView,
    state: RoomState,
    to: str,
    viewer: XmppPerson,
    nick: str,
    route: object,
    item: Element,
    codes: Iterable[str] = (),
) -> Element:
    """The presence of occupant `nick` (its show/status from `route`), 110 to itself."""
    presence = S.stanza("presence", state.occupant(nick), to)
    show, status = "", ""
    if isinstance(route, XmppPerson):
        show = route.show
        status = route.away or ""
        if show not in AWAY_SHOWS and show != "chat":
            status = ""
    elif isinstance(route, Person | Absent) and route.away:
        show, status = "away", route.away
    if show:
        S.text_child(presence, "show", show)
    if status:
        S.text_child(presence, "status", status)
    display = route.metadata.get(DISPLAY_NAME, "") if isinstance(route, Person) else ""
    if display:  # IRCv3 metadata's display-name, as XEP-0172 says it; the nick stays
        S.text_child(presence, "nick", display, S.NICK)
    x = SubElement(presence, S.qname("x", S.MUC_USER))
    x.append(item)
    codes = list(codes)
    if route is viewer or (route is not None and route is viewer.bound):
        codes = ["110", *codes]
    for code in codes:
        SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
    return presence


def self_unavailable(
    person: XmppPerson,
    state: RoomState,
    full: str,
    codes: list[str],
    status: str = "",
    actor: str = "",
    reason: str = "",
    affiliation: str = "none",
) -> Element:
    """The unavailable presence that tells session `full` it is out of the room."""
    presence = S.stanza("presence", state.occupant(person.nick), full, "unavailable")
    if status:
        S.text_child(presence, "status", status)
    x = SubElement(presence, S.qname("x", S.MUC_USER))
    node = SubElement(
        x,
        S.qname("item", S.MUC_USER),
        {"affiliation": affiliation, "role": "none", "jid": full},
    )
    if actor:
        SubElement(node, S.qname("actor", S.MUC_USER), {"nick": actor})
    if reason:
        S.text_child(node, "reason", reason, S.MUC_USER)
    for code in codes:
        SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
    return presence


def subject(view: PlaceView, state: RoomState, occ: Occupancy) -> Element:
    """The subject that ends the join sequence (after the history, XEP-0045 7.2.15)."""
    message = S.stanza("message", state.jid, occ.full, "groupchat", new_id())
    setter = view.topic_setter.split("!", 1)[0]
    if view.topic and setter and view.member_by_nick(setter) is not None:
        message.set("from", state.occupant(setter))
    S.text_child(message, "subject", view.topic)
    return message
