"""iq to the component, a room or an occupant: disco, ping, version, muc#admin, muc#owner.

The component itself answers disco#info/#items (its rooms), ping and version.
A room answers disco#info (its features from the channel's modes), disco#items
(its occupants), XEP-0410 pings, and muc#admin: kicks, bans, voice and ranks
from XMPP moderators become `_request_kick`/`_request_set_mode` to the place,
and the ban list is read from +b.  Room configuration (muc#owner) is refused:
the room is an IRC channel, set with MODE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc import __version__
from ircpsyc.channels import modes as M
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.muc import real_jid, role_of
from ircpsyc.xmpp.nicks import irc_nick
from ircpsyc.xmpp.person import RoomState, XmppPerson
from ircpsyc.xmpp.state import Pending

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from ircpsyc.channels.place import Member, PlaceView
    from ircpsyc.xmpp.state import Host


def service_iq(gw: Host, kind: str, element: Element, sender: J.JID) -> None:
    """A stanza to the component's domain itself: disco, ping, version."""
    if kind != "iq" or element.get("type") not in ("get", "set"):
        return
    query = element[0] if len(element) else None
    ns = S.namespace(query) if query is not None else ""
    if element.get("type") == "get" and ns == S.DISCO_INFO and query is not None:
        if query.get("node"):
            gw.send(S.error(element, "item-not-found"))
            return
        reply = S.iq_result(element)
        info = SubElement(reply, S.qname("query", S.DISCO_INFO))
        SubElement(
            info,
            S.qname("identity", S.DISCO_INFO),
            {"category": "conference", "type": "text", "name": gw.settings().name},
        )
        for feature in (S.DISCO_INFO, S.DISCO_ITEMS, S.MUC, S.PING, S.VERSION, S.MUC_STABLE_ID):
            SubElement(info, S.qname("feature", S.DISCO_INFO), {"var": feature})
        gw.send(reply)
    elif element.get("type") == "get" and ns == S.DISCO_ITEMS:
        reply = S.iq_result(element)
        items = SubElement(reply, S.qname("query", S.DISCO_ITEMS))
        for view in sorted(gw.core.places.homed(), key=lambda p: p.folded):
            if view.secret or not view.members:
                continue
            SubElement(
                items,
                S.qname("item", S.DISCO_ITEMS),
                {"jid": J.room_jid(view.name, gw.domain), "name": view.name},
            )
        gw.send(reply)
    elif element.get("type") == "get" and ns == S.PING:
        gw.send(S.iq_result(element))
    elif element.get("type") == "get" and ns == S.VERSION:
        reply = S.iq_result(element)
        query_out = SubElement(reply, S.qname("query", S.VERSION))
        S.text_child(query_out, "name", "ircpsyc", S.VERSION)
        S.text_child(query_out, "version", __version__, S.VERSION)
        gw.send(reply)
    else:
        gw.send(S.error(element, "service-unavailable"))


def room_iq(gw: Host, element: Element, sender: J.JID, to: J.JID, channel: str) -> None:
    """An iq to the room of `channel` or to one of its occupants."""
    type_ = element.get("type")
    if type_ not in ("get", "set"):
        return
    query = element[0] if len(element) else None
    ns = S.namespace(query) if query is not None else ""
    folded = casefold(channel)
    person = gw.session_person(str(sender), folded)
    joined = person is not None and person.rooms[folded].joined
    if ns == S.PING and type_ == "get":
        if to.resource:  # XEP-0410: is this occupant (still) in the room?
            view = gw.view(channel)
            if not joined or view is None or view.member_by_nick(to.resource) is None:
                gw.send(S.error(element, "not-acceptable", "You are not in this room"))
                return
        gw.send(S.iq_result(element))
        return
    if to.resource:
        gw.send(S.error(element, "service-unavailable"))
        return
    if ns == S.DISCO_INFO and type_ == "get" and query is not None:
        _room_info(gw, element, channel, query)
    elif ns == S.DISCO_ITEMS and type_ == "get":
        reply = S.iq_result(element)
        items = SubElement(reply, S.qname("query", S.DISCO_ITEMS))
        view = gw.view(channel)
        if view is not None and (joined or not view.secret):
            room = J.room_jid(view.name, gw.domain)
            for member in list(view.members.values()):
                SubElement(
                    items,
                    S.qname("item", S.DISCO_ITEMS),
                    {"jid": f"{room}/{member.nick}", "name": member.nick},
                )
        gw.send(reply)
    elif ns == S.MUC_ADMIN and query is not None:
        if person is None or not joined:
            gw.send(S.error(element, "forbidden", "You are not in this room"))
            return
        _admin(gw, element, person, person.rooms[folded], query)
    elif ns == S.MUC_OWNER:
        gw.send(
            S.error(
                element,
                "not-allowed",
                "This room is an IRC channel: set its modes with IRC MODE commands",
            )
        )
    else:
        gw.send(S.error(element, "service-unavailable"))


