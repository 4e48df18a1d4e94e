"""A person: the record every front-end shows, apart from the sessions it is online by.

PSYC has one identity in several locations: the person `psyc://SERVER/~nick`
is what places cast to and what other persons address; each of its sessions
(an IRC connection, ...) is a `Location` a front-end provides and renders to.
A person of this server may have several sessions (an IRC connection that
logs in to the account of a person online here attaches to it: multiclient).

A person with no session is a service's pseudo-user, a gateway user (its
front-end renders what it receives some other way) or a person of another
server (`ircpsyc.persons.roster.RemotePerson`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, person

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceRegistry, PlaceView
    from ircpsyc.psyc_backend.router import Router

# WHOWAS and MONITOR address a person by its nick; an unknown address is shown as
# this (never a real one).
NO_ADDRESS = "255.255.255.255"


NO_MODES: frozenset[str] = frozenset()
# Seconds: what the roster shows of a person's last activity (WHOIS idle) is coarse,
# so the network is not told of every line.
ACTIVE_STEP = 30
# The distinct user-mode sets in use, shared by the persons that have them (a person
# kept online with no session must cost little: issue 13).  Bounded, as another
# server's roster may send any letters.
_MODE_SETS: dict[frozenset[str], frozenset[str]] = {NO_MODES: NO_MODES}
_MODE_SETS_MAX = 4096


_K = TypeVar("_K")
_T = TypeVar("_T")


class _EmptyDict(dict[Any, Any]):
    """The one shared empty dict that a person or session holds until it has an entry
    (channels, IRCv3 metadata, metadata subscriptions): an idle connection then costs
    no dict of its own.  Writing to it raises, so a writer that forgot to give the
    holder its own dict first (`own`) fails loudly instead of sharing its entries."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("the shared empty dict is read-only: give the holder its own")

    __setitem__ = _refuse
    setdefault = _refuse
    update = _refuse
    __ior__ = _refuse
    # pop, popitem, clear and del have nothing to change in an empty dict: they may stay.


EMPTY: dict[Any, Any] = _EmptyDict()


def own(mapping: dict[_K, _T]) -> dict[_K, _T]:
    """`mapping`, or a new dict if it is the shared `EMPTY`: assign the result back to
    its holder before writing to it."""
    return {} if mapping is EMPTY else mapping


def mode_set(modes: frozenset[str] | set[str] | str) -> frozenset[str]:
    """The shared frozenset of these user modes."""
    key = frozenset(modes)
    found = _MODE_SETS.get(key)
    if found is not None:
        return found
    if len(_MODE_SETS) < _MODE_SETS_MAX:
        _MODE_SETS[key] = key
    return key


class Location(Protocol):
    """One session of a person, as its front-end provides it."""

    host: str  # where it connects from (its host name, or its address)

    def send(self, data: bytes) -> None:
        """Write what the front-end rendered for this session."""


class PacketLocation(Protocol):
    """A location of a person that takes packets, not IRC text (an XMPP client's
    presence through the gateway): its front-end renders them itself."""

    def deliver(self, packet: Packet) -> None:
        """What reached the person, for this location to render."""

    def person_gone(self, reason: str) -> None:
        """The person quit (KILL, its last location left): the location ends."""

    def person_renamed(self, nick: str, uniform: str) -> None:
        """The person changed nick (before its places are told)."""


class Persons(Protocol):
    """What a person asks of the directory it is online in (`PersonDirectory`, of
    ircpsyc.persons.directory, which imports this module: named by this protocol, the
    two do not import each other)."""

    @property
    def name(self) -> str:
        """This server's name (the host of its persons' uniforms)."""

    @property
    def router(self) -> Router: ...

    @property
    def places(self) -> PlaceRegistry: ...

    @property
    def clients(self) -> dict[str, Any]:
        """Casefolded nick -> person of a session here (the front-end's kind of person)."""

    @property
    def observers(self) -> list[PersonObserver[Any, Any]]: ...

    def mode_changed(self, person: Person, mode: str, on: bool) -> None: ...

    def changed(self, person: Person) -> None: ...

    # The step of activity (ACTIVE_STEP) of the latest time `activity` saw: a person
    # active before it, or a time past it, is `activity`'s (cheap compares per line).
    step_start: float
    step_end: float

    def activity(self, person: Person, now: float) -> None: ...

    def forget(self, client: Person) -> None: ...

    def remember(self, person: Person, server: str = "") -> None: ...

    def watchers(self, nick: str) -> set[Person]: ...

    def announce_online(self, found: Person) -> None: ...

    def announce_offline(self, nick: str) -> None: ...

    def let_go(self, person: Person) -> None:
        """`person` is ended for good (KILL, GHOST): no keeper keeps it online."""

    def keeps(self, person: Person, reason: str) -> bool:
        """Whether `person`, whose last session left, stays online (always-on)."""

    def is_let_go(self, person: Person) -> bool:
        """Whether `person` is being ended for good (`let_go`)."""

    @property
    def located(self) -> dict[Person, tuple[PacketLocation, ...]]:
        """The persons that have packet locations, and those locations."""


