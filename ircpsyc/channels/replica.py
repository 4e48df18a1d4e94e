"""Replicas: the local copy of a channel whose home is another server (a context slave).

A server keeps a `Replica` for each remote place that has local members.  It is
created by the `_echo_place_enter` of the first local member (the home adds the
full state to that echo), then follows the casts of the home in `_counter` order:
it fans each one out to its local members (the same packet object to each, as a
place does) and applies it to its state, which NAMES, TOPIC, WHO, LIST and MODE
queries read (a `Replica` holds a `PlaceState` as a `Place` does, and is a
`PlaceView` to them; it decides nothing).  When the last local member
leaves, the replica goes.

Nothing is applied out of order: a cast from the future waits in `pending`
while the replica asks the home to resync from its last counter
(`_request_context_resync`); the home replays what it still has or sends the
whole state (`_status_place_state`), from which the replica shows its users what
changed (JOIN, PART or QUIT, TOPIC, MODE).

Netsplits: when the home stays unreachable past the grace period, the replica is
*orphaned*: members on unreachable servers leave (QUIT with a netsplit reason),
the local members stay.  When the home is back, or when the home made our members
leave while we could not hear it, the replica sends `_request_context_netjoin`
with its local members and its state: the home takes the members back (and, when
it restarted and lost the channel, the topic and modes), answers with the full
state, and everybody sees the members come back.

Federation: a place on a server outside the network (`#psyc://host/@name`) is
replicated the same way; its channel name and the nicks of foreign persons
(`psyc://host/~nick`) are translated for the local users.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ircpsyc.channels import modes as M
from ircpsyc.channels.place import (
    ListEntry,
    Member,
    Members,
    PlaceRegistry,
    PlaceState,
    PlaceView,
    StateHolder,
    metadata_entries,
)
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import ContextSlave, Order, counter_of
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet, Value, columns, number
from ircpsyc.psyc_backend.router import Entity, RemoteEntity, Router
from ircpsyc.psyc_backend.uniform import (
    casefold,
    host_of,
    is_person,
    is_place,
    nick_of,
    normalize,
    place_name_of,
    root,
    unescape_place,
    with_nick,
)

if TYPE_CHECKING:
    from ircpsyc.config import Config
    from ircpsyc.psyc_backend.network import Network

log = logging.getLogger(__name__)

RESYNC_RETRY = 3.0  # seconds before asking the home again
RECHECK_AFTER = 2.0  # seconds after a netjoin before the full state settles membership


def netburp_id(uniform: str, boot: str) -> str:
    """The `_id` of a person's netsplit QUIT: the same on every server and in every
    channel, so each client shows it once."""
    digest = hashlib.sha256(f"{normalize(uniform)}\0{boot}".encode()).hexdigest()
    return "nb" + digest[:20]


def place_state(place: PlaceView, departed: Iterable[tuple[str, int]] = ()) -> dict[str, Value]:
    """Everything a replica needs, as entity variables (lists are parallel).

    `departed` are (uniform, counter) of members who left recently, so a replica
    that missed those casts knows its local member really left."""
    gone = list(departed)
    members = list(place.members.values())
    modes, params = place.mode_string(True)
    entries = [(mode, e) for mode, items in place.lists.items() for e in items]
    return {
        V.NICK_PLACE: place.name,
        V.TIME_CREATED: str(place.created),
        V.TOPIC: place.topic,
        V.TOPIC_SETTER: place.topic_setter,
        V.TOPIC_TIME: str(place.topic_time),
        V.MODE: modes,
        V.LIST_PARAMETERS: params,
        **columns(MEMBER_COLUMNS, [_member_row(m) for m in members]),
        **columns(MASK_COLUMNS, [(e.mask, mode, e.setter, str(e.set_at)) for mode, e in entries]),
        **columns(DEPARTED_COLUMNS, [(uniform, str(counter)) for uniform, counter in gone]),
        **columns(METADATA_COLUMNS, list(place.metadata.items())),
    }


# The tables of a place's state, as parallel `_list_*` columns.
MEMBER_COLUMNS = (
    V.LIST_MEMBERS,
    V.LIST_MEMBERS_NICKS,
    V.LIST_MEMBERS_USERS,
    V.LIST_MEMBERS_HOSTS,
    V.LIST_MEMBERS_REALNAMES,
    V.LIST_MEMBERS_ACCOUNTS,
    V.LIST_MEMBERS_MODES,
)
MASK_COLUMNS = (V.LIST_MASKS, V.LIST_MASKS_MODES, V.LIST_MASKS_SETTERS, V.LIST_MASKS_TIMES)
DEPARTED_COLUMNS = (V.LIST_DEPARTED, V.LIST_DEPARTED_COUNTERS)
METADATA_COLUMNS = (V.LIST_METADATA_KEYS, V.LIST_METADATA_VALUES)


def apply_metadata(metadata: dict[str, str], packet: Packet) -> None:
    """Apply a `_notice_place_metadata` cast to a copy of a place's metadata."""
    if packet.get(V.FLAG_CLEAR) == "1":
        metadata.clear()
    for key in packet.get_list(V.LIST_METADATA_UNSET):
        metadata.pop(key, None)
    metadata.update(metadata_entries(packet.rows(METADATA_COLUMNS)))


