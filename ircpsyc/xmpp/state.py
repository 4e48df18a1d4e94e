"""What the gateway's sections and bridges share: its state, as a protocol.

The `Gateway` class (`gateway.py`) keeps the state and dispatches stanzas and
packets to its sections (`presence`, `messages`, `rooms`, `render`, with
`history` and the stanza builders of `muc` below them).  The sections and the
bridges see the gateway only as a `Host`, defined here at the bottom, so none
of them imports `gateway.py` and the modules of the package form no cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from xml.etree.ElementTree import Element

from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.xmpp.person import GatewayUser, Occupancy, RoomState, XmppPerson

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceView
    from ircpsyc.config import XmppSection
    from ircpsyc.xmpp.host import Core

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pending:
    """A request sent for an XMPP user, waiting for the place's answer (by `_tag`)."""

    kind: str  # "enter", "message", "topic", "admin", "private"
    person: XmppPerson
    folded: str  # the channel
    full: str = ""
    xid: str = ""
    origin: str = ""
    stanza: Element | None = None


class Service:
    """`psyc://SERVER/$xmpp`: the gateway as a service (bridges set topics and ranks)."""

    def __init__(self, core: Core) -> None:
        self.uniform = f"psyc://{core.name}/$xmpp"

    def receive(self, packet: Packet) -> None:
        if packet.method.startswith(V.ERROR):
            log.info("a bridged channel refused %s: %s", packet.get(V.METHOD_RELAY), packet.method)


class Host(Protocol):
    """The gateway as its sections and bridges use it (`Gateway` implements it)."""

    @property
    def core(self) -> Core: ...

    @property
    def settings(self) -> Callable[[], XmppSection]: ...

    @property
    def domain(self) -> str: ...

    @property
    def up(self) -> bool: ...

    @property
    def service(self) -> Service: ...

    @property
    def persons(self) -> dict[tuple[str, str], XmppPerson]:
        """(bare JID, requested nick) -> the person."""

    @property
    def by_bare(self) -> dict[str, list[XmppPerson]]: ...

    @property
    def bindings(self) -> dict[str, str]:
        """Bare JID -> the account it proved (`xmpp/binding.py`)."""

    @property
    def pending(self) -> dict[str, Pending]:
        """Requests waiting for the place's answer, by `_tag`."""

    @property
    def waiting(self) -> dict[tuple[str, str], list[Element]]:
        """(full JID, room JID) of a session waiting for a remote home's history ->
        the stanzas held for it meanwhile."""

    def send(self, element: Element) -> None: ...

    def tag(self) -> str: ...

    def remember(self, tag: str, pending: Pending) -> None: ...

    def view(self, channel: str) -> PlaceView | None: ...

    def place_uniform(self, channel: str) -> str: ...

    def nicklen(self) -> int: ...

    def nick_taken(self, nick: str, mine: GatewayUser | None = None) -> bool: ...

    def add_user(self, user: GatewayUser) -> None: ...

    def drop_user(self, user: GatewayUser) -> None: ...

    def rename_user(self, user: GatewayUser, new: str) -> None: ...

    def session_person(self, full: str, folded: str) -> XmppPerson | None: ...

    def forget(self, person: XmppPerson) -> None: ...

    def forget_if_idle(self, person: XmppPerson) -> None: ...

    def leave_later(self, person: XmppPerson, uniform: str, reason: str) -> None: ...

    def deliver(self, person: XmppPerson, packet: Packet) -> None: ...

    def location_gone(self, person: XmppPerson, reason: str) -> None: ...


def joined(state: RoomState) -> list[Occupancy]:
    """The sessions of a person in a room that have been through the join sequence."""
    return [occ for occ in state.sessions.values() if occ.joined]


def xmpp_members(view: PlaceView) -> list[XmppPerson]:
    found: list[XmppPerson] = []
    for member in list(view.members.values()):
        route = member.route
        if isinstance(route, XmppPerson):
            found.append(route)
        elif isinstance(route, Person) and route.locations:  # XMPP locations of a person
            found.extend(loc for loc in route.locations if isinstance(loc, XmppPerson))
    return found


def state_of(person: XmppPerson | None, folded: str) -> RoomState | None:
    return person.rooms.get(folded) if person is not None else None
