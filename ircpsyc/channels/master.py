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
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ircpsyc.channels import modes as M
from ircpsyc.channels.place import Member, Place, PlaceObserver, PlaceRegistry, service_request
from ircpsyc.channels.replica import (
    _column,
    _int,
    has_state,
    members_from,
    netburp_id,
    place_state,
)
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.router import RemoteEntity, Router
from ircpsyc.psyc_backend.uniform import casefold, normalize, root, unescape_place

if TYPE_CHECKING:
    from ircpsyc.psyc_backend.network import Network

log = logging.getLogger(__name__)

MAX_DEPARTED = 256  # recent departures remembered per place
MAX_SPLIT_MEMORY = 4096  # netburped members remembered per place


def _host(uniform: str) -> str:
    from ircpsyc.psyc_backend.network import host_of

    return host_of(uniform)


class PlaceMasters(PlaceObserver):
    """Buffers, resyncs, netsplits and netjoins of the places homed here."""

    def __init__(
        self,
        network: Network,
        router: Router,
        registry: PlaceRegistry,
        config: Callable[[], Any],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.network = network
        self.router = router
        self.registry = registry
        self.config = config
        self.wall_clock = wall_clock
        self.me = network.me
        self.service = f"psyc://{self.me}/$netjoin"
        self.buffers: dict[str, deque[Packet]] = {}
        self.departed: dict[str, dict[str, int]] = {}
        self.split_memory: dict[str, dict[str, str]] = {}
        self.adopted: set[str] = set()
        self.replayed = 0
        self.states_sent = 0
        registry.observers.append(self)
        network.decorate = self.decorate
        network.listeners.append(self)

    def _place(self, uniform: str) -> Place | None:
        entity = self.router.lookup(uniform)
        if isinstance(entity, Place) and self.registry.is_home_of(entity):
            return entity
        return None

    def _buffer_size(self) -> int:
        return int(self.config().network.resync_buffer)

    # -- place observer

    def place_created(self, place: Place) -> None:
        key = normalize(place.uniform)
        place.counter = max(place.counter, int(self.wall_clock() * 1_000_000))
        self.buffers.pop(key, None)
        self.adopted.discard(key)

    def member_entered(self, place: Place, member: Member) -> None:
        if member.route.__class__ is not RemoteEntity:
            return
        key = normalize(place.uniform)
        if key not in self.buffers:
            self.buffers[key] = deque(maxlen=max(1, self._buffer_size()))
        memory = self.split_memory.get(key)
        if memory:
            memory.pop(normalize(member.uniform), None)

    def place_cast(self, place: Place, packet: Packet) -> None:
        key = normalize(place.uniform)
        buffer = self.buffers.get(key)
        if buffer is not None:
            buffer.append(packet)
        method = packet.method
        if method.startswith("_notice_place_leave") and not method.startswith(
            "_notice_place_leave_netburp"
        ):
            if method.startswith("_notice_place_leave_kick"):
                victim = place.by_nick.get(casefold(packet.get("_nick_target")))
                uniform = victim.uniform if victim is not None else ""
            else:
                uniform = packet.routing.get("_source_relay", "")
            if uniform:
                departed = self.departed.setdefault(key, {})
                departed.pop(normalize(uniform), None)
                departed[normalize(uniform)] = place.counter
                if len(departed) > MAX_DEPARTED:
                    del departed[next(iter(departed))]

    # -- echoes carry the state to a server's first member

    def decorate(self, echo: Packet) -> Packet:
        place = self._place(echo.context)
        if place is None:
            return echo
        server = _host(echo.target)
        on_server = 0
        for member in place.members.values():
            route = member.route
            if route.__class__ is RemoteEntity and route.server == server:
                on_server += 1
        if on_server > 1:
            return echo
        vars = dict(echo.vars)
        vars.update(self._state(place))
        vars["_nick_place"] = place.name
        routing = dict(echo.routing)
        routing["_counter"] = str(place.counter)
        return Packet(echo.method, routing, vars, echo.body)

    def _state(self, place: Place) -> dict[str, Value]:
        key = normalize(place.uniform)
        departed = self.departed.get(key, {})
        return place_state(place, departed.items())

    def _send_state(self, place: Place, server: str) -> None:
        self.states_sent += 1
        self.router.send(
            Packet(
                "_status_place_state",
                {
                    "_context": place.uniform,
                    "_target": root(server),
                    "_counter": str(place.counter),
                },
                self._state(place),
            )
        )

    # -- requests from other servers

    def request(self, packet: Packet) -> bool:
        """`_request_context_*` from a server root to a place here (True: handled)."""
        method = packet.method
        if method.startswith("_request_context_resync"):
            self._resync(packet)
            return True
        if method.startswith("_request_context_netjoin"):
            self._netjoin(packet)
            return True
        return False

    def _resync(self, packet: Packet) -> None:
        server = _host(packet.source)
        place = self._place(packet.target)
        if place is None:
            self.router.send(
                Packet(
                    "_status_place_state",
                    {"_context": packet.target, "_target": root(server)},
                    {"_flag_gone": "1"},
                )
            )
            return
        since = _int(packet.get("_counter"), -1)
        if since >= place.counter:
            return  # up to date
        buffer = self.buffers.get(normalize(place.uniform))
        if since >= 0 and buffer:
            first = _int(buffer[0].routing.get("_counter", ""), 0)
            if first <= since + 1:
                for cast in buffer:
                    if _int(cast.routing.get("_counter", ""), 0) > since:
                        self.replayed += 1
                        self.router.send(cast.copy(_target=root(server)))
                return
        self._send_state(place, server)

    def _netjoin(self, packet: Packet) -> None:
        server = _host(packet.source)
        target = packet.target
        place = self._place(target)
        fresh = False
        if place is None:
            cut = target.find("/@")
            if cut < 0 or _host(target) != self.me:
                return
            name = "#" + unescape_place(target[cut + 2 :])
            display = packet.get("_nick_place")
            place = self.registry.create(display if casefold(display) == casefold(name) else name)
            fresh = True
        key = normalize(place.uniform)
        if fresh and has_state(packet):
            self.adopted.add(key)
            self._adopt(place, packet)
        memory = self.split_memory.get(key, {})
        ranks: list[M.ModeChange] = []
        rows = members_from(packet)
        ips = _column(packet, "_list_members_ips", len(rows))
        cloaks = _column(packet, "_list_members_cloaks", len(rows))
        real_hosts = _column(packet, "_list_members_hosts_real", len(rows))
        for index, (uniform, nick, user, host, realname, account, modes) in enumerate(rows):
            member_key = normalize(uniform)
            if _host(uniform) != server or member_key in place.members:
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
                ips[index],
                cloaks[index],
                real_hosts[index],
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
        self._send_state(place, server)
        if not place.members and place.on_empty is not None:
            place.on_empty(place)

    def _enter_event(self, place: Place, member: Member) -> Packet:
        vars: dict[str, Value] = {
            "_nick_place": place.name,
            "_id": new_id(),
            "_time": str(int(place.clock() * 1000)),
            "_prefix": member.prefix,
            "_nick": member.nick,
            "_realname": member.realname,
        }
        if member.account:
            vars["_account"] = member.account
        return Packet("_notice_place_enter", {"_source_relay": member.uniform}, vars)

    def _service_mode(self, place: Place, modestr: str, params: list[str]) -> None:
        self.router.send(
            service_request(
                self.service,
                place.uniform,
                "_request_set_mode",
                {"_mode": modestr, "_list_parameters": params},
                self.me,
            )
        )

    def _adopt(self, place: Place, packet: Packet) -> None:
        """A place this server lost (it restarted) takes the state a replica kept."""
        place.topic = packet.get("_topic")
        place.topic_setter = packet.get("_topic_setter")
        place.topic_time = _int(packet.get("_topic_time"))
        place.created = _int(packet.get("_time_created"), place.created)
        wanted = M.parse_channel_modes(packet.get("_mode"), packet.get_list("_list_parameters"))
        letters = {c.mode for c in wanted.changes}
        changes = [M.ModeChange(False, f) for f in sorted(place.flags) if f not in letters]
        changes.extend(c for c in wanted.changes if c.mode not in M.RANKS)
        kinds = packet.get_list("_list_masks_modes")
        for index, mask in enumerate(packet.get_list("_list_masks")):
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
                    "_nick_place": place.name,
                    "_id": netburp_id(member.uniform, boot),
                    "_time": str(int(place.clock() * 1000)),
                    "_prefix": member.prefix,
                    "_nick": member.nick,
                    "_reason": reason,
                }
                place.cast(
                    Packet("_notice_place_leave_netburp", {"_source_relay": member.uniform}, vars)
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
            for member_key in [k for k in memory if _host(k) == name]:
                del memory[member_key]

    def snapshot(self) -> dict[str, Any]:
        return {
            "buffers": len(self.buffers),
            "replayed": self.replayed,
            "states_sent": self.states_sent,
            "adopted": len(self.adopted),
        }
