"""The masters of place replication: the network duties of the places homed here.

A place casts one copy per route (`Place.cast`); members on other servers are
`RemoteEntity` routes, so their copies go to the network, one per server.
`PlaceMasters` adds what each place, as the master of its context, owes the
replicas on other servers:

* counters that grow across re-creations of a place (they start at the creation
  time in microseconds), so a replica never mistakes a new place for an old one;
* the full state in the `_echo_place_enter` of the first member of a server, from
  which that server builds its replica;
* a bounded buffer of recent casts: `_request_context_resync` from a replica that
  saw a gap is answered by replaying what it missed, or with the full state
  (`_status_place_state`) when the gap is older than the buffer;
* netsplits: when a server is lost, its members leave with
  `_notice_place_leave_netburp` (the same `_id` everywhere, so a client shows one
  QUIT per person); their ranks are remembered;
* `_request_context_netjoin`: a server takes its members back after a split (they
  get their remembered ranks), or re-creates a place this server lost when it
  restarted (the place adopts the topic, modes and lists the replica kept).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ircpsyc.channels import modes as M
from ircpsyc.channels.place import (
    Member,
    Place,
    PlaceObserver,
    PlaceRegistry,
    metadata_entries,
    service_request,
)
from ircpsyc.channels.replica import (
    METADATA_COLUMNS,
    has_state,
    members_from,
    netburp_id,
    place_state,
)
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import ContextMaster
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value, number
from ircpsyc.psyc_backend.router import RemoteEntity, Router
from ircpsyc.psyc_backend.uniform import (
    casefold,
    host_of,
    is_place,
    normalize,
    place_name_of,
    root,
    service,
    unescape_place,
)

if TYPE_CHECKING:
    from ircpsyc.config import Config
    from ircpsyc.psyc_backend.network import Network

log = logging.getLogger(__name__)

MAX_DEPARTED = 256  # recent departures remembered per place
MAX_SPLIT_MEMORY = 4096  # netburped members remembered per place


T = TypeVar("T")


def _rekey(table: dict[str, T], old: str, new: str) -> None:
    kept = table.pop(old, None)
    if kept is not None:
        table[new] = kept


class PlaceMasters(PlaceObserver):
    """Buffers, resyncs, netsplits and netjoins of the places homed here."""

    def __init__(
        self,
        network: Network,
        router: Router,
        registry: PlaceRegistry,
        config: Callable[[], Config],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.network = network
        self.router = router
        self.registry = registry
        self.config = config
        self.wall_clock = wall_clock
        self.me = network.me
        self.service = service(self.me, "netjoin")
        # The master side of each place's context that has members elsewhere: the
        # place numbers its casts itself (`Place.cast`), this keeps them for replays.
        self.contexts: dict[str, ContextMaster] = {}
        self.departed: dict[str, dict[str, int]] = {}
        self.split_memory: dict[str, dict[str, str]] = {}
        self.adopted: set[str] = set()
        self.replayed = 0
        self.states_sent = 0
        registry.observers.append(self)
        router.on_outgoing(V.ECHO_PLACE_ENTER, self.decorate)
        network.listeners.append(self)

    def _place(self, uniform: str) -> Place | None:
        entity = self.router.lookup(uniform)
        if isinstance(entity, Place) and self.registry.is_home_of(entity):
            return entity
        return self.registry.renamed_place(uniform)  # asked by a replica that missed it

    def _buffer_size(self) -> int:
        return int(self.config().network.resync_buffer)

    # -- place observer

    def place_created(self, place: Place) -> None:
        key = normalize(place.uniform)
        place.counter = max(place.counter, int(self.wall_clock() * 1_000_000))
        self.contexts.pop(key, None)
        self.adopted.discard(key)

    def member_entered(self, place: Place, member: Member) -> None:
        if member.route.__class__ is not RemoteEntity:
            return
        key = normalize(place.uniform)
        if key not in self.contexts:
            self.contexts[key] = ContextMaster(place.counter, max(1, self._buffer_size()))
        memory = self.split_memory.get(key)
        if memory:
            memory.pop(normalize(member.uniform), None)

    def place_cast(self, place: Place, packet: Packet) -> None:
        # On every channel line: nothing to do for places with no member elsewhere.
        contexts = self.contexts
        key = normalize(place.uniform) if contexts else ""
        context = contexts.get(key) if contexts else None
        if context is not None:
            context.counter = place.counter
            context.keep(packet)
        method = packet.method
        if method.startswith(V.NOTICE_PLACE_LEAVE) and not method.startswith(
            V.NOTICE_PLACE_LEAVE_NETBURP
        ):
            key = key or normalize(place.uniform)
            if method.startswith(V.NOTICE_PLACE_LEAVE_KICK):
                victim = place.by_nick.get(casefold(packet.get(V.NICK_TARGET)))
                uniform = victim.uniform if victim is not None else ""
            else:
                uniform = packet.routing.get(V.SOURCE_RELAY, "")
            if uniform:
                departed = self.departed.setdefault(key, {})
                departed.pop(normalize(uniform), None)
                departed[normalize(uniform)] = place.counter
                if len(departed) > MAX_DEPARTED:
                    del departed[next(iter(departed))]

    def place_renamed(self, place: Place, old_name: str, old_uniform: str) -> None:
        old, new = normalize(old_uniform), normalize(place.uniform)
        if old == new:
            return
        _rekey(self.contexts, old, new)
        _rekey(self.departed, old, new)
        _rekey(self.split_memory, old, new)
        if old in self.adopted:
            self.adopted.discard(old)
            self.adopted.add(new)

    # -- echoes carry the state to a server's first member

    def decorate(self, echo: Packet) -> Packet:
        place = self._place(echo.context)
        if place is None:
            return echo
        server = host_of(echo.target)
        on_server = 0
        for member in place.members.values():
            route = member.route
            if route.__class__ is RemoteEntity and route.server == server:
                on_server += 1
        if on_server > 1:
            return echo
        vars = dict(echo.vars)
        vars.update(self._state(place))
        vars[V.NICK_PLACE] = place.name
        routing = dict(echo.routing)
        routing[V.COUNTER] = str(place.counter)
        return Packet(echo.method, routing, vars, echo.body)

    def _state(self, place: Place) -> dict[str, Value]:
        key = normalize(place.uniform)
        departed = self.departed.get(key, {})
        return place_state(place, departed.items())

    def _send_state(self, place: Place, server: str, asked: str = "") -> None:
        """The whole state to `server`; `asked`: the uniform its replica asked for, when
        that is the place's old one (it missed a RENAME: the state says the new)."""
        self.states_sent += 1
        vars = self._state(place)
        renamed = bool(asked) and normalize(asked) != normalize(place.uniform)
        if renamed:
            vars[V.NICK_PLACE_NEW] = place.name
            vars[V.UNIFORM_PLACE_NEW] = place.uniform
        self.router.send(
            Packet(
                V.STATUS_PLACE_STATE,
                {
                    V.CONTEXT: asked if renamed else place.uniform,
                    V.TARGET: root(server),
                    V.COUNTER: str(place.counter),
                },
                vars,
            )
        )

    # -- requests from other servers

    def request(self, packet: Packet) -> bool:
        """`_request_context_*` from a server root to a place here (True: handled)."""
        method = packet.method
        if method.startswith(V.REQUEST_CONTEXT_RESYNC):
            self._resync(packet)
            return True
        if method.startswith(V.REQUEST_CONTEXT_NETJOIN):
            self._netjoin(packet)
            return True
        return False

    def _resync(self, packet: Packet) -> None:
        server = host_of(packet.source)
        place = self._place(packet.target)
        if place is None:
            self.router.send(
                Packet(
                    V.STATUS_PLACE_STATE,
                    {V.CONTEXT: packet.target, V.TARGET: root(server)},
                    {V.FLAG_GONE: "1"},
                )
            )
            return
        if normalize(place.uniform) != normalize(packet.target):
            self._send_state(place, server, packet.target)  # renamed since: all of it
            return
        since = number(packet.get(V.COUNTER), -1)
        if since >= place.counter:
            return  # up to date
        context = self.contexts.get(normalize(place.uniform))
        casts = context.replay(since) if context is not None else None
        if casts is None:
            self._send_state(place, server)
            return
        for cast in casts:
            self.replayed += 1
            self.router.send(cast.copy(_target=root(server)))

    def _netjoin(self, packet: Packet) -> None:
        server = host_of(packet.source)
        target = packet.target
        place = self._place(target)
        fresh = False
        if place is None:
            if not is_place(target) or host_of(target) != self.me:
                return
            name = "#" + unescape_place(place_name_of(target))
            display = packet.get(V.NICK_PLACE)
            place = self.registry.create(display if casefold(display) == casefold(name) else name)
            fresh = True
        key = normalize(place.uniform)
        if fresh and has_state(packet):
            self.adopted.add(key)
            self._adopt(place, packet)
        memory = self.split_memory.get(key, {})
        ranks: list[M.ModeChange] = []
        rows = members_from(packet)
        # For the bans on addresses and cloaks (`Replicas.want_netjoin`).
        addresses = packet.rows(
            (V.LIST_MEMBERS, V.LIST_MEMBERS_IPS, V.LIST_MEMBERS_CLOAKS, V.LIST_MEMBERS_HOSTS_REAL)
        )
        for index, (uniform, nick, user, host, realname, account, modes) in enumerate(rows):
            member_key = normalize(uniform)
            if host_of(uniform) != server or member_key in place.members:
                continue  # a server speaks for its own users only
            if casefold(nick) in place.by_nick:
                continue  # somebody else has that nick here now
            route = self.router.lookup(uniform)
            if route is None:
                continue
            member = Member(
                uniform,
                route,
                nick,
                user,
                host,
                realname,
                account,
                place.clock(),
                *addresses[index][1:],
            )
            place.cast(self._enter_event(place, member))
            place.members[member_key] = member
            place.by_nick[casefold(nick)] = member
            restored = modes if key in self.adopted else memory.pop(member_key, "")
            ranks.extend(M.ModeChange(True, m, nick) for m in restored if m in M.RANKS)
        if ranks:
            modestr, params = M.render_changes(ranks)
            self._service_mode(place, modestr, params)
        log.info("netjoin of %s from %s: %d members", place.name, server, len(place.members))
        self._send_state(place, server, target)
        if not place.members and place.on_empty is not None:
            place.on_empty(place)

    def _enter_event(self, place: Place, member: Member) -> Packet:
        vars: dict[str, Value] = {
            V.NICK_PLACE: place.name,
            V.ID: new_id(),
            V.TIME: str(int(place.clock() * 1000)),
            V.PREFIX: member.prefix,
            V.NICK: member.nick,
            V.REALNAME: member.realname,
        }
        if member.account:
            vars[V.ACCOUNT] = member.account
        return Packet(V.NOTICE_PLACE_ENTER, {V.SOURCE_RELAY: member.uniform}, vars)

    def _service_mode(self, place: Place, modestr: str, params: list[str]) -> None:
        self.router.send(
            service_request(
                self.service,
                place.uniform,
                V.REQUEST_SET_MODE,
                {V.MODE: modestr, V.LIST_PARAMETERS: params},
                self.me,
            )
        )

    def _adopt(self, place: Place, packet: Packet) -> None:
        """A place this server lost (it restarted) takes the state a replica kept."""
        place.topic = packet.get(V.TOPIC)
        place.topic_setter = packet.get(V.TOPIC_SETTER)
        place.topic_time = number(packet.get(V.TOPIC_TIME))
        place.metadata = metadata_entries(packet.rows(METADATA_COLUMNS))
        place.created = number(packet.get(V.TIME_CREATED), place.created)
        wanted = M.parse_channel_modes(packet.get(V.MODE), packet.get_list(V.LIST_PARAMETERS))
        letters = {c.mode for c in wanted.changes}
        changes = [M.ModeChange(False, f) for f in sorted(place.flags) if f not in letters]
        changes.extend(c for c in wanted.changes if c.mode not in M.RANKS)
        kinds = packet.get_list(V.LIST_MASKS_MODES)
        for index, mask in enumerate(packet.get_list(V.LIST_MASKS)):
            kind = kinds[index] if index < len(kinds) else "b"
            if kind in M.LIST_MODES:
                changes.append(M.ModeChange(True, kind, mask))
        if changes:
            modestr, params = M.render_changes(changes)
            self._service_mode(place, modestr, params)

    # -- servers coming and going (NetworkListener)

    def server_lost(self, name: str, boot: str) -> None:
        reason = f"{self.me} {name}"
        for place in self.registry.homed():
            victims = [
                m
                for m in place.members.values()
                if m.route.__class__ is RemoteEntity and m.route.server == name
            ]
            if not victims:
                continue
            key = normalize(place.uniform)
            memory = self.split_memory.setdefault(key, {})
            for member in victims:
                if member.modes and len(memory) < MAX_SPLIT_MEMORY:
                    memory[normalize(member.uniform)] = member.modes
                place.members.pop(normalize(member.uniform), None)
                if place.by_nick.get(casefold(member.nick)) is member:
                    del place.by_nick[casefold(member.nick)]
            for member in victims:
                vars: dict[str, Value] = {
                    V.NICK_PLACE: place.name,
                    V.ID: netburp_id(member.uniform, boot),
                    V.TIME: str(int(place.clock() * 1000)),
                    V.PREFIX: member.prefix,
                    V.NICK: member.nick,
                    V.REASON: reason,
                }
                place.cast(
                    Packet(V.NOTICE_PLACE_LEAVE_NETBURP, {V.SOURCE_RELAY: member.uniform}, vars)
                )
            log.info("%s: %d members lost with %s", place.name, len(victims), name)
            keep = any(o.keep_empty(place) for o in place.observers)
            if not place.members and place.on_empty is not None and not keep:
                place.on_empty(place)

    def server_reachable(self, name: str, how: str) -> None:
        if how not in ("reboot", "new"):
            return
        # The persons we remember from its last boot are gone for good.
        for memory in self.split_memory.values():
            for member_key in [k for k in memory if host_of(k) == name]:
                del memory[member_key]

    def snapshot(self) -> dict[str, Any]:
        return {
            "buffers": len(self.contexts),
            "replayed": self.replayed,
            "states_sent": self.states_sent,
            "adopted": len(self.adopted),
        }
