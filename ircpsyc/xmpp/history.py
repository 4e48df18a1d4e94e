"""The history a joining session gets (XEP-0045 7.2.13, delayed messages of XEP-0203).

A channel homed here reads its history from the local store; one homed on
another server asks its home (`_request_history`, as IRC's replay on JOIN
does), and what the room sends the session meanwhile waits behind the answer
(`Host.waiting`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.services.history import KIND_MESSAGE, Query, time_of
from ircpsyc.xmpp import muc
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.person import HistoryRequest, Occupancy, RoomState, XmppPerson
from ircpsyc.xmpp.text import to_xmpp

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceView
    from ircpsyc.xmpp.state import Host

log = logging.getLogger(__name__)


def request_of(muc_x: Element | None) -> HistoryRequest:
    """What history the `<x xmlns=muc>` of a join presence asks for."""
    request = HistoryRequest()
    node = S.child(muc_x, "history", S.MUC) if muc_x is not None else None
    if node is None:
        return request

    def number(name: str) -> int | None:
        value = node.get(name) if node is not None else None
        if value is None or not value.strip().isdigit():
            return None
        return int(value)

    request.maxstanzas = number("maxstanzas")
    request.maxchars = number("maxchars")
    request.seconds = number("seconds")
    since = node.get("since")
    if since:
        request.since = S.parse_stamp(since)
    return request


def wanted(gw: Host, occ: Occupancy) -> tuple[int, int] | None:
    """How many messages a joining session gets at most, and since when (ms);
    None when it gets none."""
    if not gw.core.config.history.enabled:
        return None
    asked = occ.history
    count = gw.settings().history
    if asked.maxstanzas is not None:
        count = min(count, asked.maxstanzas)
    if asked.maxchars == 0 or count <= 0:
        return None
    min_time = 0
    now_ms = int(gw.core.clock() * 1000)
    if asked.seconds is not None:
        min_time = now_ms - asked.seconds * 1000
    if asked.since is not None:
        min_time = max(min_time, asked.since + 1)
    return count, max(0, min_time)


def local(gw: Host, view: PlaceView, state: RoomState, occ: Occupancy) -> list[Element]:
    """The history of a channel homed here, as the session asked for it."""
    history = gw.core.history
    asked = wanted(gw, occ)
    if asked is None:
        return []
    count, min_time = asked
    try:
        entries = history.query(
            Query(view.folded, limit=count, max_kind=KIND_MESSAGE, min_time=min_time)
        )
    except Exception:
        log.exception("history of %s unavailable", view.name)
        return []
    return render(state, occ, [(e.packet(), e.time) for e in entries])


def ask_home(
    gw: Host, person: XmppPerson, view: PlaceView, state: RoomState, occ: Occupancy
) -> bool:
    """The history of a channel homed on another server is asked from its home
    (`_request_history`, as IRC's replay on JOIN does); until it answers (or the
    request times out), what the room sends this session waits behind it.  False
    when the history is here, not wanted, or the home cannot be asked."""
    service = gw.core.net.history
    home = service.elsewhere(view.uniform)
    asked = wanted(gw, occ) if home else None
    if asked is None:
        return False
    count, min_time = asked
    refs = [f"timestamp={min_time - 1}"] if min_time > 0 else ["*"]
    key = (occ.full, state.jid)
    gw.waiting[key] = []

    def done(packets: list[Packet] | None) -> None:
        held = gw.waiting.pop(key, None)
        if held is None or state.sessions.get(occ.full) is not occ:
            return  # the session left meanwhile (what waited went then)
        current = gw.view(state.channel)
        shown: set[str] = set()
        if packets and current is not None:
            items = [(p, time_of(p)) for p in packets]
            shown = {p.get(V.ID) for p in packets}
            for message in render(state, occ, items):
                gw.send(message)
        if current is not None:
            gw.send(muc.subject(current, state, occ))
        for element in held:
            # A line said while the request travelled may be in the history too.
            if _stanza_id(element) not in shown:
                gw.send(element)

    if service.ask(home, view.name, person.uniform, "LATEST", refs, count, KIND_MESSAGE, done):
        return True
    del gw.waiting[key]
    return False


def render(state: RoomState, occ: Occupancy, items: list[tuple[Packet, int]]) -> list[Element]:
    """Messages (packets and their times, oldest first) as delayed groupchat
    messages (XEP-0203), newest kept first within maxchars."""
    out: list[Element] = []
    budget = occ.history.maxchars
    for packet, stamp in reversed(items):
        body = to_xmpp(packet.body)
        if body is None or not packet.method.startswith(V.MESSAGE_PUBLIC):
            continue
        message = S.stanza(
            "message",
            state.occupant(packet.get(V.NICK)),
            occ.full,
            "groupchat",
            packet.get(V.ID) or new_id(),
        )
        S.text_child(message, "body", body)
        SubElement(
            message,
            S.qname("delay", S.DELAY),
            {"from": state.jid, "stamp": S.stamp(stamp)},
        )
        if packet.get(V.ID):
            SubElement(
                message, S.qname("stanza-id", S.SID), {"id": packet.get(V.ID), "by": state.jid}
            )
        if budget is not None:
            budget -= len(body) + 200  # roughly the stanza around the body
            if budget < 0:
                break
        out.append(message)
    out.reverse()
    return out


def _stanza_id(element: Element) -> str | None:
    """The XEP-0359 stanza-id of a room message (the PSYC `_id`), None if it has none."""
    node = S.child(element, "stanza-id", S.SID)
    return node.get("id") if node is not None else None
