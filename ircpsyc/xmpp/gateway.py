"""The MUC gateway's core: XMPP stanzas in, PSYC packets out, and back (sans-IO).

`Gateway.handle(stanza)` takes what the XMPP server sent the component;
whatever the gateway has to say goes to `Gateway.output` (the slixmpp adapter
serialises it, or a test collects it).  Nothing here touches a socket or the
event loop, and time comes from the IRC core's clock, so the whole MUC
behaviour is tested without a network.

Each channel `#name` is the room `name@DOMAIN` (XEP-0045).  The `Gateway`
keeps the state (XMPP persons by bare JID and nick, requests waiting for the
place's answer, the queue while the link is down) and dispatches to the
sections, which see it as a `state.Host`:

* `presence`: joins (the place decides: bans, +i, +k from the MUC password,
  +l, +R), leaves, nick changes, away, and the join sequence;
* `messages`: groupchat lines, subjects, private messages, invitations;
* `rooms`: iq to the component or a room (disco, ping, version, muc#admin);
* `render`: packets to XMPP users as stanzas, with `muc` (the occupant
  stanzas) and `history` (the history of a join) below.

An IRC operator's KILL of an XMPP user (`Gateway.disconnect`, called by
`Moderation.kill`): every session gets an unavailable presence (110, 307, the
reason) and the person quits its channels like a disconnecting IRC user.

Every stanza sent is `from` the component's domain (a room, an occupant of a
room, or the domain itself): anything else would make the XMPP server drop
the component.  While the link to the XMPP server is down, stanzas queue;
after `[xmpp] grace` seconds the XMPP users leave their channels.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.persons.person import Person, PersonObserver
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold, normalize
from ircpsyc.xmpp import binding, messages, muc, presence, render, rooms
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.person import GatewayUser, XmppPerson
from ircpsyc.xmpp.state import Pending, Service, joined

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceView
    from ircpsyc.config import XmppSection
    from ircpsyc.xmpp.bridge import Bridge
    from ircpsyc.xmpp.host import Core

log = logging.getLogger(__name__)

QUEUE_MAX = 10000  # stanzas kept while the XMPP server is unreachable
PENDING_MAX = 4096  # requests waiting for the place's answer


class Gateway:
    """XEP-0045 rooms for the channels of one IRC core (see the module docstring)."""

    def __init__(self, core: Core, settings: Callable[[], XmppSection]) -> None:
        self.core = core
        self.settings = settings
        self.domain = settings().domain.lower()
        self.output: Callable[[Element], None] = lambda element: None
        self.persons: dict[tuple[str, str], XmppPerson] = {}  # (bare JID, requested nick)
        self.by_bare: dict[str, list[XmppPerson]] = {}  # bare JID -> its persons
        # Bare JID -> the account it proved with IDENTIFY (xmpp/binding.py): its
        # presence in a room is a location of that account's person.
        self.bindings: dict[str, str] = {}
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self.bridges: list[Bridge] = []
        self.up = False
        self.down_since: float | None = 0.0  # monotonic time the link went down; None: up
        self.queue: deque[Element] = deque(maxlen=QUEUE_MAX)
        self._tags = itertools.count(1)
        self.probes: dict[str, tuple[XmppPerson, str, str]] = {}  # ping id -> session
        # Joining sessions waiting for a remote home's history: (full JID, room JID) ->
        # the stanzas for them meanwhile (sent after the history and the subject).
        self.waiting: dict[tuple[str, str], list[Element]] = {}
        # Renamed rooms left after the cast that renamed them: (person, uniform, reason).
        self.leaving: list[tuple[XmppPerson, str, str]] = []
        self.service = Service(core)
        core.router.register(self.service)
        core.persons.observers.append(_IrcPresence(self))
        core.tickers.append(self.tick)
        core.persons.disconnectors.append(self.disconnect)  # KILL of an XMPP user

    # -- output and the link

    def send(self, element: Element) -> None:
        if self.waiting:
            held = self.waiting.get(
                (element.get("to", ""), element.get("from", "").partition("/")[0])
            )
            if held is not None:  # a joining session waits for its history
                held.append(element)
                return
        if self.up:
            self.output(element)
        else:
            self.queue.append(element)

    def link_up(self) -> None:
        """The component is connected (again): send what queued, resynchronise bridges."""
        self.up = True
        self.down_since = None
        queued, self.queue = list(self.queue), deque(maxlen=QUEUE_MAX)
        for element in queued:
            self.output(element)
        self._probe_sessions()
        for bridge in self.bridges:
            bridge.link_up()

    def _probe_sessions(self) -> None:
        """After an outage, ask every XMPP session whether it is still there (XEP-0199).

        A session that ended meanwhile (its server restarted, say) never said
        goodbye to us; the error its server answers for it removes it.
        """
        self.probes.clear()
        for person in list(self.persons.values()):
            for folded, state in person.rooms.items():
                for occ in list(state.sessions.values()):
                    probe = f"probe-{self.tag()}"
                    self.probes[probe] = (person, folded, occ.full)
                    ping = S.stanza("iq", state.occupant(person.nick), occ.full, "get", probe)
                    SubElement(ping, S.qname("ping", S.PING))
                    self.output(ping)

    def _answer(self, element: Element, kind: str, sender: J.JID, to: J.JID) -> bool:
        """Answers and bounces from XMPP users' sessions; True when handled."""
        type_ = element.get("type")
        if kind == "iq" and type_ in ("result", "error"):
            probe = self.probes.pop(element.get("id", ""), None)
            if probe is not None and type_ == "error" and _gone(element):
                person, folded, full = probe
                presence.leave_session(self, person, folded, full, "Disconnected", True)
            return True
        if kind == "message" and type_ == "error":
            if to.local and _gone(element):
                folded = casefold(J.channel_of(to.local))
                bounced = self.session_person(str(sender), folded)
                if bounced is not None:
                    presence.leave_session(self, bounced, folded, str(sender), "Disconnected", True)
            return True
        return False

    def link_down(self, now: float) -> None:
        if self.up:
            self.up = False
            self.down_since = now
            for bridge in self.bridges:
                bridge.link_down()

    def tick(self, now: float) -> None:
        """Once a second (monotonic time): leave renamed rooms; give up on XMPP users
        after the grace time."""
        if self.leaving:
            self._leave_renamed()
        if self.up or self.down_since is None:
            return
        if self.down_since == 0.0:
            self.down_since = now  # not connected yet since the start
        if now - self.down_since >= self.settings().grace:
            if self.persons or self.queue:
                log.warning("XMPP server unreachable for too long: XMPP users leave")
            self.drop_everyone("XMPP server connection lost")
            self.queue.clear()

    def drop_everyone(self, reason: str) -> None:
        for person in list(self.persons.values()):
            event_id = new_id()
            for state in list(person.rooms.values()):
                if state.joined and person.bound is None:  # a location leaves no channel
                    person.request(
                        V.REQUEST_LEAVE_DISCONNECT,
                        state.uniform,
                        {V.REASON: reason, V.ID: event_id},
                    )
            person.rooms.clear()
            self.forget(person)
        for bridge in self.bridges:
            bridge.drop_remotes(reason)

    def disconnect(self, victim: Person, reason: str) -> bool:
        """An operator KILLed one of our XMPP users: every session of it is told it was
        removed (307, the reason), and it quits its channels as a disconnecting IRC user
        does.  False when `victim` is not ours."""
        if not isinstance(victim, XmppPerson):
            if victim.sessions or not any(
                isinstance(loc, XmppPerson) and loc.gateway is self for loc in victim.locations
            ):
                return False
            victim.quit(reason)  # a person online only by its XMPP locations: they end
            return True
        if victim.gateway is not self:
            return False
        event_id = new_id()
        for state in list(victim.rooms.values()):
            for occ in joined(state):
                self.send(
                    muc.self_unavailable(victim, state, occ.full, ["110", "307"], "", "", reason)
                )
            if state.joined:
                victim.request(
                    V.REQUEST_LEAVE_DISCONNECT, state.uniform, {V.REASON: reason, V.ID: event_id}
                )
        victim.rooms.clear()
        self.forget(victim)
        return True

    def shutdown(self) -> None:
        """The server stops: tell every XMPP session it left (332) while the link is up."""
        for person in list(self.persons.values()):
            for state in person.rooms.values():
                for occ in state.sessions.values():
                    self.send(muc.self_unavailable(person, state, occ.full, ["110", "332"]))
        for bridge in self.bridges:
            bridge.shutdown()

    # -- small helpers

    def tag(self) -> str:
        return f"x{next(self._tags):x}"

    def remember(self, tag: str, pending: Pending) -> None:
        self.pending[tag] = pending
        while len(self.pending) > PENDING_MAX:
            self.pending.popitem(last=False)

    def view(self, channel: str) -> PlaceView | None:
        return self.core.places.get(channel)

    def place_uniform(self, channel: str) -> str:
        """The uniform of a channel's place, on its home server."""
        return self.core.net.place_uniform(channel)

    def nicklen(self) -> int:
        return int(self.core.config.limits.nicklen)

    def nick_taken(self, nick: str, mine: GatewayUser | None = None) -> bool:
        """Whether `nick` is used on IRC (or registered) by anybody but `mine`."""
        core = self.core
        folded = casefold(nick)
        found = core.persons.find(nick)
        if found is not None and found is not mine:
            return True
        if folded in core.persons.reserved:
            return True
        accounts = core.accounts
        if accounts is not None:
            try:
                if accounts.get(nick) is not None:
                    return True
            except Exception:  # the account store must not stop a join
                log.exception("account lookup for %s failed", nick)
        return False

    def add_user(self, user: GatewayUser) -> None:
        """Put a gateway user into the router and the directory of persons."""
        self.core.persons.add_gateway_user(user)

    def drop_user(self, user: GatewayUser) -> None:
        self.core.persons.drop_gateway_user(user)

    def rename_user(self, user: GatewayUser, new: str) -> None:
        """Give a gateway user a new nick and tell its channels (IRC NICK, MUC 303)."""
        from ircpsyc.psyc_backend.uniform import person as person_uniform

        old_uniform = user.uniform
        self.drop_user(user)
        user.nick = new
        user.uniform = person_uniform(self.core.name, new)
        self.add_user(user)
        event_id = new_id()
        for view in list(user.channels.values()):
            self.core.router.send(
                Packet(
                    V.NOTICE_PERSON_NICK,
                    {V.SOURCE: old_uniform, V.TARGET: view.uniform},
                    {V.NICK_NEW: new, V.UNIFORM_NEW: user.uniform, V.ID: event_id},
                )
            )

    # -- stanzas in

    def handle(self, element: Element) -> None:
        """One stanza from the XMPP server."""
        try:
            self._handle(element)
        except Exception:
            log.exception("error handling a stanza from %s", element.get("from"))
            if element.get("type") in ("get", "set") and S.local_name(element) == "iq":
                self.send(S.error(element, "service-unavailable", "Internal error"))

    def _handle(self, element: Element) -> None:
        kind = S.local_name(element)
        sender = J.parse(element.get("from", ""))
        to = J.parse(element.get("to", ""))
        if sender is None or to is None or to.domain != self.domain:
            return
        for bridge in self.bridges:
            if bridge.owns(sender, to):
                bridge.handle(kind, element, sender, to)
                return
        if self._answer(element, kind, sender, to):
            return
        if element.get("type") == "error" and kind != "presence":
            return  # never answer an error
        if not to.local:
            if kind == "message":
                binding.handle(self, element, sender)
            else:
                rooms.service_iq(self, kind, element, sender)
            return
        channel = J.channel_of(to.local)
        if not self._valid_channel(channel):
            if element.get("type") not in ("error", "unavailable", "result"):
                self.send(S.error(element, "item-not-found", "No such channel"))
            return
        if kind == "presence":
            presence.handle(self, element, sender, to, channel)
        elif kind == "message":
            messages.handle(self, element, sender, to, channel)
        elif kind == "iq":
            rooms.room_iq(self, element, sender, to, channel)

    def _valid_channel(self, channel: str) -> bool:
        return (
            1 < len(channel) <= self.core.config.limits.channellen
            and not any(c in channel for c in " ,\x07:\r\n\0")
            and channel[1:2] != ""
        )

    # -- XMPP persons (the state the sections share)

    def session_person(self, full: str, folded: str) -> XmppPerson | None:
        """The person whose session `full` is in the room of channel `folded`."""
        jid = J.parse(full)
        if jid is None:
            return None
        for person in self.by_bare.get(jid.bare, ()):
            state = person.rooms.get(folded)
            if state is not None and full in state.sessions:
                return person
        return None

    def leave_later(self, person: XmppPerson, uniform: str, reason: str) -> None:
        """Leave the place `uniform` at the next tick (see `render.on_rename`)."""
        self.leaving.append((person, uniform, reason))

    def _leave_renamed(self) -> None:
        leaving, self.leaving = self.leaving, []
        for person, uniform, reason in leaving:
            if any(normalize(s.uniform) == normalize(uniform) for s in person.rooms.values()):
                continue  # its client joined the new room meanwhile
            person.request(V.REQUEST_LEAVE, uniform, {V.REASON: reason})
            self.forget_if_idle(person)

    def forget_if_idle(self, person: XmppPerson) -> None:
        """Forget `person` once it is in no room."""
        if not person.rooms:
            self.forget(person)

    def forget(self, person: XmppPerson) -> None:
        """`person` is in no room any more: out of the gateway and the IRC roster."""
        self._unlist(person)
        owner = person.bound
        if owner is not None:  # a location of a person: the person may go with it
            person.bound = None
            owner.detach_location(person, "XMPP session left")
            return
        self.drop_user(person)

    def _unlist(self, person: XmppPerson) -> None:
        for key, known in list(self.persons.items()):
            if known is person:
                del self.persons[key]
        same = self.by_bare.get(person.bare, [])
        if person in same:
            same.remove(person)
        if not same:
            self.by_bare.pop(person.bare, None)
        person.channels.clear()

    def location_gone(self, person: XmppPerson, reason: str) -> None:
        """The person `person` is a location of quit (KILL, GHOST, its last IRC session
        went while this one was leaving): every XMPP session of it leaves its rooms."""
        for state in list(person.rooms.values()):
            for occ in joined(state):
                self.send(
                    muc.self_unavailable(person, state, occ.full, ["110", "307"], "", "", reason)
                )
        person.rooms.clear()
        person.bound = None  # the person is gone: nothing to detach from
        self._unlist(person)

    def presence_changed(self, user: Person) -> None:
        """Show `user`'s (new) show/status to the XMPP occupants of its channels."""
        presence.presence_changed(self, user)

    # -- packets out to XMPP users

    def deliver(self, person: XmppPerson, packet: Packet) -> None:
        handler: render.Renderer | None = render.DELIVERY.lookup(packet.method)
        if handler is None:
            return
        try:
            handler(self, person, packet)
        except Exception:
            log.exception("error rendering %s for XMPP user %s", packet.method, person.bare)


def _gone(element: Element) -> bool:
    """Whether an error says the session is no more (not, say, "ping not implemented")."""
    error = S.child(element, "error")
    if error is None:
        return False
    conditions = {S.local_name(node) for node in error if S.namespace(node) == S.STANZAS}
    return bool(conditions & _GONE)


_GONE = frozenset(
    {
        "service-unavailable",
        "recipient-unavailable",
        "item-not-found",
        "gone",
        "remote-server-not-found",
        "remote-server-timeout",
    }
)


class _IrcPresence(PersonObserver[Person, Any]):
    """Other front-ends' users' AWAY, and their IRCv3 display-name, show in their MUC
    presence."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def away_changed(self, client: Person) -> None:
        self.gateway.presence_changed(client)

    def metadata_changed(self, client: Person) -> None:
        self.gateway.presence_changed(client)  # its display-name (XEP-0172)