def _room_info(gw: Host, element: Element, channel: str, query: Element) -> None:
    if query.get("node"):
        gw.send(S.error(element, "item-not-found"))
        return
    view = gw.view(channel)
    name = view.name if view is not None else channel
    flags: AbstractSet[str] = view.flags if view is not None else {"n", "t"}
    reply = S.iq_result(element)
    info = SubElement(reply, S.qname("query", S.DISCO_INFO))
    SubElement(
        info,
        S.qname("identity", S.DISCO_INFO),
        {"category": "conference", "type": "text", "name": name},
    )
    features = [
        S.MUC,
        S.DISCO_INFO,
        S.PING,
        S.MUC_STABLE_ID,
        S.SID,
        S.RETRACT,
        "muc_nonanonymous",
        "muc_hidden" if ("s" in flags or "p" in flags) else "muc_public",
        "muc_persistent" if view is not None and _kept(view) else "muc_temporary",
        "muc_membersonly" if "i" in flags else "muc_open",
        "muc_passwordprotected" if view is not None and view.key else "muc_unsecured",
        "muc_moderated" if "m" in flags else "muc_unmoderated",
    ]
    for feature in features:
        SubElement(info, S.qname("feature", S.DISCO_INFO), {"var": feature})
    form = SubElement(info, S.qname("x", S.DATA), {"type": "result"})
    fields = [
        ("FORM_TYPE", "http://jabber.org/protocol/muc#roominfo", "hidden"),
        ("muc#roominfo_subject", view.topic if view is not None else "", ""),
        ("muc#roominfo_occupants", str(len(view.members)) if view is not None else "0", ""),
        ("muc#roomconfig_roomname", name, ""),
        ("muc#roominfo_changesubject", "0" if "t" in flags else "1", ""),
    ]
    for var, value, kind in fields:
        attrs = {"var": var}
        if kind:
            attrs["type"] = kind
        node = SubElement(form, S.qname("field", S.DATA), attrs)
        S.text_child(node, "value", value, S.DATA)
    gw.send(reply)


def _admin(
    gw: Host, element: Element, person: XmppPerson, state: RoomState, query: Element
) -> None:
    """muc#admin: kicks, bans, voice and ranks from XMPP moderators; the ban list."""
    view = gw.view(state.channel)
    if view is None:
        gw.send(S.error(element, "item-not-found"))
        return
    if element.get("type") == "get":
        _admin_list(gw, element, view, query)
        return
    requests: list[tuple[str, dict[str, Value]]] = []
    for item in query:
        if S.local_name(item) != "item":
            continue
        reason = S.child_text(item, "reason", S.MUC_ADMIN) or ""
        target = view.member_by_nick(item.get("nick", "")) if item.get("nick") else None
        jid_text = item.get("jid", "")
        if target is None and jid_text:
            target = _member_by_jid(view, jid_text)
        role, affiliation = item.get("role"), item.get("affiliation")
        if affiliation == "outcast":
            mask = _ban_mask(target, jid_text)
            if mask is None:
                gw.send(S.error(element, "bad-request", "Whom to ban?"))
                return
            requests.append((V.REQUEST_SET_MODE, {V.MODE: "+b", V.LIST_PARAMETERS: [mask]}))
            if target is not None:
                requests.append((V.REQUEST_KICK, {V.NICK_TARGET: target.nick, V.REASON: reason}))
            continue
        if target is None:
            gw.send(S.error(element, "item-not-found", "No such occupant"))
            return
        if role == "none":
            requests.append((V.REQUEST_KICK, {V.NICK_TARGET: target.nick, V.REASON: reason}))
            continue
        change = _rank_change(target, role, affiliation, "m" in view.flags)
        if change:
            letters = len(change) - 1
            requests.append(
                (
                    V.REQUEST_SET_MODE,
                    {V.MODE: change, V.LIST_PARAMETERS: [target.nick] * letters},
                )
            )
    tag = gw.tag()
    pending = Pending("admin", person, view.folded, stanza=element)
    gw.remember(tag, pending)
    for method, vars in requests:
        vars[V.NICK_PLACE] = view.name
        vars[V.PREFIX] = person.prefix
        gw.core.router.send(
            Packet(
                method,
                {V.SOURCE: person.uniform, V.TARGET: view.uniform, V.TAG: tag},
                {V.NICK: person.nick, **vars},
            )
        )
        if tag not in gw.pending:
            return  # refused: the error went out
    gw.pending.pop(tag, None)
    gw.send(S.iq_result(element))


