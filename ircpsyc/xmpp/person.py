"""The persons the gateway adds to the IRC world.

`XmppPerson` is an XMPP user in one or more rooms under one nick: the PSYC
person entity `psyc://SERVER/~nick` (registered with the router and in the IRC
roster, so WHOIS, WHO, NAMES and PRIVMSG find it).  It has no IRC sessions;
what places and persons send it is rendered as stanzas by the gateway.

`RemoteOccupant` is an occupant of a bridged MUC on another XMPP server
(relay mode): a member of the bridged channel, nothing to render but private
messages, which go back through a puppet.

Both are `Person`s of the local directory (`ircpsyc.persons`), so everything
that looks a nick up finds them, whatever the front-end; `sessions` stays
empty.  An `XmppPerson` whose bare JID is bound to an account (`xmpp/binding.py`)
is instead a packet location of that account's person (`bound`), not a person
of its own.  What they deliver to
is described by the protocols `PersonHost` and `OccupantHost` (the gateway and
a bridge implement them), so this module imports nothing else of the gateway.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import person

if TYPE_CHECKING:
    from ircpsyc.xmpp.host import Core


AWAY_SHOWS = {"away": "Away", "xa": "Extended away", "dnd": "Busy"}


def away_text(show: str, status: str) -> str:
    """The IRC AWAY text of an XMPP show and status ("" when not away)."""
    if show in AWAY_SHOWS:
        return status or AWAY_SHOWS[show]
    return ""


@dataclass(slots=True)
class HistoryRequest:
    """XEP-0045 7.2.13: what history a joining session asked for (None: not said)."""

    maxstanzas: int | None = None
    maxchars: int | None = None
    seconds: int | None = None
    since: int | None = None  # ms


@dataclass(slots=True)
class Occupancy:
    """One XMPP session (full JID) in one room."""

    full: str
    joined: bool = False
    history: HistoryRequest = field(default_factory=HistoryRequest)
    show: str = ""
    status: str = ""


@dataclass(slots=True)
class RoomState:
    """A person in one room: the channel, the room JID as its client wrote it, its sessions."""

    channel: str
    jid: str
    uniform: str
    requested: str  # the MUC nick asked for (210 when it differs from the nick given)
    sessions: dict[str, Occupancy] = field(default_factory=dict)
    joined: bool = False
    sent: deque[str] = field(default_factory=deque)  # tags of messages awaiting their echo

    def occupant(self, nick: str) -> str:
        return f"{self.jid}/{nick}"


class PersonHost(Protocol):
    """What renders the packets an `XmppPerson` receives (the gateway)."""

    @property
    def core(self) -> Core: ...

    def deliver(self, person: XmppPerson, packet: Packet) -> None: ...

    def location_gone(self, person: XmppPerson, reason: str) -> None: ...


class OccupantHost(Protocol):
    """What takes the packets a `RemoteOccupant` receives (its bridge)."""

    @property
    def core(self) -> Core: ...

    def deliver(self, remote: RemoteOccupant, packet: Packet) -> None: ...


class GatewayUser(Person):
    """A person of this server whose sessions are not IRC ones."""

    __slots__ = ()

    def __init__(
        self, core: Core, nick: str, user: str, host: str, realname: str, ip: str = ""
    ) -> None:
        uniform = person(core.name, nick)
        address = ip or "0.0.0.0"
        super().__init__(
            core.persons, uniform, nick, user, host, realname, address, core.clock(), 16
        )


class XmppPerson(GatewayUser):
    """An XMPP user (bare JID) under one nick, in the rooms in `rooms`."""

    __slots__ = ("bare", "bound", "gateway", "pm_rooms", "requested", "rooms", "show")

    def __init__(
        self,
        gateway: PersonHost,
        nick: str,
        bare: str,
        requested: str,
        user: str,
        host: str,
    ) -> None:
        super().__init__(gateway.core, nick, user, host, bare)
        self.gateway = gateway
        self.bare = bare
        self.requested = requested
        self.rooms: dict[str, RoomState] = {}  # casefolded channel -> state
        self.pm_rooms: dict[str, str] = {}  # casefolded nick -> channel its PMs go through
        self.show = ""
        # The person this is a location of, for a JID bound to an account (IDENTIFY to
        # the gateway): then this object is never in the router nor the directory; it
        # shares the person's nick and uniform and takes what the person receives.
        self.bound: Person | None = None

    def receive(self, packet: Packet) -> None:
        self.gateway.deliver(self, packet)

    # -- as a packet location of `bound` (ircpsyc.persons.person.PacketLocation)

    def deliver(self, packet: Packet) -> None:
        self.gateway.deliver(self, packet)

    def person_gone(self, reason: str) -> None:
        self.gateway.location_gone(self, reason)

    def person_renamed(self, nick: str, uniform: str) -> None:
        self.nick, self.uniform = nick, uniform


class RemoteOccupant(GatewayUser):
    """An occupant of a bridged remote MUC, as a member of the bridged channel."""

    __slots__ = ("affiliation", "bridge", "entered", "muc_nick", "real_jid", "role", "seen_at")

    def __init__(
        self, bridge: OccupantHost, nick: str, muc_nick: str, user: str, host: str, real_jid: str
    ) -> None:
        super().__init__(bridge.core, nick, user, host, real_jid or muc_nick)
        self.bridge = bridge
        self.muc_nick = muc_nick
        self.real_jid = real_jid
        self.entered = False
        self.role = "participant"
        self.affiliation = "none"
        self.seen_at = 0  # the bridge's join generation that last confirmed this occupant

    def receive(self, packet: Packet) -> None:
        self.bridge.deliver(self, packet)