def _member_row(m: Member) -> tuple[str, str, str, str, str, str, str]:
    return (m.uniform, m.nick, m.user, m.host, m.realname, m.account, m.modes)


def has_state(packet: Packet) -> bool:
    return V.TIME_CREATED in packet.vars


def _int(text: str, default: int = 0) -> int:
    return number(text, default)


def _real_host(route: object) -> str:
    """The host name behind a local person's cloak, for the home's bans ("" when it
    shows that name, or has none)."""
    real = str(getattr(route, "real_host", "") or "")
    return "" if real in (getattr(route, "host", ""), getattr(route, "ip", "")) else real


def members_from(packet: Packet) -> list[tuple[str, str, str, str, str, str, str]]:
    """(uniform, nick, user, host, realname, account, modes) of a state or netjoin."""
    return packet.rows(MEMBER_COLUMNS)  # type: ignore[return-value]


class Replica(StateHolder):
    """The local copy of a remote place: holds its `PlaceState`, applies its casts."""

    def __init__(self, replicas: Replicas, uniform: str, name: str, home: str) -> None:
        self.state = PlaceState(uniform, name, replicas.clock)
        self.router = replicas.router
        self.clock = replicas.clock
        self.replicas = replicas
        self.home = home
        self.context = ContextSlave()  # the casts of the home, applied in order
        self.local: dict[str, Entity] = {}  # normalized uniform -> local person
        self.orphaned = False
        self.split_since = 0.0  # when the home was lost (wall clock) until the netjoin
        self.asked = -RESYNC_RETRY
        self.asked_for: int | None = -1
        self.recheck_at = 0.0  # when to ask for the full state again (after a netjoin)
        self.recovering_until = 0.0  # until then, states may lack members still netjoining
        self.home_name = name  # the channel's name at its home (differs when federated)
        self.federated = False
        self.home_nicks: dict[str, str] = {}  # federated: folded home nick -> member key

    @property
    def last(self) -> int | None:
        """The counter of the last cast applied; None: no state yet."""
        return self.context.last

    @property
    def pending(self) -> dict[int, Packet]:
        """Casts from the future, waiting for the resync."""
        return self.context.pending

    def persistent(self) -> bool:
        """Only the home knows whether the channel stays when empty."""
        return False

    # -- names (federation)

    def display_nick(self, uniform: str, nick: str) -> str:
        """How a member shows to local users: its nick, or its uniform when foreign."""
        if self.replicas.in_network(uniform) or not is_person(uniform):
            return nick_of(uniform) or nick if self.federated else nick
        return uniform

    def translate(self, packet: Packet) -> Packet:
        """A cast as local users must see it (federated places only)."""
        if not self.federated:
            return packet
        vars = dict(packet.vars)
        vars[V.NICK_PLACE] = self.name
        relay = packet.routing.get(V.SOURCE_RELAY, "")
        if relay and V.NICK in vars:
            home_nick = packet.get(V.NICK)
            nick = self.display_nick(relay, nick_of(relay) or home_nick)
            vars[V.NICK] = nick
            prefix = packet.get(V.PREFIX)
            if "!" in prefix:
                vars[V.PREFIX] = nick + prefix[prefix.index("!") :]
        for name in (V.NICK_TARGET,):
            if name in vars:
                vars[name] = self._home_to_display(packet.get(name))
        if V.NICK_NEW in vars and V.UNIFORM_NEW in vars:
            vars[V.NICK_NEW] = self.display_nick(packet.get(V.UNIFORM_NEW), packet.get(V.NICK_NEW))
        if packet.method.startswith(V.NOTICE_PLACE_MODE):
            parsed = M.parse_channel_modes(packet.get(V.MODE), packet.get_list(V.LIST_PARAMETERS))
            params = [
                self._home_to_display(c.param) if c.mode in M.RANKS else c.param
                for c in parsed.changes
                if c.param is not None
            ]
            vars[V.LIST_PARAMETERS] = params
        out = Packet(packet.method, packet.routing, vars, packet.body)
        return out

    def _home_to_display(self, home_nick: str) -> str:
        key = self.home_nicks.get(casefold(home_nick))
        member = self.members.get(key) if key else None
        return member.nick if member is not None else home_nick

    def _member_for(self, home_nick: str) -> Member | None:
        if self.federated:
            key = self.home_nicks.get(casefold(home_nick))
            return self.members.get(key) if key else None
        return self.by_nick.get(casefold(home_nick))

    # -- membership

    def _add(self, uniform: str, nick: str, user: str, host: str, realname: str, account: str,
             modes: str = "") -> Member:  # fmt: skip
        key = normalize(uniform)
        old = self.members.get(key)
        if old is not None:
            self.by_nick.pop(casefold(old.nick), None)
        route = self.replicas.route(uniform)
        shown = self.display_nick(uniform, nick)
        member = Member(uniform, route, shown, user, host, realname, account, self.clock())
        member.modes = modes
        self.members[key] = member
        self.by_nick[casefold(shown)] = member
        if self.federated:
            self.home_nicks[casefold(nick)] = key
        if route.__class__ is not RemoteEntity:
            self.local[key] = route
        return member

    def _drop(self, member: Member) -> None:
        key = normalize(member.uniform)
        self.members.pop(key, None)
        if self.by_nick.get(casefold(member.nick)) is member:
            del self.by_nick[casefold(member.nick)]
        self.local.pop(key, None)

    # -- casts

    def deliver(self, packet: Packet) -> None:
        """Fan a cast out to the local members (rank-filtered like the home does)."""
        shown = self.translate(packet)
        rank_text = packet.routing.get(V.FILTER_RANK)
        if rank_text is None:
            for route in list(self.local.values()):
                route.receive(shown)
            return
        min_rank = _int(rank_text, M.NO_RANK)
        relay = normalize(packet.routing.get(V.SOURCE_RELAY, ""))
        for key, route in list(self.local.items()):
            member = self.members.get(key)
            if key == relay or (member is not None and member.rank() <= min_rank):
                route.receive(shown)

    def apply(self, packet: Packet) -> None:
        """One cast, in order: show it to the local members, then update the state."""
        method = packet.method
        relay = packet.routing.get(V.SOURCE_RELAY, "")
        if method.startswith(V.NOTICE_PLACE_LEAVE_NETBURP):
            key = normalize(relay)
            if key in self.local and self.replicas.alive(key):
                # The home lost us for a while; our member never left: take it back.
                self.replicas.want_netjoin(self)
                return
        if method.startswith(V.NOTICE_PLACE_RENAME):
            self.replicas.renamed(self, packet)  # before the members render it: NAMES
        self.deliver(packet)
        for observe in self.replicas.observers:  # the away log: mentions of local members
            observe(self, packet)
        if method.startswith(V.NOTICE_PLACE_ENTER):
            nick = packet.get(V.NICK)
            user, host = _user_host(packet.get(V.PREFIX), nick)
            self._add(relay, nick, user, host, packet.get(V.REALNAME), packet.get(V.ACCOUNT))
        elif method.startswith(V.NOTICE_PLACE_LEAVE_KICK):
            victim = self._member_for(packet.get(V.NICK_TARGET))
            if victim is not None:
                self._drop(victim)
        elif method.startswith(V.NOTICE_PLACE_LEAVE):
            member = self.members.get(normalize(relay))
            if member is not None:
                self._drop(member)
        elif method.startswith(V.NOTICE_PLACE_NICK):
            new_nick = packet.get(V.NICK_NEW)
            new_uniform = packet.get(V.UNIFORM_NEW)
            if not new_uniform and is_person(relay) and "/" not in new_nick:
                new_uniform = with_nick(relay, new_nick)  # a person's uniform follows its nick
            self._rename(relay, new_uniform, new_nick)
        elif method.startswith(V.NOTICE_PLACE_TOPIC):
            self.topic = packet.get(V.TOPIC)
            self.topic_setter = packet.get(V.PREFIX)
            self.topic_time = _int(packet.get(V.TIME)) // 1000
        elif method.startswith(V.NOTICE_PLACE_MODE):
            self._apply_modes(packet)
        elif method.startswith(V.NOTICE_PLACE_METADATA):
            apply_metadata(self.metadata, packet)

    def _rename(self, old_uniform: str, new_uniform: str, home_nick: str) -> None:
        member = self.members.pop(normalize(old_uniform), None)
        if member is None:
            return
        if self.by_nick.get(casefold(member.nick)) is member:
            del self.by_nick[casefold(member.nick)]
        route = self.local.pop(normalize(old_uniform), None)
        member.uniform = new_uniform or old_uniform
        member.nick = self.display_nick(member.uniform, home_nick)
        key = normalize(member.uniform)
        self.members[key] = member
        self.by_nick[casefold(member.nick)] = member
        if self.federated:
            self.home_nicks[casefold(home_nick)] = key
        if route is not None:
            self.local[key] = route

    def _apply_modes(self, packet: Packet) -> None:
        parsed = M.parse_channel_modes(packet.get(V.MODE), packet.get_list(V.LIST_PARAMETERS))
        setter = packet.get(V.NICK) or packet.get(V.PREFIX)
        when = _int(packet.get(V.TIME)) // 1000
        for change in parsed.changes:
            mode, adding, param = change.mode, change.adding, change.param
            if mode in M.RANKS:
                member = self._member_for(param or "")
                if member is not None:
                    letters = set(member.modes)
                    if adding:
                        letters.add(mode)
                    else:
                        letters.discard(mode)
                    member.modes = "".join(m for m in M.RANK_ORDER if m in letters)
            elif mode in M.LIST_MODES:
                if param is None:
                    continue
                entries = self.lists.setdefault(mode, [])
                folded = casefold(param)
                existing = [e for e in entries if casefold(e.mask) == folded]
                if adding and not existing:
                    entries.append(ListEntry(param, setter, when))
                elif not adding:
                    for entry in existing:
                        entries.remove(entry)
                self.lists_version += 1
            elif mode == "k":
                self.key = param or "" if adding else ""
            elif mode == "l":
                self.limit = _int(param or "") if adding else 0
            elif mode in M.PARAM_MODES or mode in M.SET_PARAM_MODES:
                if adding and param is not None:
                    self.extra_params[mode] = param
                else:
                    self.extra_params.pop(mode, None)
            elif adding:
                self.flags.add(mode)
            else:
                self.flags.discard(mode)

    # -- full state

    def reset(self, packet: Packet, counter: int, recovering: bool = False) -> None:
        """Replace the state with the home's, and show the local users what changed.

        `recovering`: the answer to our netjoin.  Members of other reachable servers
        missing from it are probably on their way back (their servers netjoin too):
        they stay for now, and a full state a little later settles it."""
        replicas = self.replicas
        old_members = dict(self.members)
        old_topic = self.topic
        old_ranks = {k: m.modes for k, m in old_members.items()}
        old_modes = self.mode_string(True)
        self.members = Members()
        self.by_nick = {}
        self.home_nicks = {}
        kept_local = dict(self.local)
        self.local = {}
        for uniform, nick, user, host, realname, account, modes in members_from(packet):
            self._add(uniform, nick, user, host, realname, account, modes)
        self.created = _int(packet.get(V.TIME_CREATED), self.created)
        self.topic = packet.get(V.TOPIC)
        self.topic_setter = packet.get(V.TOPIC_SETTER)
        self.topic_time = _int(packet.get(V.TOPIC_TIME))
        self.metadata = metadata_entries(packet.rows(METADATA_COLUMNS))
        self.flags = set()
        self.key = ""
        self.limit = 0
        self.extra_params = {}
        parsed = M.parse_channel_modes(packet.get(V.MODE), packet.get_list(V.LIST_PARAMETERS))
        for change in parsed.changes:
            if change.mode == "k":
                self.key = change.param or ""
            elif change.mode == "l":
                self.limit = _int(change.param or "")
            elif change.mode in M.PARAM_MODES or change.mode in M.SET_PARAM_MODES:
                if change.param is not None:
                    self.extra_params[change.mode] = change.param
            elif change.mode not in M.RANKS and change.mode not in M.LIST_MODES:
                self.flags.add(change.mode)
        self.lists = {m: [] for m in M.LIST_MODES}
        for mask, kind, setter, at in packet.rows(MASK_COLUMNS):
            self.lists.setdefault(kind or "b", []).append(ListEntry(mask, setter, _int(at)))
        self.lists_version += 1
        before = self.last
        self.context.reset(counter)
        self.orphaned = False
        if before is None:
            replicas.state_applied(self, False)
            return  # a new replica: its first member's JOIN shows everything
        # What the local users saw before: tell them the difference.  A local member
        # the home does not have left in casts we missed, or was lost in a split.
        departed = dict(
            zip(
                (normalize(u) for u in packet.get_list(V.LIST_DEPARTED)),
                (_int(c) for c in packet.get_list(V.LIST_DEPARTED_COUNTERS)),
                strict=False,
            )
        )
        rejoin = False
        for key, route in kept_local.items():
            if key in self.members:
                continue
            member = old_members.get(key)
            left = key in departed and (before is None or departed[key] > before)
            if replicas.alive(key) and not left:
                self.local[key] = route  # still ours: the netjoin brings it back
                if member is not None:
                    self.members[key] = member
                    self.by_nick[casefold(member.nick)] = member
                rejoin = True
            elif member is not None:
                leave = self._synthetic_leave(member, "")
                for target in {id(r): r for r in [*self.local.values(), route]}.values():
                    target.receive(leave)
        for key, member in self.members.items():
            if key not in old_members and key not in self.local:
                self.deliver_synthetic(self._synthetic_enter(member))
        for key, member in old_members.items():
            if key in self.members or key in kept_local:
                continue
            server = host_of(member.uniform)
            if recovering and replicas.reachable(server) and replicas.in_network(member.uniform):
                self.members[key] = member  # wait for its own server's netjoin
                self.by_nick[casefold(member.nick)] = member
                self.recheck_at = self.clock() + RECHECK_AFTER + 0.5  # after the window
                continue
            self.deliver_synthetic(self._synthetic_leave(member, self.home))
        if self.topic != old_topic and self.topic:
            self.deliver_synthetic(self._synthetic(V.NOTICE_PLACE_TOPIC, self.topic_setter,
                                                   {V.TOPIC: self.topic}))  # fmt: skip
        changes = _mode_diff(old_ranks, old_modes, self)
        if changes:
            modestr, params = M.render_changes(changes)
            self.deliver_synthetic(
                self._synthetic(
                    V.NOTICE_PLACE_MODE,
                    self.home,
                    {V.MODE: modestr, V.LIST_PARAMETERS: params},
                )
            )
        replicas.state_applied(self, rejoin)

    def deliver_synthetic(self, packet: Packet) -> None:
        for route in list(self.local.values()):
            route.receive(packet)

    def _synthetic(self, method: str, prefix: str, vars: dict[str, Value]) -> Packet:
        out: dict[str, Value] = {
            V.NICK_PLACE: self.name,
            V.ID: new_id(),
            V.TIME: str(int(self.clock() * 1000)),
            V.PREFIX: prefix,
            V.NICK: prefix.split("!", 1)[0],
        }
        out.update(vars)
        return Packet(method, {V.CONTEXT: self.uniform}, out)

    def _synthetic_enter(self, member: Member) -> Packet:
        packet = self._synthetic(V.NOTICE_PLACE_ENTER, member.prefix, {V.REALNAME: member.realname})
        if member.account:
            packet.vars[V.ACCOUNT] = member.account
        packet.routing[V.SOURCE_RELAY] = member.uniform
        return packet

    def _synthetic_leave(self, member: Member, split_from: str) -> Packet:
        """PART, or a netsplit QUIT when the member's server is gone."""
        server = host_of(member.uniform)
        replicas = self.replicas
        if split_from or not replicas.reachable(server):
            reason = f"{replicas.me} {server if server != replicas.me else split_from}"
            packet = self._synthetic(
                V.NOTICE_PLACE_LEAVE_NETBURP, member.prefix, {V.REASON: reason}
            )
            packet.vars[V.ID] = netburp_id(member.uniform, replicas.boot_of(server))
        else:
            packet = self._synthetic(V.NOTICE_PLACE_LEAVE, member.prefix, {V.REASON: ""})
        packet.routing[V.SOURCE_RELAY] = member.uniform
        return packet

    def split_off(self, servers: set[str]) -> None:
        """Members on unreachable `servers` leave, with a netsplit QUIT for the locals."""
        for key, member in list(self.members.items()):
            if key in self.local or host_of(member.uniform) not in servers:
                continue
            self._drop(member)
            self.deliver_synthetic(self._synthetic_leave(member, self.home))

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "home": self.home,
            "counter": self.last,
            "members": len(self.members),
            "local": len(self.local),
            "pending": len(self.pending),
            "orphaned": self.orphaned,
        }