def _admin_list(gw: Host, element: Element, view: PlaceView, query: Element) -> None:
    wanted = {item.get("affiliation") or item.get("role") for item in query}
    reply = S.iq_result(element)
    out = SubElement(reply, S.qname("query", S.MUC_ADMIN))
    if "outcast" in wanted:
        for entry in view.lists["b"]:
            found = _jid_of_mask(entry.mask)
            if found:
                SubElement(
                    out, S.qname("item", S.MUC_ADMIN), {"affiliation": "outcast", "jid": found}
                )
    moderated = "m" in view.flags
    for member in list(view.members.values()):
        affiliation, role = role_of(member, moderated)
        if affiliation in wanted or role in wanted:
            attrs = {"affiliation": affiliation, "role": role, "nick": member.nick}
            real = J.parse(real_jid(member.route))
            if real is not None:
                attrs["jid"] = real.bare
            SubElement(out, S.qname("item", S.MUC_ADMIN), attrs)
    gw.send(reply)


def _member_by_jid(view: PlaceView, text: str) -> Member | None:
    wanted = J.parse(text)
    if wanted is None:
        return None
    for member in view.members.values():
        route = member.route
        if isinstance(route, XmppPerson) and route.bare == wanted.bare:
            return member
    return None


def _kept(view: PlaceView) -> bool:
    return view.persistent()


def _ban_mask(target: Member | None, jid_text: str) -> str | None:
    """The IRC ban mask for a muc#admin outcast item."""
    if target is not None:
        route = target.route
        if isinstance(route, XmppPerson):
            return f"*!{target.user}@{target.host}"
        return f"*!*@{target.host}"
    found = J.parse(jid_text)
    if found is None:
        return None
    user = irc_nick(found.local, 10).lower() if found.local else "*"
    return f"*!{user}@{found.domain}"


def _jid_of_mask(mask: str) -> str:
    """The JID a ban mask of the form *!user@domain stands for, or ""."""
    head, at, host = mask.partition("@")
    if not at or not head.startswith("*!") or "*" in host or "?" in host:
        return ""
    user = head[2:]
    if not user or "*" in user or "?" in user:
        return host
    return f"{user}@{host}"


def _rank_change(target: Member, role: str | None, affiliation: str | None, moderated: bool) -> str:
    """The mode string (without parameters) a muc#admin role or affiliation change asks for."""
    modes = target.modes
    if affiliation == "owner":
        return "" if "q" in modes else "+q"
    if affiliation == "admin":
        return "" if "o" in modes else "+o"
    if affiliation == "member":
        return "" if "v" in modes else "+v"
    if affiliation == "none":
        drop = "".join(m for m in M.RANK_ORDER if m in modes)
        return f"-{drop}" if drop else ""
    if role == "moderator":
        return "" if "o" in modes else "+o"
    if role == "participant":
        drop = "".join(m for m in "qaoh" if m in modes)
        if drop:
            return f"-{drop}"
        return "+v" if moderated and "v" not in modes else ""
    if role == "visitor":
        drop = "".join(m for m in M.RANK_ORDER if m in modes)
        return f"-{drop}" if drop else ""
    return ""