class Person:
    """The PSYC person entity `psyc://SERVER/~nick` and what front-ends show of it."""

    __slots__ = (
        "account",
        "away",
        "channels",
        "directory",
        "host",
        "ip",
        "last_active",
        "metadata",
        "modes",
        "monitoring",
        "nick",
        "oper_name",
        "quit_reason",
        "realname",
        "seen",
        "seen_limit",
        "sessions",
        "signon",
        "uniform",
        "user",
    )

    def __init__(
        self,
        directory: Persons,
        uniform: str,
        nick: str,
        user: str,
        host: str,
        realname: str,
        ip: str,
        signon: float,
        seen: int = 1,
    ) -> None:
        self.directory = directory
        # Its sessions, each a `Location` of its front-end (typed by the front-end's
        # subclass: an IRC `Client` has IRC sessions).
        # A tuple, replaced as sessions come and go (rarely): none is the shared ().
        self.sessions: tuple[Any, ...] = ()
        self.uniform = uniform
        self.nick = nick
        self.user = user
        self.host = host
        self.realname = realname
        self.ip = ip
        self.account = ""
        self.away = ""
        # Shared among persons with the same modes (`mode_set`): most have one of a few.
        self.modes: frozenset[str] = NO_MODES
        self.oper_name = ""
        # Casefolded channel name -> place view; the shared EMPTY until it enters one
        # (`enter_channel`).
        self.channels: dict[str, PlaceView] = EMPTY
        self.signon = signon
        self.last_active = signon
        # Ids of person events (QUIT, NICK) already shown: one copy per place arrives.
        # None until the first event: an empty deque costs ~600 bytes per person, and
        # most never see a QUIT or NICK twice.
        self.seen: deque[str] | None = None
        self.seen_limit = seen
        # Casefolded nick -> nick as given; None until it monitors someone.
        self.monitoring: dict[str, str] | None = None
        self.quit_reason = ""  # set as the last session goes: the roster tells the network
        # IRCv3 metadata (display-name, avatar ...): the shared EMPTY until set (`own`).
        self.metadata: dict[str, str] = EMPTY

    def saw(self, event_id: str) -> None:
        """Remember a person event (QUIT, NICK) shown, so another copy is not."""
        seen = self.seen
        if seen is None:
            seen = self.seen = deque(maxlen=self.seen_limit)
        seen.append(event_id)

    def enter_channel(self, folded: str, view: PlaceView) -> None:
        """Note a channel entered (`channels`: its own dict from the first one on)."""
        channels = self.channels
        if channels is EMPTY:
            channels = self.channels = {}
        channels[folded] = view

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"

    @property
    def real_host(self) -> str:
        """The host the connection came from, whatever `host` shows (+x shows a cloak).

        Only the person itself and auspex operators see it.  For a connection it is
        its host name when the lookup found one (ircpsyc.ircd.hostnames), else the
        address.  A person of another server (no session) shows its real host unless
        it is +x; then its `ip` stands in.
        """
        if self.sessions:
            first: Location = self.sessions[0]
            return first.host
        return self.ip if "x" in self.modes else self.host

    @property
    def cloak(self) -> str:
        """The cloak of this person's address: what +x shows, and what bans are also
        matched on while -x ("" without a connection; front-ends that cloak say)."""
        return ""

    @property
    def is_oper(self) -> bool:
        return "o" in self.modes

    def set_mode(self, mode: str, on: bool) -> bool:
        """Set or clear a user mode; False when nothing changed."""
        if on == (mode in self.modes):
            return False
        self.modes = mode_set(self.modes | {mode} if on else self.modes - {mode})
        self.directory.mode_changed(self, mode, on)
        return True

    def send(self, data: bytes) -> None:
        for session in self.sessions:
            session.send(data)

    # -- talking to places and persons

    def request(
        self,
        method: str,
        target: str,
        vars: dict[str, Value] | None = None,
        body: str = "",
        tag: str = "",
    ) -> None:
        """Hand a packet from this person to the router (`tag`: its answer's `_tag_relay`)."""
        out: dict[str, Value] = {V.NICK: self.nick}
        if vars:
            out.update(vars)
        routing = {V.SOURCE: self.uniform, V.TARGET: target}
        if tag:
            routing[V.TAG] = tag
        self.directory.router.send(Packet(method, routing, out, body))

    def enter_vars(self) -> dict[str, Value]:
        out: dict[str, Value] = {
            V.USER: self.user,
            V.HOST: self.host,
            V.REALNAME: self.realname,
            V.ACCOUNT: self.account,
            V.PREFIX: self.prefix,
            V.IP: self.ip,  # for the place's bans on IP addresses; never cast
            V.CLOAK: self.cloak,  # bans on the cloak match while -x too; never cast
        }
        real = self.real_host
        if real not in (self.host, self.ip):  # +x over a host name: bans on the name hold
            out[V.HOST_REAL] = real
        if self.away:
            out[V.AWAY] = self.away
        return out

    def receive(self, packet: Packet) -> None:
        """What places and persons send this person; its front-end renders it."""

    # -- what its front-end shows it (nothing, for a person without one)

    def renamed_shown(self, old_prefix: str) -> None:
        """Show the person its own nick change (`rename`)."""

    def watched_online(self, found: Person) -> None:
        """A nick this person MONITORs came online."""

    def watched_offline(self, nick: str) -> None:
        """A nick this person MONITORs went offline."""

    # -- packet locations (another front-end's sessions of this person)
    #
    # Nearly no person has one, so they live in the directory (`located`), not in a
    # slot: an always-on person stays small, and a front-end gives a person that has
    # some another `receive` (`locations_changed`), so its fast path stays as it is.

    @property
    def locations(self) -> tuple[PacketLocation, ...]:
        """Its locations of other front-ends that take packets (`PacketLocation`)."""
        return self.directory.located.get(self, ())

    def attach_location(self, location: PacketLocation) -> None:
        located = self.directory.located
        found = located.get(self, ())
        if location not in found:
            located[self] = (*found, location)
            self.locations_changed()

    def detach_location(self, location: PacketLocation, reason: str) -> None:
        """`location` left; the person quits with it when it was the last one."""
        self._set_locations(tuple(loc for loc in self.locations if loc is not location))
        if not self.sessions and not self.locations and not self.directory.keeps(self, reason):
            self.quit(reason)

    def _set_locations(self, locations: tuple[PacketLocation, ...]) -> None:
        if locations:
            self.directory.located[self] = locations
        else:
            self.directory.located.pop(self, None)
        self.locations_changed()

    def locations_changed(self) -> None:
        """It gained its first packet location or lost its last: a front-end whose
        `receive` renders for its own sessions hands packets to them too from now."""

    def locations_renamed(self) -> None:
        """The packet locations learn the person's new nick and uniform."""
        for location in self.locations:
            location.person_renamed(self.nick, self.uniform)

    def location_said(self, channel: str, method: str, text: str) -> None:
        """A packet location sends a line to `channel` as this person: the front-end
        shows its echo to all of the person's sessions (as one of several sessions')."""

    # -- leaving

    def detach(self, session: Location, reason: str) -> None:
        if session in self.sessions:
            self.sessions = tuple(s for s in self.sessions if s is not session)
        if self.sessions:
            return
        if self.locations and not self.directory.is_let_go(self):
            return  # another front-end's location keeps it online
        if not self.directory.keeps(self, reason):
            self.quit(reason)

    def quit(self, reason: str) -> None:
        event_id = new_id()
        locations = self.locations
        if locations:
            self._set_locations(())
            for location in locations:
                location.person_gone(reason)
        self.quit_reason = reason
        for place in list(self.channels.values()):
            self.request(
                V.REQUEST_LEAVE_DISCONNECT, place.uniform, {V.REASON: reason, V.ID: event_id}
            )
        self.channels.clear()
        self.directory.forget(self)

    def rename(self, new: str) -> None:
        """Change nick: re-register under the new uniform and tell every place once."""
        old_uniform, old_prefix, old_nick = self.uniform, self.prefix, self.nick
        directory = self.directory
        directory.router.unregister(old_uniform, self)
        if directory.clients.get(casefold(self.nick)) is self:
            del directory.clients[casefold(self.nick)]
        directory.remember(self)
        self.nick = new
        self.uniform = person(directory.name, new)
        self.sessions_renamed(new)
        if self.locations:
            self.locations_renamed()
        directory.clients[casefold(new)] = self
        directory.router.register(self)
        if casefold(old_nick) != casefold(new):  # a case change is no MONITOR event
            directory.announce_offline(old_nick)
            directory.announce_online(self)
        event_id = new_id()
        self.saw(event_id)
        self.renamed_shown(old_prefix)
        for place in list(self.channels.values()):
            directory.router.send(
                Packet(
                    V.NOTICE_PERSON_NICK,
                    {V.SOURCE: old_uniform, V.TARGET: place.uniform},
                    {V.NICK_NEW: new, V.UNIFORM_NEW: self.uniform, V.ID: event_id},
                )
            )
        for observer in directory.observers:
            observer.person_renamed(self, old_nick)

    def sessions_renamed(self, new: str) -> None:
        """The sessions learn the new nick (a front-end's sessions keep it)."""