def _mode_diff(
    old_ranks: dict[str, str], old_modes: tuple[str, list[str]], replica: Replica
) -> list[M.ModeChange]:
    changes: list[M.ModeChange] = []
    for key, member in replica.members.items():
        before = set(old_ranks.get(key, "")) if key in old_ranks else set()
        after = set(member.modes)
        for mode in M.RANK_ORDER:
            if mode in after and mode not in before:
                changes.append(M.ModeChange(True, mode, member.nick))
            elif mode in before and mode not in after and key in old_ranks:
                changes.append(M.ModeChange(False, mode, member.nick))
    new_modes = replica.mode_string(True)
    if new_modes != old_modes:
        old = M.parse_channel_modes(old_modes[0], list(old_modes[1]))
        new = M.parse_channel_modes(new_modes[0], list(new_modes[1]))
        old_set = {(c.mode, c.param) for c in old.changes}
        new_set = {(c.mode, c.param) for c in new.changes}
        old_letters = {c.mode for c in old.changes}
        new_letters = {c.mode for c in new.changes}
        for mode, param in sorted(new_set - old_set, key=lambda x: x[0]):
            changes.append(M.ModeChange(True, mode, param))
        for mode in sorted(old_letters - new_letters):
            param = "*" if mode in M.PARAM_MODES else None
            changes.append(M.ModeChange(False, mode, param))
    return changes


