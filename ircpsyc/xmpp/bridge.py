"""Relay mode: an IRC channel linked to an existing MUC on another XMPP server.

`[[xmpp.bridge]] channel = "#chan", room = "room@conference.example"`.  Each
member of the channel (IRC user, or XMPP user of our own rooms) appears in the
remote room as an occupant of its own, a *puppet* with the JID
`nick@DOMAIN/irc` and the member's nick, so everything it sends is `from` the
component's domain.  The occupants of the remote room appear in the channel
as `RemoteOccupant` members with valid IRC nicks.

The bridge is a place observer of the channel (so the channel's home must be
this server): joins, parts, nick changes, messages and topics of members are
played by their puppets.  What the remote room says reaches every puppet; one
of them, the *listener*, is the one whose copy is read.  When the last member
leaves, the last puppet leaves, and the remote occupants leave the channel
with it; the next join starts over.  The room's subject becomes the topic and
its moderators get +o (owners +q), set by the gateway as a service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ircpsyc.channels.place import PlaceObserver, service_request
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold, normalize
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.nicks import irc_nick, unique_nick
from ircpsyc.xmpp.person import RemoteOccupant, away_text
from ircpsyc.xmpp.text import to_irc, to_xmpp

if TYPE_CHECKING:
    from ircpsyc.channels.place import Place, PlaceView
    from ircpsyc.xmpp.host import Core
    from ircpsyc.xmpp.state import Host

log = logging.getLogger(__name__)

PUPPET_RESOURCE = "irc"
NICK_ATTEMPTS = 4  # tries with another MUC nick after a conflict
QUEUE_MAX = 50  # lines kept for a puppet that is still joining


@dataclass(slots=True)
class Puppet:
    """A channel member in the remote room."""

    owner: str  # the member's uniform
    nick: str  # its IRC nick
    jid: str  # our full JID for it
    muc_nick: str
    joined: bool = False
    attempts: int = 0
    queue: list[Element] = field(default_factory=list)


class Bridge(PlaceObserver):
    """One channel <-> one remote MUC room (see the module docstring)."""

    def __init__(self, gateway: Host, channel: str, room: str) -> None:
        self.gateway = gateway
        self.channel = channel
        self.folded = casefold(channel)
        parsed = J.JID.parse(room)
        self.room = parsed.bare
        self.puppets: dict[str, Puppet] = {}  # normalized member uniform -> puppet
        self.by_jid: dict[str, Puppet] = {}
        self.by_muc_nick: dict[str, Puppet] = {}
        self.remotes: dict[str, RemoteOccupant] = {}  # MUC nick -> occupant
        self.remote_keys: set[str] = set()  # their normalized uniforms
        self.listener: Puppet | None = None
        self.generation = 0
        self.synced = False
        gateway.core.places.observers.append(self)

    # -- helpers

    @property
    def core(self) -> Core:
        return self.gateway.core

    def view(self) -> PlaceView | None:
        return self.gateway.view(self.channel)

    def _send(self, element: Element) -> None:
        if self.gateway.up:
            self.gateway.send(element)

    def owns(self, sender: J.JID, to: J.JID) -> bool:
        return sender.bare == self.room

    def _remote_uniforms(self) -> set[str]:
        return self.remote_keys

    # -- the link

    def link_up(self) -> None:
        """(Re)join every puppet; occupants not seen again are dropped once we are back in."""
        self.generation += 1
        self.synced = False
        self.listener = None
        for puppet in self.puppets.values():
            puppet.joined = False
        view = self.view()
        if view is not None:
            remotes = self._remote_uniforms()
            for member in list(view.members.values()):
                key = normalize(member.uniform)
                if key not in remotes and key not in self.puppets:
                    self._add_puppet(member.uniform, member.nick, join=False)
        for puppet in list(self.puppets.values()):
            self._join(puppet)

    def link_down(self) -> None:
        for puppet in self.puppets.values():
            puppet.joined = False

    def shutdown(self) -> None:
        for puppet in list(self.puppets.values()):
            self._send(
                S.stanza("presence", puppet.jid, f"{self.room}/{puppet.muc_nick}", "unavailable")
            )

    def drop_remotes(self, reason: str) -> None:
        for remote in list(self.remotes.values()):
            self._remote_leaves(remote, reason)
        self.listener = None
        for puppet in self.puppets.values():
            puppet.joined = False

    # -- puppets

    def _add_puppet(self, owner: str, nick: str, join: bool = True) -> Puppet:
        local = J.escape(nick).lower()
        resource = PUPPET_RESOURCE
        number = 1
        while f"{local}@{self.gateway.domain}/{resource}" in self.by_jid:
            number += 1
            resource = f"{PUPPET_RESOURCE}{number}"
        puppet = Puppet(owner, nick, f"{local}@{self.gateway.domain}/{resource}", nick)
        self.puppets[normalize(owner)] = puppet
        self.by_jid[puppet.jid] = puppet
        self.by_muc_nick[puppet.muc_nick] = puppet
        if join:
            self._join(puppet)
        return puppet

    def _join(self, puppet: Puppet) -> None:
        if self.listener is None:
            self.listener = puppet
        presence = S.stanza("presence", puppet.jid, f"{self.room}/{puppet.muc_nick}")
        x = SubElement(presence, S.qname("x", S.MUC))
        SubElement(x, S.qname("history", S.MUC), {"maxstanzas": "0"})
        self._send(presence)

    def _drop_puppet(self, puppet: Puppet, leave: bool, status: str = "") -> None:
        self.puppets.pop(normalize(puppet.owner), None)
        self.by_jid.pop(puppet.jid, None)
        if self.by_muc_nick.get(puppet.muc_nick) is puppet:
            del self.by_muc_nick[puppet.muc_nick]
        if leave:
            presence = S.stanza(
                "presence", puppet.jid, f"{self.room}/{puppet.muc_nick}", "unavailable"
            )
            if status:
                S.text_child(presence, "status", status)
            self._send(presence)
        if self.listener is puppet:
            self.listener = next((p for p in self.puppets.values() if p.joined), None)
            if self.listener is None:
                self.listener = next(iter(self.puppets.values()), None)
        if not self.puppets:
            for remote in list(self.remotes.values()):
                self._remote_leaves(remote, "Nobody from IRC is in the room")

    def _puppet_says(self, puppet: Puppet, element: Element) -> None:
        if puppet.joined:
            self._send(element)
        elif len(puppet.queue) < QUEUE_MAX:
            puppet.queue.append(element)

    # -- what the channel does (place observer)

    def rename_refusal(self, place: Place, new_name: str, request: Packet) -> tuple[str, str]:
        """A bridged channel keeps the name its configuration gives (case aside)."""
        if place.folded == self.folded and casefold(new_name) != self.folded:
            return V.ERROR_PLACE_RENAME_FORBIDDEN, f"{self.channel} is bridged to {self.room}"
        return "", ""

    def place_cast(self, place: Place, packet: Packet) -> None:
        if place.folded != self.folded:
            return
        try:
            self._cast(place, packet)
        except Exception:
            log.exception("bridge %s: error relaying %s", self.channel, packet.method)

    def _cast(self, place: Place, packet: Packet) -> None:
        method = packet.method
        relay = normalize(packet.relay)
        if relay in self._remote_uniforms() or relay == normalize(self.gateway.service.uniform):
            return
        if method.startswith(V.NOTICE_PLACE_ENTER):
            if relay not in self.puppets:
                self._add_puppet(packet.relay, packet.get(V.NICK))
        elif method.startswith(V.NOTICE_PLACE_LEAVE_KICK):
            victim = packet.get(V.NICK_TARGET)
            remote = next(
                (r for r in self.remotes.values() if casefold(r.nick) == casefold(victim)), None
            )
            if remote is not None:
                remote.entered = False
                remote.channels.pop(self.folded, None)
                return
            member = place.member_by_nick(victim)
            puppet = self.puppets.get(normalize(member.uniform)) if member is not None else None
            if puppet is not None:
                self._drop_puppet(
                    puppet, True, f"Kicked by {packet.get(V.NICK)}: {packet.get(V.REASON)}"
                )
        elif method.startswith(V.NOTICE_PLACE_LEAVE):
            puppet = self.puppets.get(relay)
            if puppet is not None:
                self._drop_puppet(puppet, True, packet.get(V.REASON))
        elif method.startswith(V.NOTICE_PLACE_NICK):
            puppet = self.puppets.pop(relay, None)
            if puppet is None:
                return
            new = packet.get(V.NICK_NEW)
            member = place.member_by_nick(new)
            puppet.owner = member.uniform if member is not None else puppet.owner
            puppet.nick = new
            self.puppets[normalize(puppet.owner)] = puppet
            if self.by_muc_nick.get(puppet.muc_nick) is puppet:
                del self.by_muc_nick[puppet.muc_nick]
            puppet.muc_nick = new
            puppet.attempts = 0
            self.by_muc_nick[new] = puppet
            self._send(S.stanza("presence", puppet.jid, f"{self.room}/{new}"))
        elif method.startswith(V.MESSAGE_PUBLIC):
            if method.endswith(V.TAGMSG_SUFFIX) or packet.get(V.STATUSMSG):
                return
            puppet = self.puppets.get(relay)
            body = to_xmpp(packet.body)
            if puppet is None or body is None:
                return
            message = S.stanza(
                "message", puppet.jid, self.room, "groupchat", packet.get(V.ID) or new_id()
            )
            S.text_child(message, "body", body)
            self._puppet_says(puppet, message)
        elif method.startswith(V.NOTICE_PLACE_TOPIC):
            puppet = self.puppets.get(relay)
            if puppet is not None:
                message = S.stanza("message", puppet.jid, self.room, "groupchat", new_id())
                S.text_child(message, "subject", packet.get(V.TOPIC))
                self._puppet_says(puppet, message)

    # -- what the remote room says

    def handle(self, kind: str, element: Element, sender: J.JID, to: J.JID) -> None:
        puppet = self.by_jid.get(str(to))
        if kind == "iq":
            if element.get("type") == "get" and S.child(element, "ping", S.PING) is not None:
                self._send(S.iq_result(element))
            elif element.get("type") in ("get", "set"):
                self._send(S.error(element, "service-unavailable"))
            return
        if puppet is None:
            return
        if kind == "presence":
            self._presence(puppet, element, sender)
        elif kind == "message":
            self._message(puppet, element, sender)

    def _presence(self, puppet: Puppet, element: Element, sender: J.JID) -> None:
        nick = sender.resource
        type_ = element.get("type", "")
        x = S.child(element, "x", S.MUC_USER)
        codes = (
            {node.get("code", "") for node in x if S.local_name(node) == "status"}
            if x is not None
            else set()
        )
        item = S.child(x, "item", S.MUC_USER) if x is not None else None
        if type_ == "error":
            if nick == puppet.muc_nick or not puppet.joined:
                self._join_failed(puppet, element)
            return
        if "110" in codes or (nick == puppet.muc_nick and puppet is not self.listener):
            self._self_presence(puppet, type_, codes, item, nick)
            return
        if puppet is not self.listener or nick in self.by_muc_nick or not nick:
            return
        if type_ == "unavailable":
            remote = self.remotes.get(nick)
            if remote is None:
                return
            if "303" in codes and item is not None and item.get("nick"):
                self._remote_renamed(remote, item.get("nick", ""))
                return
            reason = S.child_text(element, "status") or ""
            if item is not None:
                reason = S.child_text(item, "reason", S.MUC_USER) or reason
            self._remote_leaves(remote, reason)
        elif not type_:
            self._remote_present(nick, element, item)

    def _self_presence(
        self, puppet: Puppet, type_: str, codes: set[str], item: Element | None, nick: str
    ) -> None:
        if type_ == "unavailable":
            if "303" in codes and item is not None and item.get("nick"):
                if self.by_muc_nick.get(puppet.muc_nick) is puppet:
                    del self.by_muc_nick[puppet.muc_nick]
                puppet.muc_nick = item.get("nick", "")
                self.by_muc_nick[puppet.muc_nick] = puppet
                return
            log.info("bridge %s: %s was removed from %s", self.channel, puppet.nick, self.room)
            self._drop_puppet(puppet, False)
            return
        if type_:
            return
        if nick != puppet.muc_nick:  # the room altered the nick (210)
            if self.by_muc_nick.get(puppet.muc_nick) is puppet:
                del self.by_muc_nick[puppet.muc_nick]
            puppet.muc_nick = nick
            self.by_muc_nick[nick] = puppet
        if not puppet.joined:
            puppet.joined = True
            queued, puppet.queue = puppet.queue, []
            for element in queued:
                self._send(element)
        if puppet is self.listener and not self.synced:
            self.synced = True
            for remote in list(self.remotes.values()):
                if remote.seen_at < self.generation:
                    self._remote_leaves(remote, "Left while the bridge was away")

    def _join_failed(self, puppet: Puppet, element: Element) -> None:
        error = S.child(element, "error")
        condition = ""
        if error is not None:
            condition = next(
                (
                    S.local_name(n)
                    for n in error
                    if S.namespace(n) == S.STANZAS and S.local_name(n) != "text"
                ),
                "",
            )
        if condition == "conflict" and puppet.attempts < NICK_ATTEMPTS:
            puppet.attempts += 1
            if self.by_muc_nick.get(puppet.muc_nick) is puppet:
                del self.by_muc_nick[puppet.muc_nick]
            suffix = "[irc]" if puppet.attempts == 1 else f"[irc{puppet.attempts}]"
            puppet.muc_nick = puppet.nick + suffix
            self.by_muc_nick[puppet.muc_nick] = puppet
            self._join(puppet)
            return
        log.warning(
            "bridge %s: %s cannot join %s (%s)", self.channel, puppet.nick, self.room, condition
        )
        self._drop_puppet(puppet, False)

    # -- remote occupants

    def _remote_present(self, nick: str, element: Element, item: Element | None) -> None:
        remote = self.remotes.get(nick)
        real = J.parse(item.get("jid", "")) if item is not None else None
        if remote is None:
            gateway = self.gateway
            wanted = irc_nick(nick, gateway.nicklen())
            given = unique_nick(wanted, gateway.nicklen(), gateway.nick_taken)
            host = real.domain if real is not None else J.JID.parse(self.room).domain
            user = irc_nick(real.local if real is not None and real.local else nick, 10).lower()
            remote = RemoteOccupant(
                self, given, nick, user, host, real.bare if real is not None else ""
            )
            self.remotes[nick] = remote
            self.remote_keys.add(normalize(remote.uniform))
            gateway.add_user(remote)
        remote.seen_at = self.generation
        show = S.child_text(element, "show") or ""
        status = S.child_text(element, "status") or ""
        away = away_text(show, status)
        if away != remote.away:
            remote.away = away
            if remote.entered:
                self.core.persons.gateway_away(remote)
        if item is not None:
            remote.role = item.get("role", "participant")
            remote.affiliation = item.get("affiliation", "none")
        if not remote.entered:
            vars = remote.enter_vars()
            vars[V.NICK_PLACE] = self.channel
            vars[V.IP] = "0.0.0.0"
            self.core.router.send(
                Packet(
                    V.REQUEST_ENTER,
                    {
                        V.SOURCE: remote.uniform,
                        V.TARGET: self.gateway.place_uniform(self.channel),
                    },
                    {V.NICK: remote.nick, **vars},
                )
            )
        else:
            self._sync_ranks(remote)

    def _sync_ranks(self, remote: RemoteOccupant) -> None:
        view = self.view()
        member = view.member(remote.uniform) if view is not None else None
        if view is None or member is None:
            return
        wanted = ""
        if remote.affiliation == "owner":
            wanted = "q"
        elif remote.affiliation == "admin" or remote.role == "moderator":
            wanted = "o"
        changes = ""
        params: list[str] = []
        for letter in "qo":
            has = letter in member.modes
            if has != (letter == wanted):
                changes += ("+" if not has else "-") + letter
                params.append(remote.nick)
        if changes:
            self.core.router.send(
                service_request(
                    self.gateway.service.uniform,
                    view.uniform,
                    V.REQUEST_SET_MODE,
                    {V.MODE: changes, V.LIST_PARAMETERS: params, V.NICK_PLACE: view.name},
                    self._service_prefix(),
                )
            )

    def _service_prefix(self) -> str:
        return f"{self.gateway.domain}!xmpp@{self.gateway.domain}"

    def _remote_renamed(self, remote: RemoteOccupant, muc_nick: str) -> None:
        del self.remotes[remote.muc_nick]
        remote.muc_nick = muc_nick
        self.remotes[muc_nick] = remote
        wanted = irc_nick(muc_nick, self.gateway.nicklen())
        if casefold(wanted) == casefold(remote.nick):
            return
        new = unique_nick(
            wanted, self.gateway.nicklen(), lambda n: self.gateway.nick_taken(n, remote)
        )
        self.remote_keys.discard(normalize(remote.uniform))
        self.gateway.rename_user(remote, new)
        self.remote_keys.add(normalize(remote.uniform))

    def _remote_leaves(self, remote: RemoteOccupant, reason: str) -> None:
        self.remotes.pop(remote.muc_nick, None)
        self.remote_keys.discard(normalize(remote.uniform))
        if remote.entered:
            remote.entered = False
            remote.request(
                V.REQUEST_LEAVE, self.gateway.place_uniform(self.channel), {V.REASON: reason}
            )
        remote.channels.clear()
        self.gateway.drop_user(remote)

    def _message(self, puppet: Puppet, element: Element, sender: J.JID) -> None:
        type_ = element.get("type", "normal")
        nick = sender.resource
        if type_ == "error" or not nick or nick in self.by_muc_nick:
            return
        body = S.child_text(element, "body")
        remote = self.remotes.get(nick)
        if type_ == "groupchat":
            if puppet is not self.listener or S.child(element, "delay", S.DELAY) is not None:
                return
            subject = S.child_text(element, "subject")
            if subject is not None and body is None:
                self._subject(remote, nick, subject)
            elif body and remote is not None and remote.entered:
                uniform = self.gateway.place_uniform(self.channel)
                for text in to_irc(body):
                    self.core.router.send(
                        Packet(
                            V.MESSAGE_PUBLIC,
                            {V.SOURCE: remote.uniform, V.TARGET: uniform},
                            {
                                V.NICK: remote.nick,
                                V.PREFIX: remote.prefix,
                                V.NICK_PLACE: self.channel,
                                V.TIME: str(int(self.core.clock() * 1000)),
                            },
                            text,
                        )
                    )
            return
        if body and remote is not None:
            target = self.core.router.lookup(puppet.owner)
            if target is None:
                return
            for text in to_irc(body):
                self.core.router.send(
                    Packet(
                        V.MESSAGE_PRIVATE,
                        {V.SOURCE: remote.uniform, V.TARGET: puppet.owner},
                        {
                            V.NICK: remote.nick,
                            V.PREFIX: remote.prefix,
                            V.NICK_TARGET: puppet.nick,
                            V.ID: new_id(),
                            V.TIME: str(int(self.core.clock() * 1000)),
                        },
                        text,
                    )
                )

    def _subject(self, remote: RemoteOccupant | None, nick: str, subject: str) -> None:
        view = self.view()
        topic = " ".join(subject.split("\n"))
        if view is None or view.topic == topic:
            return
        name = remote.nick if remote is not None else nick
        prefix = remote.prefix if remote is not None else self._service_prefix()
        self.core.router.send(
            service_request(
                self.gateway.service.uniform,
                view.uniform,
                V.REQUEST_SET_TOPIC,
                {V.TOPIC: topic, V.NICK_PLACE: view.name, V.NICK: name},
                prefix,
            )
        )

    # -- what the channel sends a remote occupant

    def deliver(self, remote: RemoteOccupant, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.ECHO_PLACE_ENTER):
            remote.entered = True
            view = self.view()
            if view is not None:
                remote.enter_channel(self.folded, view)
            self._sync_ranks(remote)
        elif method.startswith(V.ERROR_PLACE_ENTER):
            remote.entered = False
        elif method.startswith(V.MESSAGE_PRIVATE) and not method.endswith(V.TAGMSG_SUFFIX):
            body = to_xmpp(packet.body)
            puppet = self.puppets.get(normalize(packet.source))
            if puppet is None or not puppet.joined:
                if not method.endswith(V.NOTICE):
                    self.core.router.send(
                        Packet(
                            V.ERROR_UNKNOWN_NAME_USER,
                            {V.SOURCE: remote.uniform, V.TARGET: packet.source},
                            {V.NICK_TARGET: remote.nick, V.UNIFORM: remote.uniform},
                        )
                    )
                return
            if body is None:
                return
            message = S.stanza(
                "message",
                puppet.jid,
                f"{self.room}/{remote.muc_nick}",
                "chat",
                packet.get(V.ID) or new_id(),
            )
            S.text_child(message, "body", body)
            SubElement(message, S.qname("x", S.MUC_USER))
            self._send(message)