P = TypeVar("P", bound=Person, contravariant=True)
S = TypeVar("S", contravariant=True)


class PersonObserver(Generic[P, S]):
    """Hooks for services about local persons (accounts, away log, the network
    roster): override what you need.  `P` is the kind of person a front-end tells
    about, `S` its sessions.

    They run synchronously inside the front-end's handling, so they must be cheap.
    """

    def person_online(self, client: P) -> None:
        """A connection completed registration (its account, if any, is already set)."""

    def session_attached(self, client: P, session: S) -> None:
        """One more session joined the person `client` (multiclient), after its
        welcome and the JOIN, topic and NAMES of the person's channels
        (`person_online` is told of the first)."""

    def session_detached(self, client: P, session: S) -> None:
        """A session of `client` is leaving (told before it is removed, so the last
        session of a person is told too, before `person_offline`)."""

    def person_renamed(self, client: P, old_nick: str) -> None:
        """The person changed nick."""

    def person_offline(self, client: P) -> None:
        """The person's last session left."""

    def account_changed(self, client: P, old_account: str) -> None:
        """The person logged in, out, or to another account (`client.account` is new)."""

    def away_changed(self, client: P) -> None:
        """The person set or cleared AWAY."""

    def metadata_changed(self, client: P) -> None:
        """The person's metadata (`client.metadata`) changed."""

    def gateway_away(self, client: Person) -> None:
        """A gateway user (a person whose sessions are another front-end's) set or
        cleared AWAY: show it to your users who share a channel with it."""

    def absent_account(self, nick: str) -> str:
        """The registered account a private message to `nick` may be kept for while
        nobody uses that nick ("" for none: the sender gets ERR_NOSUCHNICK)."""
        return ""

    def private_message(self, session: S, sender: P, target: P | None, packet: Packet) -> None:
        """`sender` sent a private message; `target` is None when it went to an absent
        account (see `absent_account`)."""

    def private_arrived(self, client: P, packet: Packet) -> None:
        """A private message from another server reached the local person `client`."""

    def private_redacted(self, client: P, packet: Packet) -> None:
        """A person of another server took back a private line to the local `client`."""

    def remote_channel_entered(self, client: P, place: PlaceView) -> None:
        """`client` entered a channel homed on another server (`place` is its replica)."""


@dataclass(slots=True)
class WhowasEntry:
    """A nick that was in use: WHOWAS shows it."""

    nick: str
    user: str
    host: str
    realname: str
    server: str
    when: float