def _user_host(prefix: str, nick: str) -> tuple[str, str]:
    if "!" in prefix and "@" in prefix:
        user_host = prefix.split("!", 1)[1]
        user, _, host = user_host.partition("@")
        return user, host
    return nick, "unknown"


class Replicas:
    """The replicas of this server: created by echoes, fed by casts and states."""

    def __init__(
        self,
        network: Network,
        router: Router,
        registry: PlaceRegistry,
        config: Callable[[], Config],
        clock: Callable[[], float],
    ) -> None:
        self.network = network
        self.router = router
        self.registry = registry
        self.config = config
        self.clock = clock
        self.me = network.me
        self.by_uniform: dict[str, Replica] = {}
        self.by_name: dict[str, Replica] = {}
        self._netjoin_sent: set[str] = set()  # replica uniforms waiting for their state
        # Who else sees the casts a replica applies (they reach this server anyway).
        self.observers: list[Callable[[PlaceView, Packet], None]] = []
        # Told when an orphaned replica is whole again, with when its home was lost
        # (ms): its local members missed what was said there meanwhile.
        self.rejoined: list[Callable[[Replica, int], None]] = []
        registry.remote = self.by_name.get
        registry.remote_views = lambda: list(self.by_name.values())

    # -- helpers for the replicas

    def in_network(self, uniform: str) -> bool:
        return self.network.in_network(host_of(uniform))

    def reachable(self, server: str) -> bool:
        return self.network.is_reachable(server)

    def boot_of(self, server: str) -> str:
        return self.network.boot_of(server)

    def route(self, uniform: str) -> Entity:
        route = self.router.lookup(uniform)
        if route is None:  # a local person that is gone already: never fanned out to
            return RemoteEntity(uniform, self.me, self.network)
        return route

    def alive(self, key: str) -> bool:
        """Whether a local member is still connected."""
        entity = self.router.lookup(key)
        return entity is not None and entity.__class__ is not RemoteEntity

    def show(self, replica: Replica, route: Entity, packet: Packet) -> None:
        route.receive(packet)

    def get(self, uniform: str) -> Replica | None:
        return self.by_uniform.get(normalize(uniform))

    def views(self) -> list[Replica]:
        return list(self.by_uniform.values())

    def _display(self, uniform: str, home_name: str) -> tuple[str, bool]:
        """The local channel name of a remote place, and whether it is federated."""
        host = host_of(uniform)
        if home_name and self.network.in_network(host) and self.network.home_of(home_name) == host:
            return home_name, False
        name = unescape_place(place_name_of(uniform)) if is_place(uniform) else uniform
        native = "#" + name
        if self.network.in_network(host) and self.network.home_of(native) == host:
            return native, False
        return "#" + uniform, True

    def _create(self, uniform: str, home_name: str) -> Replica:
        name, federated = self._display(uniform, home_name)
        replica = Replica(self, uniform, name, host_of(uniform))
        replica.federated = federated
        replica.home_name = home_name or name
        self.by_uniform[normalize(uniform)] = replica
        self.by_name[casefold(name)] = replica
        return replica

    def _forget(self, replica: Replica) -> None:
        key = normalize(replica.uniform)
        if self.by_uniform.get(key) is replica:
            del self.by_uniform[key]
        if self.by_name.get(replica.folded) is replica:
            del self.by_name[replica.folded]
        self._netjoin_sent.discard(key)

    def renamed(self, replica: Replica, packet: Packet) -> None:
        """Its home renamed the place: the same replica, under the new name and uniform."""
        new_name = packet.get(V.NICK_PLACE_NEW)
        new_uniform = packet.get(V.UNIFORM_PLACE_NEW)
        if (
            replica.federated
            or not new_name.startswith("#")
            or not is_place(new_uniform)
            or host_of(new_uniform) != replica.home  # a home names its own places only
        ):
            return
        old_key, old_name = normalize(replica.uniform), replica.name
        if self.by_uniform.get(old_key) is replica:
            del self.by_uniform[old_key]
        if self.by_name.get(replica.folded) is replica:
            del self.by_name[replica.folded]
        state = replica.state
        state.uniform, state.name, state.folded = new_uniform, new_name, casefold(new_name)
        replica.home_name = new_name
        key = normalize(new_uniform)
        self.by_uniform[key] = replica
        self.by_name[replica.folded] = replica
        if old_key in self._netjoin_sent:
            self._netjoin_sent.discard(old_key)
            self._netjoin_sent.add(key)
        self.network.moved_to(old_name, "")
        self.network.moved_to(new_name, replica.home)

    def _missed_rename(self, replica: Replica, packet: Packet) -> None:
        """A state for our old uniform names the place's new name: the RENAME we missed,
        shown to the local members as the home would have (from the home server)."""
        event = replica._synthetic(
            V.NOTICE_PLACE_RENAME,
            replica.home,
            {
                V.NICK_PLACE_NEW: packet.get(V.NICK_PLACE_NEW),
                V.UNIFORM_PLACE_NEW: packet.get(V.UNIFORM_PLACE_NEW),
                V.REASON: "",
            },
        )
        old = replica.uniform
        self.renamed(replica, event)
        if replica.uniform != old:
            replica.deliver_synthetic(event)

    def _maybe_forget(self, replica: Replica) -> None:
        if not replica.local:
            self._forget(replica)

    # -- packets from the network

    def echo(self, packet: Packet) -> bool:
        """An `_echo_place_enter` for a local person (True: consumed here)."""
        uniform = packet.context
        replica = self.get(uniform)
        if replica is None:
            replica = self._create(uniform, packet.get(V.NICK_PLACE))
        counter = _int(packet.routing.get(V.COUNTER, ""), -1)
        if has_state(packet) and (replica.last is None or counter > replica.last):
            replica.reset(packet, counter)
            self._drain(replica)
        elif replica.last is None:
            self.ask(replica)
        target = packet.target
        route = self.router.lookup(target)
        if route is not None and route.__class__ is not RemoteEntity:
            key = normalize(target)
            replica.local[key] = route
            if key not in replica.members:
                nick = packet.get(V.NICK)
                user, host = _user_host(packet.get(V.PREFIX), nick)
                replica._add(target, nick, user, host, packet.get(V.REALNAME),
                             packet.get(V.ACCOUNT))  # fmt: skip
        if replica.federated:
            packet.vars.update(replica.translate(packet).vars)
        return False  # the router hands it to the person

    def cast(self, packet: Packet) -> None:
        """A cast (or a replayed one) of a remote place."""
        replica = self.get(packet.context)
        if replica is None:
            return
        found = replica.context.offer(counter_of(packet), packet)
        if found is Order.GAP:
            if replica.last is not None:
                self.ask(replica)
            return
        if found is Order.OLD:
            return  # a copy we have already (a replay overlapping what came live)
        replica.apply(packet)
        self._drain(replica)
        self._maybe_forget(replica)

    def _drain(self, replica: Replica) -> None:
        for packet in replica.context.drain():
            replica.apply(packet)

    def state(self, packet: Packet) -> None:
        """`_status_place_state`: the whole state of a remote place, to resync."""
        replica = self.get(packet.context)
        if replica is None:
            return
        if packet.get(V.FLAG_GONE) == "1":
            # The home has no such place (it restarted, or everybody left it while we
            # could not hear): bring our members back, with our state to adopt.
            self._netjoin_sent.discard(normalize(replica.uniform))
            self.want_netjoin(replica)
            self._maybe_forget(replica)
            return
        counter = _int(packet.routing.get(V.COUNTER, ""), 0)
        if replica.last is not None and counter < replica.last:
            return  # older than what we have (counters grow across restarts of a place)
        if packet.get(V.UNIFORM_PLACE_NEW):
            self._missed_rename(replica, packet)
        recovering = (
            normalize(replica.uniform) in self._netjoin_sent
            or self.clock() < replica.recovering_until
        )
        replica.reset(packet, counter, recovering)
        self._drain(replica)
        self._maybe_forget(replica)

    def state_applied(self, replica: Replica, rejoin: bool) -> None:
        if replica.split_since and not replica.orphaned:
            since, replica.split_since = int(replica.split_since * 1000), 0.0
            for hook in self.rejoined:
                hook(replica, since)
        key = normalize(replica.uniform)
        if key in self._netjoin_sent:
            replica.recovering_until = self.clock() + RECHECK_AFTER
        self._netjoin_sent.discard(key)
        if rejoin:
            self.want_netjoin(replica)

    # -- asking the home

    def ask(self, replica: Replica) -> None:
        """Ask the home to resync us from our last counter (once per counter, and again
        after a few seconds without an answer)."""
        now = self.clock()
        if replica.asked_for == replica.last and now - replica.asked < RESYNC_RETRY:
            return
        if normalize(replica.uniform) in self._netjoin_sent:
            return  # its answer is the whole state anyway
        replica.asked = now
        replica.asked_for = replica.last
        self.router.send(
            Packet(
                V.REQUEST_CONTEXT_RESYNC,
                {V.SOURCE: root(self.me), V.TARGET: replica.uniform},
                {V.COUNTER: str(replica.last if replica.last is not None else -1)},
            )
        )

    def netjoin_sent(self, replica: Replica) -> bool:
        return normalize(replica.uniform) in self._netjoin_sent

    def want_netjoin(self, replica: Replica) -> None:
        """Ask the home to take our local members back (after a split or a restart)."""
        key = normalize(replica.uniform)
        if key in self._netjoin_sent:
            return
        alive = {k: r for k, r in replica.local.items() if self.alive(k)}
        if not alive:
            return
        self._netjoin_sent.add(key)
        replica.asked = self.clock()
        pairs = [(replica.members.get(k), route) for k, route in alive.items()]
        persons = [m for m, _ in pairs if m is not None]
        vars = place_state(replica)
        if self.in_network(replica.uniform):
            # For the home's bans on addresses and cloaks, as a JOIN carries them (never
            # to a server outside the network).
            routes = [route for m, route in pairs if m is not None]
            vars[V.LIST_MEMBERS_IPS] = [getattr(r, "ip", "") for r in routes]
            vars[V.LIST_MEMBERS_CLOAKS] = [getattr(r, "cloak", "") for r in routes]
            vars[V.LIST_MEMBERS_HOSTS_REAL] = [_real_host(r) for r in routes]
        vars.update(
            {
                V.NICK_PLACE: replica.home_name,
                V.LIST_MEMBERS: [m.uniform for m in persons],
                V.LIST_MEMBERS_NICKS: [_home_nick(m) for m in persons],
                V.LIST_MEMBERS_USERS: [m.user for m in persons],
                V.LIST_MEMBERS_HOSTS: [m.host for m in persons],
                V.LIST_MEMBERS_REALNAMES: [m.realname for m in persons],
                V.LIST_MEMBERS_ACCOUNTS: [m.account for m in persons],
                V.LIST_MEMBERS_MODES: [m.modes for m in persons],
                V.COUNTER: str(replica.last if replica.last is not None else -1),
            }
        )
        vars.pop(V.LIST_NETBURPED, None)
        self.router.send(
            Packet(
                V.REQUEST_CONTEXT_NETJOIN,
                {V.SOURCE: root(self.me), V.TARGET: replica.uniform},
                vars,
            )
        )

    # -- servers coming and going (NetworkListener)

    def server_lost(self, name: str, boot: str) -> None:
        gone = set(self.network.split) | {name}
        now = self.network.clock()
        lost_for = now - self.network.lost_at.get(name, now)  # the grace, for a split
        for replica in list(self.by_uniform.values()):
            if replica.home == name:
                if not replica.orphaned:
                    replica.split_since = self.clock() - lost_for
                replica.orphaned = True
            if replica.orphaned:
                replica.split_off(gone | ({replica.home} if replica.orphaned else set()))
            self._maybe_forget(replica)

    def server_reachable(self, name: str, how: str) -> None:
        for replica in list(self.by_uniform.values()):
            if replica.home != name:
                continue
            if how == "resume" and not replica.orphaned:
                self.ask(replica)
            else:
                self._netjoin_sent.discard(normalize(replica.uniform))
                self.want_netjoin(replica)

    def tick(self, now: float) -> None:
        """Retry resyncs that got no answer; forget replicas whose local users are gone."""
        for replica in list(self.by_uniform.values()):
            if replica.recheck_at and now >= replica.recheck_at:
                replica.recheck_at = 0.0
                self.router.send(  # the full state: since -1 is never in a buffer
                    Packet(
                        V.REQUEST_CONTEXT_RESYNC,
                        {V.SOURCE: root(self.me), V.TARGET: replica.uniform},
                        {V.COUNTER: "-1"},
                    )
                )
            for key in [k for k in replica.local if not self.alive(k)]:
                if replica.orphaned or not self.reachable(replica.home):
                    replica.local.pop(key, None)
            if (replica.pending or replica.last is None) and now - replica.asked > RESYNC_RETRY:
                if normalize(replica.uniform) in self._netjoin_sent:
                    self._netjoin_sent.discard(normalize(replica.uniform))
                    self.want_netjoin(replica)
                else:
                    self.ask(replica)
            self._maybe_forget(replica)

    def snapshot(self) -> list[dict[str, Any]]:
        return [r.snapshot() for r in self.by_uniform.values()]


def _home_nick(member: Member) -> str:
    """The nick a member has at the home (local members are never shown as uniforms)."""
    return nick_of(member.uniform) or member.nick
