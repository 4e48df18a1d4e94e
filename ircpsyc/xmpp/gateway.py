"""The MUC gateway's core: XMPP stanzas in, PSYC packets out, and back (sans-IO).

`Gateway.handle(stanza)` takes what the XMPP server sent the component;
whatever the gateway has to say goes to `Gateway.output` (the slixmpp adapter
serialises it, or a test collects it).  Nothing here touches a socket or the
event loop, and time comes from the IRC core's clock, so the whole MUC
behaviour is tested without a network.

Each channel `#name` is the room `name@DOMAIN` (XEP-0045):

* A join (presence to `room@DOMAIN/nick`) creates or reuses the `XmppPerson`
  of that bare JID and nick and sends `_request_enter` for it: the place
  decides (bans, +i, +k from the MUC password, +l, +R).  The echo is rendered
  as the join sequence: the other occupants' presences, the self-presence
  (110, 100, 170, and 210 when the nick was altered), the history as delayed
  messages, and the subject.  Refusals become presence errors.
* The MUC nick becomes a valid IRC nick; one used by another occupant of the
  room is a conflict, one used elsewhere on IRC is de-duplicated (210).
* Groupchat messages are `_message_public`, reflected to everybody with the
  sender's id; subjects are `_request_set_topic`; chat messages to
  `room/nick` are `_message_private` to that nick, and back.
* Kicks and bans are unavailable presences with 307/301, ranks are roles and
  affiliations, nick changes are 303, modes that change roles re-send
  presences, other mode changes are status 104.
* Away (show away/xa/dnd) is the person's AWAY (away-notify), and IRC users'
  AWAY is their show/status.
* An IRC operator's KILL of an XMPP user (`Gateway.disconnect`, called by
  `Moderation.kill`): every session gets an unavailable presence (110, 307,
  the reason) and the person quits its channels like a disconnecting IRC user.

Every stanza sent is `from` the component's domain (a room, an occupant of a
room, or the domain itself): anything else would make the XMPP server drop
the component.  While the link to the XMPP server is down, stanzas queue;
after `[xmpp] grace` seconds the XMPP users leave their channels.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc import __version__
from ircpsyc.channels import modes as M
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import PersonObserver
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Dispatch, Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, normalize, place
from ircpsyc.services.history import KIND_MESSAGE, Query, time_of
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.nicks import irc_nick, unique_nick
from ircpsyc.xmpp.person import (
    AWAY_SHOWS,
    GatewayUser,
    HistoryRequest,
    Occupancy,
    RemoteOccupant,
    RoomState,
    XmppPerson,
    away_text,
)
from ircpsyc.xmpp.text import to_irc, to_xmpp

if TYPE_CHECKING:
    from ircpsyc.channels.place import Member, Place
    from ircpsyc.config import XmppSection
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.xmpp.bridge import Bridge

log = logging.getLogger(__name__)

QUEUE_MAX = 10000  # stanzas kept while the XMPP server is unreachable
PENDING_MAX = 4096  # requests waiting for the place's answer
_XID = "xmpp-id"  # render_cache key: the XMPP id of a reflected message

# What a place's refusal to let somebody in is in XEP-0045 (7.2.4 - 7.2.10).
ENTER_ERRORS: dict[str, tuple[str, str]] = {
    "_error_place_enter_necessary_invitation": (
        "registration-required",
        "This channel is invite-only (+i)",
    ),
    "_error_place_enter_necessary_account": (
        "registration-required",
        "Only users logged into an account may join (+R)",
    ),
    "_error_place_enter_banned": ("forbidden", "You are banned from this channel (+b)"),
    "_error_place_enter_necessary_key": ("not-authorized", "This channel needs a password (+k)"),
    "_error_place_enter_full": ("service-unavailable", "This channel is full (+l)"),
    "_error_unknown_name_place": ("item-not-found", "No such channel"),
}


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


class Gateway:
    """XEP-0045 rooms for the channels of one IRC core (see the module docstring)."""

    def __init__(self, core: IRCServer, settings: Callable[[], XmppSection]) -> None:
        self.core = core
        self.settings = settings
        self.domain = settings().domain.lower()
        self.output: Callable[[Element], None] = lambda element: None
        self.persons: dict[tuple[str, str], XmppPerson] = {}  # (bare JID, requested nick)
        self.by_bare: dict[str, list[XmppPerson]] = {}  # bare JID -> its persons
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
        self.service = _Service(core)
        core.router.register(self.service)
        core.person_observers.append(_IrcPresence(self))
        core.tickers.append(self.tick)
        core.moderation.disconnectors.append(self.disconnect)  # KILL of an XMPP user

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
                self._leave_session(person, folded, full, "Disconnected", True)
            return True
        if kind == "message" and type_ == "error":
            if to.local and _gone(element):
                folded = casefold(J.channel_of(to.local))
                bounced = self._session_person(str(sender), folded)
                if bounced is not None:
                    self._leave_session(bounced, folded, str(sender), "Disconnected", True)
            return True
        return False

    def link_down(self, now: float) -> None:
        if self.up:
            self.up = False
            self.down_since = now
            for bridge in self.bridges:
                bridge.link_down()

    def tick(self, now: float) -> None:
        """Once a second (monotonic time): give up on XMPP users after the grace time."""
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
                if state.joined:
                    person.request(
                        "_request_leave_disconnect",
                        state.uniform,
                        {"_reason": reason, "_id": event_id},
                    )
            person.rooms.clear()
            self._forget(person)
        for bridge in self.bridges:
            bridge.drop_remotes(reason)

    def disconnect(self, victim: Client, reason: str) -> bool:
        """An operator KILLed one of our XMPP users: every session of it is told it was
        removed (307, the reason), and it quits its channels as a disconnecting IRC user
        does.  False when `victim` is not ours."""
        if not isinstance(victim, XmppPerson) or victim.gateway is not self:
            return False
        event_id = new_id()
        for state in list(victim.rooms.values()):
            for occ in self._joined(state):
                self.send(
                    self._self_unavailable(victim, state, occ.full, ["110", "307"], "", "", reason)
                )
            if state.joined:
                victim.request(
                    "_request_leave_disconnect", state.uniform, {"_reason": reason, "_id": event_id}
                )
        victim.rooms.clear()
        self._forget(victim)
        return True

    def shutdown(self) -> None:
        """The server stops: tell every XMPP session it left (332) while the link is up."""
        for person in list(self.persons.values()):
            for state in person.rooms.values():
                for occ in state.sessions.values():
                    self.send(self._self_unavailable(person, state, occ.full, ["110", "332"]))
        for bridge in self.bridges:
            bridge.shutdown()

    # -- small helpers

    def tag(self) -> str:
        return f"x{next(self._tags):x}"

    def remember(self, tag: str, pending: Pending) -> None:
        self.pending[tag] = pending
        while len(self.pending) > PENDING_MAX:
            self.pending.popitem(last=False)

    def view(self, channel: str) -> Place | None:
        return self.core.places.get(channel)

    def place_uniform(self, channel: str) -> str:
        """The uniform of a channel's place: on its home server when servers are linked."""
        net = self.core.net
        if net is not None:
            return net.place_uniform(channel)
        return place(self.core.name, channel[1:])

    def nicklen(self) -> int:
        return int(self.core.config.limits.nicklen)

    def nick_taken(self, nick: str, mine: GatewayUser | None = None) -> bool:
        """Whether `nick` is used on IRC (or registered) by anybody but `mine`."""
        core = self.core
        folded = casefold(nick)
        found = core.find(nick)
        if found is not None and found is not mine:
            return True
        if folded in core.reserved:
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
        """Put a gateway user into the router and the IRC roster."""
        self.core.router.register(user)
        self.core.gateway_users[casefold(user.nick)] = user
        self.core.announce_online(user)
        if self.core.net is not None:  # the other servers see it in our roster
            self.core.net.roster.person_online(user)

    def drop_user(self, user: GatewayUser) -> None:
        core = self.core
        core.router.unregister(user.uniform, user)
        if core.gateway_users.get(casefold(user.nick)) is user:
            del core.gateway_users[casefold(user.nick)]
        core.remember(user)
        core.announce_offline(user.nick)
        if core.net is not None:
            core.net.roster.person_offline(user)

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
                    "_notice_person_nick",
                    {"_source": old_uniform, "_target": view.uniform},
                    {"_nick_new": new, "_uniform_new": user.uniform, "_id": event_id},
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
            self._to_service(kind, element, sender)
            return
        channel = J.channel_of(to.local)
        if not self._valid_channel(channel):
            if element.get("type") not in ("error", "unavailable", "result"):
                self.send(S.error(element, "item-not-found", "No such channel"))
            return
        if kind == "presence":
            self._presence(element, sender, to, channel)
        elif kind == "message":
            self._message(element, sender, to, channel)
        elif kind == "iq":
            self._room_iq(element, sender, to, channel)

    def _valid_channel(self, channel: str) -> bool:
        return (
            1 < len(channel) <= self.core.config.limits.channellen
            and not any(c in channel for c in " ,\x07:\r\n\0")
            and channel[1:2] != ""
        )

    # -- the service itself: disco, ping, version

    def _to_service(self, kind: str, element: Element, sender: J.JID) -> None:
        if kind != "iq" or element.get("type") not in ("get", "set"):
            return
        query = element[0] if len(element) else None
        ns = S.namespace(query) if query is not None else ""
        if element.get("type") == "get" and ns == S.DISCO_INFO and query is not None:
            if query.get("node"):
                self.send(S.error(element, "item-not-found"))
                return
            reply = S.iq_result(element)
            info = SubElement(reply, S.qname("query", S.DISCO_INFO))
            SubElement(
                info,
                S.qname("identity", S.DISCO_INFO),
                {"category": "conference", "type": "text", "name": self.settings().name},
            )
            for feature in (S.DISCO_INFO, S.DISCO_ITEMS, S.MUC, S.PING, S.VERSION, S.MUC_STABLE_ID):
                SubElement(info, S.qname("feature", S.DISCO_INFO), {"var": feature})
            self.send(reply)
        elif element.get("type") == "get" and ns == S.DISCO_ITEMS:
            reply = S.iq_result(element)
            items = SubElement(reply, S.qname("query", S.DISCO_ITEMS))
            for view in sorted(self.core.places.places.values(), key=lambda p: p.folded):
                if view.secret or not view.members:
                    continue
                SubElement(
                    items,
                    S.qname("item", S.DISCO_ITEMS),
                    {"jid": J.room_jid(view.name, self.domain), "name": view.name},
                )
            self.send(reply)
        elif element.get("type") == "get" and ns == S.PING:
            self.send(S.iq_result(element))
        elif element.get("type") == "get" and ns == S.VERSION:
            reply = S.iq_result(element)
            query_out = SubElement(reply, S.qname("query", S.VERSION))
            S.text_child(query_out, "name", "ircpsyc", S.VERSION)
            S.text_child(query_out, "version", __version__, S.VERSION)
            self.send(reply)
        else:
            self.send(S.error(element, "service-unavailable"))

    # -- presence: join, leave, nick change, away

    def _presence(self, element: Element, sender: J.JID, to: J.JID, channel: str) -> None:
        folded = casefold(channel)
        full = str(sender)
        type_ = element.get("type", "")
        person = self._session_person(full, folded)
        if type_ in ("unavailable", "error"):
            if person is not None:
                status = S.child_text(element, "status") or ""
                self._leave_session(person, folded, full, status, type_ == "error")
            return
        if type_:
            return  # subscriptions and probes are not for rooms
        nick = to.resource
        if not nick.strip():
            self.send(S.error(element, "jid-malformed", "You need a nickname to join"))
            return
        muc = S.child(element, "x", S.MUC)
        if person is None:
            self._join(element, sender, to, channel, nick, muc)
            return
        state = person.rooms[folded]
        occ = state.sessions[full]
        if nick != state.requested and casefold(irc_nick(nick, self.nicklen())) != casefold(
            person.nick
        ):
            self._change_nick(element, person, state, nick)
            return
        if muc is not None and state.joined:
            occ.history = _history_request(muc)
            self._update_show(person, occ, element)
            self._join_sequence(person, state, occ)
            return
        self._update_show(person, occ, element)

    def _session_person(self, full: str, folded: str) -> XmppPerson | None:
        """The person whose session `full` is in the room of channel `folded`."""
        jid = J.parse(full)
        if jid is None:
            return None
        for person in self.by_bare.get(jid.bare, ()):
            state = person.rooms.get(folded)
            if state is not None and full in state.sessions:
                return person
        return None

    def _join(
        self,
        element: Element,
        sender: J.JID,
        to: J.JID,
        channel: str,
        nick: str,
        muc: Element | None,
    ) -> None:
        folded = casefold(channel)
        full = str(sender)
        key = (sender.bare, nick.lower())
        person = self.persons.get(key)
        occ = Occupancy(full, history=_history_request(muc))
        self._update_show(None, occ, element)
        if person is not None and folded in person.rooms:
            state = person.rooms[folded]  # another session of the same occupant
            state.sessions[full] = occ
            if state.joined:
                self._join_sequence(person, state, occ)
            return
        view = self.view(channel)
        wanted = irc_nick(nick, self.nicklen())
        if person is None:
            holder = view.member_by_nick(wanted) if view is not None else None
            if holder is not None:
                self.send(
                    S.error(
                        element,
                        "conflict",
                        "That nickname is already in use in this room",
                        by=to.bare,
                    )
                )
                return
            if len(self.persons) >= self.core.config.limits.max_clients:
                self.send(S.error(element, "service-unavailable", "Too many XMPP users"))
                return
            given = unique_nick(wanted, self.nicklen(), self.nick_taken)
            user = irc_nick(sender.local or sender.domain, 10).lower()
            person = XmppPerson(self, given, sender.bare, nick, user, sender.domain)
            person.show = occ.show
            person.away = away_text(occ.show, occ.status)
            self.persons[key] = person
            self.by_bare.setdefault(person.bare, []).append(person)
            self.add_user(person)
        elif view is not None:
            holder = view.member_by_nick(person.nick)
            if holder is not None and holder.route is not person:
                self.send(
                    S.error(element, "conflict", "That nickname is already in use", by=to.bare)
                )
                return
        if len(person.rooms) >= self.core.config.limits.max_channels:
            self.send(
                S.error(element, "not-allowed", "You have joined too many channels", by=to.bare)
            )
            self._forget_if_idle(person)
            return
        state = RoomState(view.name if view is not None else channel, to.bare, "", nick)
        state.uniform = view.uniform if view is not None else self.place_uniform(channel)
        state.sessions[full] = occ
        person.rooms[folded] = state
        tag = self.tag()
        self.remember(tag, Pending("enter", person, folded, full))
        vars = person.enter_vars()
        vars["_nick_place"] = state.channel
        vars["_ip"] = "0.0.0.0"
        password = S.child_text(muc, "password", S.MUC) if muc is not None else None
        if password:
            vars["_key"] = password
        self.core.router.send(
            Packet(
                "_request_enter",
                {"_source": person.uniform, "_target": state.uniform, "_tag": tag},
                {"_nick": person.nick, **vars},
            )
        )

    def _leave_session(
        self, person: XmppPerson, folded: str, full: str, status: str, bounced: bool
    ) -> None:
        state = person.rooms.get(folded)
        if state is None or full not in state.sessions:
            return
        occ = state.sessions.pop(full)
        for element in self.waiting.pop((full, state.jid), ()):  # no history any more
            self.send(element)
        if not bounced and occ.joined:
            self.send(self._self_unavailable(person, state, full, ["110"], status))
        if state.sessions:
            return
        del person.rooms[folded]
        if state.joined:
            person.channels.pop(folded, None)
            person.request("_request_leave", state.uniform, {"_reason": status})
        self._forget_if_idle(person)

    def _forget_if_idle(self, person: XmppPerson) -> None:
        if not person.rooms:
            self._forget(person)

    def _forget(self, person: XmppPerson) -> None:
        for key, known in list(self.persons.items()):
            if known is person:
                del self.persons[key]
        same = self.by_bare.get(person.bare, [])
        if person in same:
            same.remove(person)
        if not same:
            self.by_bare.pop(person.bare, None)
        person.channels.clear()
        self.drop_user(person)

    def _change_nick(
        self, element: Element, person: XmppPerson, state: RoomState, nick: str
    ) -> None:
        """A joined session asks for another nick: the person is renamed everywhere (IRC NICK)."""
        to = state.jid
        if not state.joined:
            self.send(S.error(element, "not-acceptable", "Wait until you have joined", by=to))
            return
        wanted = irc_nick(nick, self.nicklen())
        for folded in person.rooms:
            view = self.view(person.rooms[folded].channel)
            holder = view.member_by_nick(wanted) if view is not None else None
            if holder is not None and holder.route is not person:
                self.send(S.error(element, "conflict", "That nickname is already in use", by=to))
                return
        if self.persons.get((person.bare, nick.lower())) not in (None, person):
            self.send(S.error(element, "conflict", "You already use that nickname", by=to))
            return
        new = unique_nick(wanted, self.nicklen(), lambda n: self.nick_taken(n, person))
        for key, known in list(self.persons.items()):
            if known is person:
                del self.persons[key]
        self.persons[(person.bare, nick.lower())] = person
        person.requested = nick
        for room in person.rooms.values():
            room.requested = nick
        if new == person.nick:
            return
        self.rename_user(person, new)

    def _update_show(self, person: XmppPerson | None, occ: Occupancy, element: Element) -> None:
        show = S.child_text(element, "show") or ""
        status = S.child_text(element, "status") or ""
        occ.show, occ.status = show, status
        if person is None:
            return
        away = away_text(show, status)[: self.core.config.limits.awaylen]
        changed = show != person.show or away != person.away
        person.show = show
        if away != person.away:
            from ircpsyc.ircd.commands.query import notify_peers

            person.away = away
            notify_peers(person, "AWAY", *([away] if away else []))
        if changed:
            self.presence_changed(person)

    def presence_changed(self, user: Client) -> None:
        """Show `user`'s (new) show/status to the XMPP occupants of its channels."""
        for view in list(user.channels.values()):
            member = view.member(user.uniform)
            if member is None:
                continue
            for other in self._xmpp_members(view):
                state = other.rooms.get(view.folded)
                if state is None or not state.joined:
                    continue
                for occ in self._joined(state):
                    self.send(self._occupant_presence(view, member, state, occ.full, other))

    # -- messages

    def _message(self, element: Element, sender: J.JID, to: J.JID, channel: str) -> None:
        folded = casefold(channel)
        full = str(sender)
        type_ = element.get("type", "normal")
        person = self._session_person(full, folded)
        body = S.child_text(element, "body")
        if type_ == "groupchat":
            if to.resource:
                self.send(S.error(element, "bad-request", "Send groupchat messages to the room"))
                return
            if person is None or not person.rooms[folded].joined:
                self.send(
                    S.error(element, "not-acceptable", "You are not in this room", by=to.bare)
                )
                return
            state = person.rooms[folded]
            subject = S.child_text(element, "subject")
            if subject is not None and body is None:
                tag = self.tag()
                self.remember(tag, Pending("topic", person, folded, full, element.get("id", "")))
                self.core.router.send(
                    Packet(
                        "_request_set_topic",
                        {"_source": person.uniform, "_target": state.uniform, "_tag": tag},
                        {
                            "_nick": person.nick,
                            "_prefix": person.prefix,
                            "_topic": " ".join(subject.split("\n")),
                            "_nick_place": state.channel,
                        },
                    )
                )
                return
            if body:
                self._say(person, state, full, body, element)
            return
        if type_ in ("chat", "normal") and to.resource and body:
            self._private(element, person, state_of(person, folded), full, to, body)
            return
        if to.resource == "" and type_ == "normal":
            invite = S.child(element, "x", S.MUC_USER)
            if invite is not None and person is not None:
                self._invite(person, person.rooms[folded], invite)
            return

    def _say(
        self, person: XmppPerson, state: RoomState, full: str, body: str, element: Element
    ) -> None:
        origin = ""
        origin_node = S.child(element, "origin-id", S.SID)
        if origin_node is not None:
            origin = origin_node.get("id", "")
        lines = to_irc(body)
        xid = element.get("id", "") or origin
        for index, text in enumerate(lines):
            tag = self.tag()
            self.remember(
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
            self.core.router.send(
                Packet(
                    "_message_public",
                    {"_source": person.uniform, "_target": state.uniform, "_tag": tag},
                    {
                        "_nick": person.nick,
                        "_prefix": person.prefix,
                        "_nick_place": state.channel,
                        "_time": str(int(self.core.clock() * 1000)),
                    },
                    text,
                )
            )

    def _private(
        self,
        element: Element,
        person: XmppPerson | None,
        state: RoomState | None,
        full: str,
        to: J.JID,
        body: str,
    ) -> None:
        if person is None or state is None or not state.joined:
            self.send(S.error(element, "not-acceptable", "You are not in this room", by=to.bare))
            return
        view = self.view(state.channel)
        member = view.member_by_nick(to.resource) if view is not None else None
        target = self.core.find(to.resource) if member is not None else None
        if member is None or target is None:
            self.send(S.error(element, "item-not-found", "No such occupant", by=to.bare))
            return
        person.pm_rooms[casefold(target.nick)] = state.channel
        for text in to_irc(body):
            person.core.router.send(
                Packet(
                    "_message_private",
                    {"_source": person.uniform, "_target": target.uniform},
                    {
                        "_nick": person.nick,
                        "_prefix": person.prefix,
                        "_nick_target": target.nick,
                        "_nick_place": state.channel,
                        "_id": new_id(),
                        "_time": str(int(self.core.clock() * 1000)),
                    },
                    text,
                )
            )
        if target.away and not isinstance(target, GatewayUser):
            reply = S.stanza("message", state.occupant(target.nick), full, "chat")
            S.text_child(reply, "body", f"{target.nick} is away: {target.away}")
            SubElement(reply, S.qname("x", S.MUC_USER))
            self.send(reply)

    def _invite(self, person: XmppPerson, state: RoomState, x: Element) -> None:
        """A mediated invitation (XEP-0045 7.8.2) to a JID that is in a room here is INVITE."""
        for node in x:
            if S.local_name(node) != "invite":
                continue
            invitee = J.parse(node.get("to", ""))
            if invitee is None:
                continue
            target = next(iter(self.by_bare.get(invitee.bare, ())), None)
            if target is None:
                continue
            person.request(
                "_request_invite",
                state.uniform,
                {
                    "_nick_target": target.nick,
                    "_uniform_target": target.uniform,
                    "_nick_place": state.channel,
                    "_prefix": person.prefix,
                },
            )

    # -- iq to a room or an occupant

    def _room_iq(self, element: Element, sender: J.JID, to: J.JID, channel: str) -> None:
        type_ = element.get("type")
        if type_ not in ("get", "set"):
            return
        query = element[0] if len(element) else None
        ns = S.namespace(query) if query is not None else ""
        folded = casefold(channel)
        person = self._session_person(str(sender), folded)
        joined = person is not None and person.rooms[folded].joined
        if ns == S.PING and type_ == "get":
            if to.resource:  # XEP-0410: is this occupant (still) in the room?
                view = self.view(channel)
                if not joined or view is None or view.member_by_nick(to.resource) is None:
                    self.send(S.error(element, "not-acceptable", "You are not in this room"))
                    return
            self.send(S.iq_result(element))
            return
        if to.resource:
            self.send(S.error(element, "service-unavailable"))
            return
        if ns == S.DISCO_INFO and type_ == "get" and query is not None:
            self._room_info(element, channel, query)
        elif ns == S.DISCO_ITEMS and type_ == "get":
            reply = S.iq_result(element)
            items = SubElement(reply, S.qname("query", S.DISCO_ITEMS))
            view = self.view(channel)
            if view is not None and (joined or not view.secret):
                room = J.room_jid(view.name, self.domain)
                for member in list(view.members.values()):
                    SubElement(
                        items,
                        S.qname("item", S.DISCO_ITEMS),
                        {"jid": f"{room}/{member.nick}", "name": member.nick},
                    )
            self.send(reply)
        elif ns == S.MUC_ADMIN and query is not None:
            if person is None or not joined:
                self.send(S.error(element, "forbidden", "You are not in this room"))
                return
            self._admin(element, person, person.rooms[folded], query)
        elif ns == S.MUC_OWNER:
            self.send(
                S.error(
                    element,
                    "not-allowed",
                    "This room is an IRC channel: set its modes with IRC MODE commands",
                )
            )
        else:
            self.send(S.error(element, "service-unavailable"))

    def _room_info(self, element: Element, channel: str, query: Element) -> None:
        if query.get("node"):
            self.send(S.error(element, "item-not-found"))
            return
        view = self.view(channel)
        name = view.name if view is not None else channel
        flags: set[str] = view.flags if view is not None else {"n", "t"}
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
        self.send(reply)

    def _admin(
        self, element: Element, person: XmppPerson, state: RoomState, query: Element
    ) -> None:
        """muc#admin: kicks, bans, voice and ranks from XMPP moderators; the ban list."""
        view = self.view(state.channel)
        if view is None:
            self.send(S.error(element, "item-not-found"))
            return
        if element.get("type") == "get":
            self._admin_list(element, view, query)
            return
        requests: list[tuple[str, dict[str, Value]]] = []
        for item in query:
            if S.local_name(item) != "item":
                continue
            reason = S.child_text(item, "reason", S.MUC_ADMIN) or ""
            target = view.member_by_nick(item.get("nick", "")) if item.get("nick") else None
            jid_text = item.get("jid", "")
            if target is None and jid_text:
                target = self._member_by_jid(view, jid_text)
            role, affiliation = item.get("role"), item.get("affiliation")
            if affiliation == "outcast":
                mask = _ban_mask(target, jid_text)
                if mask is None:
                    self.send(S.error(element, "bad-request", "Whom to ban?"))
                    return
                requests.append(("_request_set_mode", {"_mode": "+b", "_list_parameters": [mask]}))
                if target is not None:
                    requests.append(
                        ("_request_kick", {"_nick_target": target.nick, "_reason": reason})
                    )
                continue
            if target is None:
                self.send(S.error(element, "item-not-found", "No such occupant"))
                return
            if role == "none":
                requests.append(("_request_kick", {"_nick_target": target.nick, "_reason": reason}))
                continue
            change = _rank_change(target, role, affiliation, "m" in view.flags)
            if change:
                letters = len(change) - 1
                requests.append(
                    (
                        "_request_set_mode",
                        {"_mode": change, "_list_parameters": [target.nick] * letters},
                    )
                )
        tag = self.tag()
        pending = Pending("admin", person, view.folded, stanza=element)
        self.remember(tag, pending)
        for method, vars in requests:
            vars["_nick_place"] = view.name
            vars["_prefix"] = person.prefix
            self.core.router.send(
                Packet(
                    method,
                    {"_source": person.uniform, "_target": view.uniform, "_tag": tag},
                    {"_nick": person.nick, **vars},
                )
            )
            if tag not in self.pending:
                return  # refused: the error went out
        self.pending.pop(tag, None)
        self.send(S.iq_result(element))

    def _admin_list(self, element: Element, view: Place, query: Element) -> None:
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
                real = J.parse(self._real_jid(member.route))
                if real is not None:
                    attrs["jid"] = real.bare
                SubElement(out, S.qname("item", S.MUC_ADMIN), attrs)
        self.send(reply)

    def _member_by_jid(self, view: Place, text: str) -> Member | None:
        wanted = J.parse(text)
        if wanted is None:
            return None
        for member in view.members.values():
            route = member.route
            if isinstance(route, XmppPerson) and route.bare == wanted.bare:
                return member
        return None

    # -- packets out to XMPP users

    def deliver(self, person: XmppPerson, packet: Packet) -> None:
        handler = _DELIVERY.lookup(packet.method)
        if handler is None:
            return
        try:
            handler(self, person, packet)
        except Exception:
            log.exception("error rendering %s for XMPP user %s", packet.method, person.bare)

    def _room(self, person: XmppPerson, packet: Packet) -> tuple[RoomState, Place] | None:
        folded = casefold(packet.get("_nick_place"))
        state = person.rooms.get(folded)
        if state is None or not state.joined:
            return None
        view = self.view(state.channel)
        if view is None:
            return None
        return state, view

    @staticmethod
    def _joined(state: RoomState) -> list[Occupancy]:
        return [occ for occ in state.sessions.values() if occ.joined]

    def _xmpp_members(self, view: Place) -> list[XmppPerson]:
        return [m.route for m in list(view.members.values()) if isinstance(m.route, XmppPerson)]

    @staticmethod
    def _real_jid(route: object, view: Place | None = None) -> str:
        """The JID a member is known by in MUC items (XMPP users: the session in that room)."""
        if isinstance(route, XmppPerson):
            state = route.rooms.get(view.folded) if view is not None else None
            if state is not None and state.sessions:
                return next(iter(state.sessions))
            return route.bare
        if isinstance(route, RemoteOccupant):
            return route.real_jid
        return ""

    def _item(self, view: Place, member: Member, attrs: dict[str, str] | None = None) -> Element:
        affiliation, role = role_of(member, "m" in view.flags)
        item = Element(S.qname("item", S.MUC_USER), {"affiliation": affiliation, "role": role})
        real = self._real_jid(member.route, view)
        if real:
            item.set("jid", real)
        if attrs:
            for key, value in attrs.items():
                item.set(key, value)
        return item

    def _occupant_presence(
        self,
        view: Place,
        member: Member,
        state: RoomState,
        to: str,
        viewer: XmppPerson,
        codes: Iterable[str] = (),
    ) -> Element:
        return self._presence_of(
            view, state, to, viewer, member.nick, member.route, self._item(view, member), codes
        )

    def _presence_of(
        self,
        view: Place,
        state: RoomState,
        to: str,
        viewer: XmppPerson,
        nick: str,
        route: object,
        item: Element,
        codes: Iterable[str] = (),
    ) -> Element:
        presence = S.stanza("presence", state.occupant(nick), to)
        show, status = "", ""
        if isinstance(route, XmppPerson):
            show = route.show
            status = route.away or ""
            if show not in AWAY_SHOWS and show != "chat":
                status = ""
        elif isinstance(route, Client | _Absent) and route.away:
            show, status = "away", route.away
        if show:
            S.text_child(presence, "show", show)
        if status:
            S.text_child(presence, "status", status)
        x = SubElement(presence, S.qname("x", S.MUC_USER))
        x.append(item)
        codes = list(codes)
        if route is viewer:
            codes = ["110", *codes]
        for code in codes:
            SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
        return presence

    def _self_unavailable(
        self,
        person: XmppPerson,
        state: RoomState,
        full: str,
        codes: list[str],
        status: str = "",
        actor: str = "",
        reason: str = "",
        affiliation: str = "none",
    ) -> Element:
        presence = S.stanza("presence", state.occupant(person.nick), full, "unavailable")
        if status:
            S.text_child(presence, "status", status)
        x = SubElement(presence, S.qname("x", S.MUC_USER))
        item = SubElement(
            x,
            S.qname("item", S.MUC_USER),
            {"affiliation": affiliation, "role": "none", "jid": full},
        )
        if actor:
            SubElement(item, S.qname("actor", S.MUC_USER), {"nick": actor})
        if reason:
            S.text_child(item, "reason", reason, S.MUC_USER)
        for code in codes:
            SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
        return presence

    def _join_sequence(self, person: XmppPerson, state: RoomState, occ: Occupancy) -> None:
        view = self.view(state.channel)
        if view is None:
            return
        occ.joined = True
        me = view.member(person.uniform)
        for member in list(view.members.values()):
            if member is not me:
                self.send(self._occupant_presence(view, member, state, occ.full, person))
        if me is not None:
            codes = ["100"]
            if self.core.config.history.enabled:
                codes.append("170")
            if person.nick != state.requested:
                codes.append("210")
            self.send(self._occupant_presence(view, me, state, occ.full, person, codes))
        if self._ask_home(person, view, state, occ):
            return  # the history and the subject follow the home's answer
        for message in self._history(view, state, occ):
            self.send(message)
        self._subject(view, state, occ)

    def _subject(self, view: Place, state: RoomState, occ: Occupancy) -> None:
        """The subject ends the join sequence (after the history, XEP-0045 7.2.15)."""
        subject = S.stanza("message", state.jid, occ.full, "groupchat", new_id())
        setter = view.topic_setter.split("!", 1)[0]
        if view.topic and setter and view.member_by_nick(setter) is not None:
            subject.set("from", state.occupant(setter))
        S.text_child(subject, "subject", view.topic)
        self.send(subject)

    def _history_wanted(self, occ: Occupancy) -> tuple[int, int] | None:
        """How many messages a joining session gets at most, and since when (ms);
        None when it gets none."""
        if self.core.history is None or not self.core.config.history.enabled:
            return None
        wanted = occ.history
        count = self.settings().history
        if wanted.maxstanzas is not None:
            count = min(count, wanted.maxstanzas)
        if wanted.maxchars == 0 or count <= 0:
            return None
        min_time = 0
        now_ms = int(self.core.clock() * 1000)
        if wanted.seconds is not None:
            min_time = now_ms - wanted.seconds * 1000
        if wanted.since is not None:
            min_time = max(min_time, wanted.since + 1)
        return count, max(0, min_time)

    def _history(self, view: Place, state: RoomState, occ: Occupancy) -> list[Element]:
        """The history of a channel homed here, as the session asked for it."""
        history = self.core.history
        asked = self._history_wanted(occ)
        if history is None or asked is None:
            return []
        count, min_time = asked
        try:
            entries = history.query(
                Query(view.folded, limit=count, max_kind=KIND_MESSAGE, min_time=min_time)
            )
        except Exception:
            log.exception("history of %s unavailable", view.name)
            return []
        return self._render_history(state, occ, [(e.packet(), e.time) for e in entries])

    def _ask_home(self, person: XmppPerson, view: Place, state: RoomState, occ: Occupancy) -> bool:
        """The history of a channel homed on another server is asked from its home
        (`_request_history`, as IRC's replay on JOIN does); until it answers (or the
        request times out), what the room sends this session waits behind it.  False
        when the history is here, not wanted, or the home cannot be asked."""
        net = self.core.net
        service = net.history if net is not None else None
        home = service.elsewhere(view.uniform) if service is not None else ""
        asked = self._history_wanted(occ) if home else None
        if service is None or asked is None:
            return False
        count, min_time = asked
        refs = [f"timestamp={min_time - 1}"] if min_time > 0 else ["*"]
        key = (occ.full, state.jid)
        self.waiting[key] = []

        def done(packets: list[Packet] | None) -> None:
            held = self.waiting.pop(key, None)
            if held is None or state.sessions.get(occ.full) is not occ:
                return  # the session left meanwhile (what waited went then)
            current = self.view(state.channel)
            shown: set[str] = set()
            if packets and current is not None:
                items = [(p, time_of(p)) for p in packets]
                shown = {p.get("_id") for p in packets}
                for message in self._render_history(state, occ, items):
                    self.send(message)
            if current is not None:
                self._subject(current, state, occ)
            for element in held:
                # A line said while the request travelled may be in the history too.
                if _stanza_id(element) not in shown:
                    self.send(element)

        if service.ask(home, view.name, person.uniform, "LATEST", refs, count, KIND_MESSAGE, done):
            return True
        del self.waiting[key]
        return False

    def _render_history(
        self, state: RoomState, occ: Occupancy, items: list[tuple[Packet, int]]
    ) -> list[Element]:
        """Messages (packets and their times, oldest first) as delayed groupchat
        messages (XEP-0203), newest kept first within maxchars."""
        out: list[Element] = []
        budget = occ.history.maxchars
        for packet, stamp in reversed(items):
            body = to_xmpp(packet.body)
            if body is None or not packet.method.startswith("_message_public"):
                continue
            message = S.stanza(
                "message",
                state.occupant(packet.get("_nick")),
                occ.full,
                "groupchat",
                packet.get("_id") or new_id(),
            )
            S.text_child(message, "body", body)
            SubElement(
                message,
                S.qname("delay", S.DELAY),
                {"from": state.jid, "stamp": S.stamp(stamp)},
            )
            if packet.get("_id"):
                SubElement(
                    message, S.qname("stanza-id", S.SID), {"id": packet.get("_id"), "by": state.jid}
                )
            if budget is not None:
                budget -= len(body) + 200  # roughly the stanza around the body
                if budget < 0:
                    break
            out.append(message)
        out.reverse()
        return out

    # -- the renderers (one per method family)

    def _on_echo_enter(self, person: XmppPerson, packet: Packet) -> None:
        self.pending.pop(packet.routing.get("_tag_relay", ""), None)
        folded = casefold(packet.get("_nick_place"))
        state = person.rooms.get(folded)
        if state is None:  # entered for a session that left meanwhile: leave again
            person.request("_request_leave", packet.context or packet.source, {"_reason": ""})
            return
        view = self.view(packet.get("_nick_place"))
        if view is None:
            return
        state.joined = True
        state.channel = view.name
        state.uniform = view.uniform
        person.channels[folded] = view
        for occ in list(state.sessions.values()):
            self._join_sequence(person, state, occ)

    def _on_enter(self, person: XmppPerson, packet: Packet) -> None:
        room = self._room(person, packet)
        if room is None:
            return
        state, view = room
        # The place tells its members before it adds the newcomer: no rank yet.
        route = self.core.router.lookup(packet.relay)
        role = "visitor" if "m" in view.flags else "participant"
        item = Element(S.qname("item", S.MUC_USER), {"affiliation": "none", "role": role})
        real = self._real_jid(route, view)
        if real:
            item.set("jid", real)
        shown: object = route
        if not isinstance(route, Client):
            shown = _Absent(packet.get("_away"))
        for occ in self._joined(state):
            self.send(
                self._presence_of(view, state, occ.full, person, packet.get("_nick"), shown, item)
            )

    def _on_leave(self, person: XmppPerson, packet: Packet) -> None:
        room = self._room(person, packet)
        if room is None:
            return
        state, view = room
        nick = packet.get("_nick")
        if normalize(packet.relay) == normalize(person.uniform):
            return  # our own leave: already answered
        member = view.member(packet.relay)
        for occ in self._joined(state):
            presence = S.stanza("presence", state.occupant(nick), occ.full, "unavailable")
            reason = packet.get("_reason")
            if reason:
                S.text_child(presence, "status", reason)
            x = SubElement(presence, S.qname("x", S.MUC_USER))
            if member is not None:
                item = self._item(view, member, {"role": "none"})
            else:
                item = Element(S.qname("item", S.MUC_USER), {"affiliation": "none", "role": "none"})
            x.append(item)
            self.send(presence)

    def _on_kick(self, person: XmppPerson, packet: Packet) -> None:
        room = self._room(person, packet)
        if room is None:
            return
        state, view = room
        victim_nick = packet.get("_nick_target")
        victim = view.member_by_nick(victim_nick)
        banned = False
        if victim is not None:
            try:
                banned = view.is_banned(victim.subject())
            except Exception:
                banned = view.is_banned(victim.prefix)
        code = "301" if banned else "307"
        affiliation = "outcast" if banned else "none"
        actor = packet.get("_nick")
        reason = packet.get("_reason")
        if casefold(victim_nick) == casefold(person.nick):
            for occ in self._joined(state):
                self.send(
                    self._self_unavailable(
                        person, state, occ.full, ["110", code], "", actor, reason, affiliation
                    )
                )
            person.rooms.pop(view.folded, None)
            person.channels.pop(view.folded, None)
            self._forget_if_idle(person)
            return
        for occ in self._joined(state):
            presence = S.stanza("presence", state.occupant(victim_nick), occ.full, "unavailable")
            x = SubElement(presence, S.qname("x", S.MUC_USER))
            attrs = {"affiliation": affiliation, "role": "none"}
            if victim is not None and self._real_jid(victim.route, view):
                attrs["jid"] = self._real_jid(victim.route, view)
            item = SubElement(x, S.qname("item", S.MUC_USER), attrs)
            if actor:
                SubElement(item, S.qname("actor", S.MUC_USER), {"nick": actor})
            if reason:
                S.text_child(item, "reason", reason, S.MUC_USER)
            SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
            self.send(presence)

    def _on_nick(self, person: XmppPerson, packet: Packet) -> None:
        room = self._room(person, packet)
        if room is None:
            return
        state, view = room
        old, new = packet.get("_nick"), packet.get("_nick_new")
        member = view.member_by_nick(new)
        mine = casefold(new) == casefold(person.nick)
        for occ in self._joined(state):
            gone = S.stanza("presence", state.occupant(old), occ.full, "unavailable")
            x = SubElement(gone, S.qname("x", S.MUC_USER))
            if member is not None:
                x.append(self._item(view, member, {"nick": new}))
            for code in (["110"] if mine else []) + ["303"]:
                SubElement(x, S.qname("status", S.MUC_USER), {"code": code})
            self.send(gone)
            if member is not None:
                codes = ["210"] if mine and person.nick != state.requested else []
                self.send(self._occupant_presence(view, member, state, occ.full, person, codes))

    def _on_message(self, person: XmppPerson, packet: Packet) -> None:
        if packet.method.endswith("_tagmsg"):
            return
        room = self._room(person, packet)
        if room is None:
            return
        state, _view = room
        body = to_xmpp(packet.body)
        if body is None:
            return
        xid, origin = self._message_id(packet)
        psyc_id = packet.get("_id")
        for occ in self._joined(state):
            message = S.stanza(
                "message",
                state.occupant(packet.get("_nick")),
                occ.full,
                "groupchat",
                xid or psyc_id,
            )
            S.text_child(message, "body", body)
            if psyc_id:
                SubElement(message, S.qname("stanza-id", S.SID), {"id": psyc_id, "by": state.jid})
            if origin:
                SubElement(message, S.qname("origin-id", S.SID), {"id": origin})
            self.send(message)

    def _message_id(self, packet: Packet) -> tuple[str, str]:
        """The XMPP id a cast message goes out with: the sender's, when an XMPP user said it."""
        cached = packet.render_cache.get(_XID)
        if cached is None:
            cached = ("", "")
            sender = self.core.router.lookup(packet.relay)
            if isinstance(sender, XmppPerson):
                state = sender.rooms.get(casefold(packet.get("_nick_place")))
                while state is not None and state.sent:
                    pending = self.pending.pop(state.sent.popleft(), None)
                    if pending is not None:
                        cached = (pending.xid, pending.origin)
                        break
            packet.render_cache[_XID] = cached
        xid, origin = cached
        return str(xid), str(origin)

    def _on_private(self, person: XmppPerson, packet: Packet) -> None:
        if packet.method.endswith("_tagmsg"):
            return
        body = to_xmpp(packet.body)
        if body is None:
            return
        sender_nick = packet.get("_nick")
        state = self._pm_room(person, packet)
        if state is None:
            return
        for occ in self._joined(state):
            message = S.stanza(
                "message",
                state.occupant(sender_nick),
                occ.full,
                "chat",
                packet.get("_id") or new_id(),
            )
            S.text_child(message, "body", body)
            SubElement(message, S.qname("x", S.MUC_USER))
            self.send(message)

    def _pm_room(self, person: XmppPerson, packet: Packet) -> RoomState | None:
        """Which room a private message to an XMPP user comes through."""
        sender_nick = packet.get("_nick")
        candidates = [packet.get("_nick_place"), person.pm_rooms.get(casefold(sender_nick), "")]
        sender = self.core.find(sender_nick)
        if sender is not None:
            candidates.extend(view.name for view in sender.channels.values())
        candidates.extend(state.channel for state in person.rooms.values())
        for channel in candidates:
            state = person.rooms.get(casefold(channel)) if channel else None
            if state is not None and state.joined:
                person.pm_rooms[casefold(sender_nick)] = state.channel
                return state
        return None

    def _on_topic(self, person: XmppPerson, packet: Packet) -> None:
        room = self._room(person, packet)
        if room is None:
            return
        state, view = room
        nick = packet.get("_nick")
        sender = state.occupant(nick) if view.member_by_nick(nick) is not None else state.jid
        for occ in self._joined(state):
            message = S.stanza(
                "message", sender, occ.full, "groupchat", packet.get("_id") or new_id()
            )
            S.text_child(message, "subject", packet.get("_topic"))
            self.send(message)

    def _on_mode(self, person: XmppPerson, packet: Packet) -> None:
        room = self._room(person, packet)
        if room is None:
            return
        state, view = room
        parsed = M.parse_channel_modes(packet.get("_mode"), packet.get_list("_list_parameters"))
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
        for occ in self._joined(state):
            for member in changed.values():
                self.send(self._occupant_presence(view, member, state, occ.full, person))
            if config_change:
                notice = S.stanza("message", state.jid, occ.full, "groupchat", new_id())
                x = SubElement(notice, S.qname("x", S.MUC_USER))
                SubElement(x, S.qname("status", S.MUC_USER), {"code": "104"})
                self.send(notice)

    def _on_invite(self, person: XmppPerson, packet: Packet) -> None:
        channel = packet.get("_nick_place")
        room = J.room_jid(channel, self.domain)
        message = S.stanza("message", room, person.bare, "normal", new_id())
        x = SubElement(message, S.qname("x", S.MUC_USER))
        inviter = packet.get("_nick")
        invite = SubElement(x, S.qname("invite", S.MUC_USER), {"from": f"{room}/{inviter}"})
        S.text_child(invite, "reason", f"{inviter} invites you to {channel}", S.MUC_USER)
        SubElement(message, S.qname("x", S.CONFERENCE), {"jid": room})
        self.send(message)

    def _on_error(self, person: XmppPerson, packet: Packet) -> None:
        pending = self.pending.pop(packet.routing.get("_tag_relay", ""), None)
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
                self.send(reply)
            person.rooms.pop(pending.folded, None)
            self._forget_if_idle(person)
        elif pending.kind in ("message", "topic") and state is not None:
            reply = S.stanza("message", state.jid, pending.full, "error", pending.xid)
            reply.append(S.error_element("forbidden", text, by=state.jid))
            self.send(reply)
        elif pending.kind == "admin" and pending.stanza is not None:
            condition = "not-allowed" if "privilege" in packet.method else "bad-request"
            self.send(S.error(pending.stanza, condition, text))


def state_of(person: XmppPerson | None, folded: str) -> RoomState | None:
    return person.rooms.get(folded) if person is not None else None


def _kept(view: Place) -> bool:
    return (
        any(observer.keep_empty(view) for observer in view.observers) if view.observers else False
    )


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


def _stanza_id(element: Element) -> str | None:
    """The XEP-0359 stanza-id of a room message (the PSYC `_id`), None if it has none."""
    node = S.child(element, "stanza-id", S.SID)
    return node.get("id") if node is not None else None


def _history_request(muc: Element | None) -> HistoryRequest:
    request = HistoryRequest()
    node = S.child(muc, "history", S.MUC) if muc is not None else None
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


def _error_text(method: str) -> str:
    words = method.removeprefix("_error_").replace("_", " ")
    return words[:1].upper() + words[1:]


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


_DELIVERY = Dispatch(
    {
        "_echo_place_enter": Gateway._on_echo_enter,
        "_notice_place_enter": Gateway._on_enter,
        "_notice_place_leave": Gateway._on_leave,
        "_notice_place_leave_kick": Gateway._on_kick,
        "_notice_place_nick": Gateway._on_nick,
        "_notice_place_topic": Gateway._on_topic,
        "_notice_place_mode": Gateway._on_mode,
        "_notice_place_invite": Gateway._on_invite,
        "_message_public": Gateway._on_message,
        "_message_private": Gateway._on_private,
        "_error": Gateway._on_error,
    }
)


class _Absent:
    """Stands for a newcomer we cannot look up (a remote person): only its away text."""

    def __init__(self, away: str) -> None:
        self.away = away


class _Service:
    """`psyc://SERVER/$xmpp`: the gateway as a service (bridges set topics and ranks)."""

    def __init__(self, core: IRCServer) -> None:
        self.uniform = f"psyc://{core.name}/$xmpp"

    def receive(self, packet: Packet) -> None:
        if packet.method.startswith("_error"):
            log.info("a bridged channel refused %s: %s", packet.get("_method_relay"), packet.method)


class _IrcPresence(PersonObserver):
    """IRC users' AWAY shows as their MUC presence."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def away_changed(self, client: Client) -> None:
        self.gateway.presence_changed(client)
