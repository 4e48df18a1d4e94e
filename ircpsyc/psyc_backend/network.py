"""The server network: link-state topology, routing, multicast and channel homes.

Every server floods its adjacency (the peers it has an authenticated circuit
with) as `_notice_circuit_topology` with its boot id and a sequence number
(and `_description`, its `[server] description`, for WHOIS and LINKS);
every server keeps the newest of each and computes the same graph from them
(an edge counts when both ends list it).  From that graph:

* `Topology.tree(root)` is the shortest-path tree rooted at `root`, built by a
  breadth-first search that visits nodes in name order, so every server
  computes the same tree for the same graph;
* every packet between servers travels along the tree of the server it comes
  from (the host of its `_source`, or of its `_context` for casts), so packets
  from one server to another keep their order;
* a cast (`Network.cast`) leaves the context's home as one copy per next hop,
  each copy listing in `_route_servers` the destination servers of its branch;
  a server that receives a copy delivers it locally when it is listed and
  forwards the rest along the same tree.  Destination sets are split at every
  hop and never overlap, so every destination gets one copy and every link
  carries a cast at most once, in a line, star, tree or mesh;
* `Network.home_of(channel)` is the server a channel lives on: the configured
  pin, else the one of the configured servers with the largest
  sha256(casefolded name NUL server name) (rendezvous hashing).

A packet whose `_source` (or `_context`) host is neither the peer nor a server
reachable behind that peer is refused with `_error_illegal_source`.

Servers that become unreachable get `split_grace` seconds to come back: packets
for them wait in the link queues (routed to the link that led to them last), so
a short split loses nothing.  After the grace, or at once when a server turns
out to have restarted (new boot id), the listeners hear `server_lost` (places
make its users leave) and later `server_reachable` (places resynchronise).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.link import LinkConfig, Links, Peer, Settings
from ircpsyc.psyc_backend.packet import MAX_SECONDS, Packet, Value, number
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import casefold, is_service, root

# Re-exported for ircd/ and xmpp/ (and older imports): host_of lives in uniform.
from ircpsyc.psyc_backend.uniform import host_of as host_of
from ircpsyc.psyc_backend.wire import render

log = logging.getLogger(__name__)

TOPOLOGY = V.NOTICE_CIRCUIT_TOPOLOGY
ROUTE_ACK = V.NOTICE_ROUTE_ACKNOWLEDGE
MAX_HOPS = 32
RESEND_AFTER = 3.0  # seconds before an unacknowledged unicast goes out again
ACK_EVERY = 0.5  # seconds between end-to-end acknowledgements
MAX_AHEAD = 100_000  # unicasts received out of order, per server, remembered at most
OUTAGE_MEMORY = 60.0  # seconds an outage is remembered after its end (see `delayed`)
MAX_DESCRIPTION = 120  # characters of a server's advertised description kept


def clean_description(text: str) -> str:
    """A server description fit for a numeric's last parameter: one line, bounded."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())[:MAX_DESCRIPTION]


class Outbound:
    """Unicasts from this server to one other, numbered, kept until that server has them.

    An entry is (when sent, the bytes, held): held ones were never sent because the
    server was unreachable, so they are safe to give even to a new boot of it."""

    __slots__ = ("seq", "unacked")

    def __init__(self) -> None:
        self.seq = 0
        self.unacked: OrderedDict[int, tuple[float, bytes, bool]] = OrderedDict()

    def floor(self) -> int:
        """Every number up to this one is acknowledged or given up."""
        return next(iter(self.unacked)) - 1 if self.unacked else self.seq


class Inbound:
    """What arrived from one other server's current boot: for dropping duplicates."""

    __slots__ = ("above", "boot", "upto")

    def __init__(self, boot: str) -> None:
        self.boot = boot
        self.upto = 0
        self.above: set[int] = set()

    def fresh(self, seq: int, floor: int = 0) -> bool:
        """Record `seq`; False if it came before (a resent copy).  `floor`: the sender
        has nothing unacknowledged up to it (so nothing there can still arrive)."""
        if floor > self.upto:
            self.upto = floor
            self.above = {n for n in self.above if n > floor}
            while self.upto + 1 in self.above:
                self.upto += 1
                self.above.discard(self.upto)
        if seq <= self.upto or seq in self.above:
            return False
        self.above.add(seq)
        if len(self.above) > MAX_AHEAD:
            # Only a broken or hostile sender leaves that many holes: stop waiting for
            # the older half (bounded memory beats waiting forever).
            ordered = sorted(self.above)
            half = len(ordered) // 2
            self.upto = ordered[half - 1]
            self.above = set(ordered[half:])
        while self.upto + 1 in self.above:
            self.upto += 1
            self.above.discard(self.upto)
        return True


def rendezvous(channel: str, servers: Iterable[str]) -> str:
    """The server with the highest hash for this channel (casefolded name)."""
    folded = casefold(channel)
    return max(
        servers,
        key=lambda server: hashlib.sha256(f"{folded}\0{server}".encode()).digest(),
    )


@dataclass(frozen=True, slots=True)
class Lsa:
    """One server's advertised adjacency."""

    origin: str
    boot: int
    seq: int
    neighbors: frozenset[str]
    description: str = ""  # the server's `[server] description` (WHOIS 312, LINKS)

    def newer_than(self, other: Lsa) -> bool:
        return (self.boot, self.seq) > (other.boot, other.seq)


def _bfs(graph: dict[str, set[str]], start: str, skip: str = "") -> dict[str, str]:
    """Parent of each node reached from `start` (start maps to ""), name order."""
    parent: dict[str, str] = {start: ""}
    frontier = [start]
    while frontier:
        found: list[str] = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt not in parent and nxt != skip:
                    parent[nxt] = node
                    found.append(nxt)
        frontier = sorted(found)
    return parent


class Topology:
    """The link-state database and what follows from it, computed the same everywhere."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.lsdb: dict[str, Lsa] = {}
        self.version = 0
        self._graph: dict[str, set[str]] | None = None
        self._trees: dict[str, dict[str, str]] = {}
        self._hops: dict[str, dict[str, str]] = {}
        self._behind: dict[str, set[str]] = {}

    def accept(self, lsa: Lsa) -> bool:
        """Store `lsa` if it is newer than what we have; whether anything changed."""
        old = self.lsdb.get(lsa.origin)
        if old is not None and not lsa.newer_than(old):
            return False
        self.lsdb[lsa.origin] = lsa
        if old is None or old.neighbors != lsa.neighbors:
            self._invalidate()
        return True

    def forget(self, origin: str) -> None:
        """Drop a server's advertisement (it restarted: the old one is void)."""
        if self.lsdb.pop(origin, None) is not None:
            self._invalidate()

    def _invalidate(self) -> None:
        self.version += 1
        self._graph = None
        self._trees.clear()
        self._hops.clear()
        self._behind.clear()

    def graph(self) -> dict[str, set[str]]:
        """Edges both ends agree on."""
        if self._graph is None:
            graph: dict[str, set[str]] = {name: set() for name in self.lsdb}
            for name, lsa in self.lsdb.items():
                for other in lsa.neighbors:
                    peer = self.lsdb.get(other)
                    if peer is not None and name in peer.neighbors:
                        graph[name].add(other)
            graph.setdefault(self.me, set())
            self._graph = graph
        return self._graph

    def tree(self, root_name: str) -> dict[str, str]:
        """Parent map of the shortest-path tree rooted at `root_name`."""
        tree = self._trees.get(root_name)
        if tree is None:
            tree = self._trees[root_name] = _bfs(self.graph(), root_name)
        return tree

    def reachable(self) -> set[str]:
        return set(self.tree(self.me))

    def toward(self, root_name: str, dest: str) -> str:
        """The neighbour of ours that leads to `dest` in the tree of `root_name` ("" if
        `dest` is not below us in that tree)."""
        hops = self._hops.get(root_name)
        if hops is None:
            hops = self._hops[root_name] = self._below(root_name)
        return hops.get(dest, "")

    def _below(self, root_name: str) -> dict[str, str]:
        tree = self.tree(root_name)
        me = self.me
        out: dict[str, str] = {}
        if me not in tree:
            return out
        for node in tree:
            child = node
            parent = tree[child]
            while parent and parent != me:
                child = parent
                parent = tree[child]
            if parent == me:
                out[node] = child
        return out

    def next_hop(self, dest: str) -> str:
        """The first hop of our own shortest path to `dest` ("" if unreachable)."""
        return self.toward(self.me, dest)

    def hops(self, dest: str) -> int:
        tree = self.tree(self.me)
        count = 0
        node = dest
        while tree.get(node):
            node = tree[node]
            count += 1
        return count if node == self.me else -1

    def behind(self, neighbor: str) -> set[str]:
        """Servers reachable from `neighbor` without passing through us."""
        found = self._behind.get(neighbor)
        if found is None:
            found = self._behind[neighbor] = set(_bfs(self.graph(), neighbor, skip=self.me))
        return found


class NetworkListener(Protocol):
    """Places, replicas and the roster hear about servers coming and going."""

    def server_lost(self, name: str, boot: str) -> None:
        """`name` stayed unreachable for the grace period, or restarted (its old `boot`
        is gone): drop what lived there."""

    def server_reachable(self, name: str, how: str) -> None:
        """`name` is reachable: "new" (first time), "resume" (back within the grace),
        "rejoin" (back after a split) or "reboot" (a new boot of it)."""


class Network:
    """Routing between this server and the others; the `Uplink` of the router."""

    def __init__(
        self,
        me: str,
        router: Router,
        links: Iterable[LinkConfig],
        settings: Settings,
        servers: Iterable[str],
        pins: dict[str, str] | None = None,
        split_grace: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        boot: str = "",
        description: str = "",
    ) -> None:
        self.me = me.lower()
        self.router = router
        self.clock = clock
        self.boot = boot or str(time.time_ns())
        self.links = Links(self.me, self.boot, links, settings, self)
        self.topology = Topology(self.me)
        self.hash_servers = tuple(sorted({s.lower() for s in servers} | {self.me}))
        self.pins = {casefold(k): v.lower() for k, v in (pins or {}).items()}
        # Renamed places keep their home (RENAME): casefolded new name -> that home,
        # learnt from the home's directory and its rename casts (`moved_to`).
        self.moved: dict[str, str] = {}
        self.split_grace = split_grace
        self.seq = 0
        self.listeners: list[NetworkListener] = []
        # What arrives for this server goes to the router (`cast_in`, `link_in`,
        # `foreign_in`), and what leaves passes `Router.outgoing`.
        # Servers outside the network and its links (psyced): plain PSYC circuits on
        # demand (ircpsyc.psyc_backend.foreign.Foreign), installed by the linking.
        self.foreign: Any = None
        # Reachability.
        self.reachable: set[str] = {self.me}
        self.known: set[str] = {self.me}
        self.boots: dict[str, str] = {self.me: self.boot}
        self.lost_at: dict[str, float] = {}
        self.outages: dict[str, tuple[float, float]] = {}  # server -> (lost, back again)
        self.split: set[str] = set()
        self.rebooted: set[str] = set()
        self.last_hop: dict[str, str] = {}
        self._home_cache: dict[str, str] = {}
        self._previous_hops: dict[str, str] = {}
        # Peers whose own advertisement has not arrived on their new circuit yet: we
        # advertise the link only after it, so that everybody learns a restarted
        # server's new boot before seeing it reachable again.
        self.hello_due: set[str] = set()
        self.refused = 0
        self.unroutable = 0
        # End-to-end: unicasts survive a relay that dies with them (see `send`).
        self.outbound: dict[str, Outbound] = {}
        self.inbound: dict[str, Inbound] = {}
        self.acks_due: set[str] = set()
        self.last_acks = 0.0
        self.resent = 0
        self.duplicates = 0
        self.description = clean_description(description)
        self._originate(flood=False)
        router.uplink = self

    # -- names

    def home_of(self, channel: str) -> str:
        folded = casefold(channel)
        home = self._home_cache.get(folded)
        if home is None:
            home = (
                self.pins.get(folded)
                or self.moved.get(folded)
                or rendezvous(folded, self.hash_servers)
            )
            if len(self._home_cache) > 10000:
                self._home_cache.clear()
            self._home_cache[folded] = home
        return home

    def hashed_home(self, channel: str) -> str:
        """Where `channel` lives by configuration alone: its pin, else its hash."""
        folded = casefold(channel)
        return self.pins.get(folded) or rendezvous(folded, self.hash_servers)

    def moved_to(self, channel: str, home: str) -> None:
        """`channel` (renamed) lives on `home`; "" forgets that (its hash decides)."""
        folded = casefold(channel)
        if home and home != self.hashed_home(folded):
            if self.moved.get(folded) == home:
                return
            self.moved[folded] = home
        elif self.moved.pop(folded, None) is None:
            return
        self._home_cache.pop(folded, None)

    def in_network(self, host: str) -> bool:
        return host in self.hash_servers

    def is_reachable(self, host: str) -> bool:
        if host in self.reachable:
            return True
        foreign = self.foreign
        return foreign is not None and foreign.is_foreign(host)  # dialled on demand

    def boot_of(self, host: str) -> str:
        return self.boots.get(host, "")

    # -- the link-state database

    def _own_lsa(self) -> Lsa:
        return Lsa(
            self.me,
            int(self.boot),
            self.seq,
            frozenset(p.name for p in self.links.up_peers() if p.name not in self.hello_due),
            self.description,
        )

    def set_description(self, text: str) -> None:
        """A new `[server] description` (REHASH): advertised to the network at once."""
        text = clean_description(text)
        if text != self.description:
            self.description = text
            self._originate()

    def description_of(self, server: str) -> str:
        """What `server` advertises as its description ("" when unknown)."""
        if server == self.me:
            return self.description
        lsa = self.topology.lsdb.get(server)
        return lsa.description if lsa is not None else ""

    def _originate(self, flood: bool = True) -> None:
        self.seq += 1
        lsa = self._own_lsa()
        self.topology.accept(lsa)
        if flood:
            self._flood(lsa, "")

    def _lsa_packet(self, lsa: Lsa) -> bytes:
        vars: dict[str, Value] = {
            V.BOOT: str(lsa.boot),
            V.SEQUENCE: str(lsa.seq),
            V.LIST_SERVERS: sorted(lsa.neighbors),
        }
        if lsa.description:
            vars[V.DESCRIPTION] = lsa.description
        return render(Packet(TOPOLOGY, {V.SOURCE: root(lsa.origin)}, vars))

    def _flood(self, lsa: Lsa, skip: str) -> None:
        data = self._lsa_packet(lsa)
        for peer in self.links.up_peers():
            if peer.name != skip and peer.circuit is not None:
                peer.circuit.write(data)

    def _topology(self, peer: Peer, packet: Packet) -> None:
        origin = host_of(packet.source)
        boot, seq = number(packet.get(V.BOOT), -1), number(packet.get(V.SEQUENCE), -1)
        if not origin or origin == self.me or boot < 0 or seq < 0:
            log.debug("link %s: malformed topology advertisement dropped", peer.name)
            return
        if origin in self.hash_servers and peer.name not in self.hash_servers:
            # A server outside the network (federation) speaks for itself and what is
            # behind it, never for ours: it could make them look restarted or gone.
            log.warning("link %s: refused topology of %s (not vouched for)", peer.name, origin)
            return
        servers = frozenset(s.lower() for s in packet.get_list(V.LIST_SERVERS) if s)
        lsa = Lsa(origin, boot, seq, servers, clean_description(packet.get(V.DESCRIPTION)))
        old = self.topology.lsdb.get(origin)
        if not self.topology.accept(lsa):
            if origin == peer.name and origin in self.hello_due:
                self.hello_due.discard(origin)
                self._originate()
                self._recompute()
            return
        if old is not None and old.boot != lsa.boot:
            self._server_rebooted(origin, str(old.boot))
        self.boots[origin] = str(boot)
        self._flood(lsa, peer.name)
        if origin == peer.name and origin in self.hello_due:
            self.hello_due.discard(origin)
            self._originate()
        self._recompute()

    # -- link events (LinkHandler)

    def link_hello(self, peer: Peer) -> list[bytes]:
        """Our whole database first, so the peer can vouch for what we relay."""
        return [self._lsa_packet(lsa) for lsa in self.topology.lsdb.values()]

    def link_up(self, peer: Peer) -> None:
        old = self.boots.get(peer.name, "")
        if peer.boot and old and old != peer.boot:
            # A neighbour that restarted: its old advertisement must not make it look
            # reachable as the same server for a moment (its new one comes next).
            self.topology.forget(peer.name)
            self.boots[peer.name] = peer.boot
            self._server_rebooted(peer.name, old)
        self.hello_due.add(peer.name)  # advertised when its own advertisement arrives
        self._recompute()

    def link_down(self, peer: Peer) -> None:
        self.hello_due.discard(peer.name)
        self._originate()
        self._recompute()

    def link_packet(self, peer: Peer, packet: Packet) -> None:
        if packet.method == TOPOLOGY:
            self._topology(peer, packet)
            return
        _check_time(packet)
        routing = packet.routing
        origin = host_of(routing.get(V.SOURCE) or routing.get(V.CONTEXT, ""))
        if origin and origin != peer.name and origin not in self.topology.behind(peer.name):
            self._refuse(peer, packet, origin)
            return
        servers = routing.get(V.ROUTE_SERVERS)
        if servers is not None:
            if is_service(routing.get(V.CONTEXT, "")):
                peer.stats.service_casts_in += 1
            else:
                peer.stats.casts_in += 1
            self._cast_in(packet, origin, servers.split())
            return
        target = routing.get(V.TARGET, "")
        host = host_of(target) if target else self.me
        if host != self.me:
            self._forward(packet, origin or peer.name, host)
            return
        stamp = routing.get(V.ROUTE_COUNTER)
        if stamp is not None and origin and not self._fresh(origin, stamp):
            self.duplicates += 1
            return
        if packet.method == ROUTE_ACK:
            self._acknowledged(origin, packet)
            return
        if origin and origin not in self.hash_servers:
            self.router.foreign_in(packet)
        self.router.link_in(packet)

    def _refuse(self, peer: Peer, packet: Packet, origin: str) -> None:
        self.refused += 1
        peer.stats.refused += 1
        log.warning(
            "link %s: refused %s from %s (not vouched for)", peer.name, packet.method, origin
        )
        if packet.method.startswith((V.ERROR, V.FAILURE)):
            return
        error = Packet(
            V.ERROR_ILLEGAL_SOURCE,
            {V.SOURCE: root(self.me), V.TARGET: root(peer.name)},
            {
                V.HOST: origin,
                V.METHOD_RELAY: packet.method,
                V.REASON: f"{peer.name} does not relay for {origin}",
            },
        )
        if V.TAG in packet.routing:
            error.routing[V.TAG_RELAY] = packet.routing[V.TAG]
        peer.queue(render(error))

    def links_changed(self) -> None:
        """Peers were added or removed (REHASH): advertise what is up now."""
        self._originate()
        self._recompute()

    # -- reachability

    def _recompute(self) -> None:
        now = self.clock()
        reachable = self.topology.reachable()
        before = self.reachable
        gone = before - reachable
        came = reachable - before
        for name in gone:
            hop = self._previous_hops.get(name, "")
            if hop:
                self.last_hop[name] = hop
            self.lost_at.setdefault(name, now)
            log.info("server %s is unreachable", name)
        self.reachable = reachable
        self._previous_hops = {name: self.topology.next_hop(name) for name in reachable}
        for name in sorted(came):
            self.last_hop.pop(name, None)
            log.info("server %s is reachable", name)
            if name in self.lost_at:
                self.outages[name] = (self.lost_at[name], now)
            if name in self.rebooted:
                self.rebooted.discard(name)
                self.lost_at.pop(name, None)
                self.split.discard(name)
                self.known.add(name)
                self._tell_reachable(name, "reboot")
            elif name not in self.known:
                self.known.add(name)
                self._tell_reachable(name, "new")
            elif name in self.split:
                self.split.discard(name)
                self.lost_at.pop(name, None)
                self._tell_reachable(name, "rejoin")
            else:
                self.lost_at.pop(name, None)
                self._tell_reachable(name, "resume")
            # What waited for it goes now, after the resyncs and netjoins just sent;
            # what was sent before may have reached it: that waits for the timer (by
            # then we know whether it restarted, and drop it if so).
            stream = self.outbound.get(name)
            if stream is not None and stream.unacked:
                self._resend(name, stream, now, held=True)
        if self.split_grace <= 0:
            self.tick(now)

    def delayed(self, server: str) -> float:
        """How long a packet from `server` may have waited on its way here (seconds):
        since the start of its outage while it is unreachable or was until lately
        (its packets queued meanwhile), else 0."""
        since = self.lost_at.get(server)
        if since is None:
            outage = self.outages.get(server)
            if outage is None:
                return 0.0  # on every channel line: no clock read for this
            since, back = outage
            now = self.clock()
            if now - back > OUTAGE_MEMORY:
                del self.outages[server]
                return 0.0
        else:
            now = self.clock()
        return max(0.0, now - since)

    def _server_rebooted(self, name: str, old_boot: str) -> None:
        log.info("server %s restarted", name)
        stream = self.outbound.get(name)
        if stream is not None:  # what its old boot may have had is not for the new one
            for seq in [s for s, entry in stream.unacked.items() if not entry[2]]:
                del stream.unacked[seq]
        if name not in self.split:
            self.tell_lost(name, old_boot)
        self.split.discard(name)
        self.lost_at.pop(name, None)
        if name in self.reachable:
            self._tell_reachable(name, "reboot")
        else:
            self.rebooted.add(name)

    def tell_lost(self, name: str, boot: str) -> None:
        """Tell the listeners that server (or foreign host) `name` is lost."""
        for listener in list(self.listeners):
            try:
                listener.server_lost(name, boot)
            except Exception:
                log.exception("listener failed on the loss of %s", name)

    def _tell_reachable(self, name: str, how: str) -> None:
        for listener in list(self.listeners):
            try:
                listener.server_reachable(name, how)
            except Exception:
                log.exception("listener failed on %s becoming reachable", name)

    def tick(self, now: float) -> None:
        if self.acks_due and now - self.last_acks >= ACK_EVERY:
            self.last_acks = now
            for origin in sorted(self.acks_due):
                self._send_ack(origin)
            self.acks_due.clear()
        for dest, stream in self.outbound.items():
            if dest in self.reachable and stream.unacked:
                self._resend(dest, stream, now)
        for name, since in list(self.lost_at.items()):
            if name not in self.split and now - since >= self.split_grace:
                self.split.add(name)
                log.info("server %s split off (unreachable for %.0fs)", name, now - since)
                self.tell_lost(name, self.boots.get(name, ""))

    # -- routing

    def _hop(self, origin: str, dest: str) -> str:
        topology = self.topology
        hop = topology.toward(origin, dest) if origin != self.me else ""
        if not hop:
            hop = topology.next_hop(dest)
        if not hop:
            hop = self.last_hop.get(dest, "")
        if not hop and dest in self.links.peers:
            hop = dest  # a configured neighbour we have not met yet: wait for it
        return hop

    def send(self, packet: Packet) -> bool:
        """Unicast a packet from this server to an entity on another one.

        Links resend what a broken circuit lost, but a server that dies while
        relaying takes what it had acknowledged with it.  So unicasts are also
        numbered end to end (`_route_counter` = boot.seq): the destination drops
        copies it has seen and acknowledges now and then; what it does not
        acknowledge goes out again after a few seconds.  (Casts need none of this:
        their replicas ask for what they miss by `_counter`.)
        """
        dest = host_of(packet.routing.get(V.TARGET, ""))
        if self.foreign is not None and self.foreign.is_foreign(dest):
            return bool(self.foreign.send(packet))  # plain PSYC: nothing numbered or resent
        hop = self._hop(self.me, dest) if dest else ""
        if not hop:
            self.unroutable += 1
            return False
        packet = self.router.outgoing(packet)
        stream = self.outbound.get(dest)
        if stream is None:
            stream = self.outbound[dest] = Outbound()
        stream.seq += 1
        if len(stream.unacked) >= self.links.settings.queue_max:
            stream.unacked.popitem(last=False)
        routing = dict(packet.routing)
        floor = min(stream.floor(), stream.seq - 1)
        routing[V.ROUTE_COUNTER] = f"{self.boot}.{stream.seq}.{floor}"
        data = render(
            Packet(
                packet.method, routing, packet.vars, packet.body, packet.modifiers, packet.state_op
            )
        )
        held = dest not in self.reachable
        stream.unacked[stream.seq] = (self.clock(), data, held)
        if held:
            return True  # it waits for `dest` to be back (after what that return causes)
        return self.links.send(hop, data)

    def _fresh(self, origin: str, stamp: str) -> bool:
        boot, _, numbers = stamp.partition(".")
        seq_text, _, floor_text = numbers.partition(".")
        seq = number(seq_text, -1, 18)
        if seq < 0:
            return True
        inbound = self.inbound.get(origin)
        if inbound is None or inbound.boot != boot:
            inbound = self.inbound[origin] = Inbound(boot)
        self.acks_due.add(origin)
        return inbound.fresh(seq, max(0, number(floor_text, 0, 18)))

    def _send_ack(self, origin: str) -> None:
        inbound = self.inbound.get(origin)
        hop = self._hop(self.me, origin)
        if inbound is None or not hop:
            return
        ack = Packet(
            ROUTE_ACK,
            {V.SOURCE: root(self.me), V.TARGET: root(origin)},
            {V.BOOT: inbound.boot, V.COUNTER: str(inbound.upto)},
        )
        self.links.send(hop, render(ack))

    def _acknowledged(self, origin: str, packet: Packet) -> None:
        stream = self.outbound.get(origin)
        upto = number(packet.get(V.COUNTER), -1)
        if stream is None or packet.get(V.BOOT) != self.boot or upto < 0:
            return
        unacked = stream.unacked
        while unacked:
            seq = next(iter(unacked))
            if seq > upto:
                break
            del unacked[seq]

    def _resend(self, dest: str, stream: Outbound, now: float, held: bool = False) -> None:
        """What waited (`held`) for `dest` to be reachable, or what it has not
        acknowledged for a while (a relay may have died with it)."""
        hop = self._hop(self.me, dest)
        if not hop:
            return
        for seq, (sent, data, waited) in list(stream.unacked.items()):
            if held:
                if not waited:
                    continue
            elif now - sent < RESEND_AFTER:
                break
            stream.unacked[seq] = (now, data, False)
            stream.unacked.move_to_end(seq)
            self.resent += 1
            self.links.send(hop, data)

    def _forward(self, packet: Packet, origin: str, dest: str) -> None:
        routing = packet.routing
        hops = _hops(routing) + 1
        hop = self._hop(origin, dest)
        if not hop or hops > MAX_HOPS:
            self.unroutable += 1
            return
        routing[V.AMOUNT_HOPS] = str(hops)
        self.links.send(hop, render(packet))

    def cast(self, packet: Packet, servers: Iterable[str], min_rank: int | None = None) -> None:
        """Send a cast of a local context to the servers that have members of it."""
        extra = {} if min_rank is None else {V.FILTER_RANK: str(min_rank)}
        dests = [s for s in servers if s != self.me]
        if self.foreign is not None:
            for host in [s for s in dests if self.foreign.is_foreign(s)]:
                dests.remove(host)
                if min_rank is None:  # a rank-filtered cast has no place outside
                    self.foreign.cast(packet, host)
        self._spread(packet, self.me, dests, 0, extra)

    def _spread(
        self, packet: Packet, origin: str, dests: list[str], hops: int, extra: dict[str, str]
    ) -> None:
        groups: dict[str, list[str]] = {}
        for dest in dests:
            hop = self._hop(origin, dest)
            if hop:
                groups.setdefault(hop, []).append(dest)
            else:
                self.unroutable += 1
        kind = "service" if is_service(packet.routing.get(V.CONTEXT, "")) else "place"
        for hop, group in groups.items():
            routing = dict(packet.routing)
            routing.update(extra)
            routing[V.ROUTE_SERVERS] = " ".join(sorted(group))
            if hops:
                routing[V.AMOUNT_HOPS] = str(hops)
            copy = Packet(
                packet.method, routing, packet.vars, packet.body, packet.modifiers, packet.state_op
            )
            self.links.send(hop, render(copy), cast=kind)

    def _cast_in(self, packet: Packet, origin: str, dests: list[str]) -> None:
        hops = _hops(packet.routing) + 1
        rest = [d for d in dests if d != self.me]
        if rest and hops <= MAX_HOPS:
            self._spread(packet, origin, rest, hops, {})
        if len(rest) != len(dests):
            self.router.cast_in(packet)

    # -- operator views

    def peer_of(self, name: str) -> Peer | None:
        return self.links.peers.get(name.lower())

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "server": self.me,
            "boot": self.boot,
            "reachable": sorted(self.reachable),
            "split": sorted(self.split),
            "servers": list(self.hash_servers),
            "refused": self.refused,
            "unroutable": self.unroutable,
            # The link port's door: connections not yet authenticated, refused by
            # the limits on those, and wrong proofs from whoever dialled us.
            "unauthenticated": self.links.unauthenticated_total,
            "turned_away": self.links.turned_away,
            "auth_failures": self.links.auth_failures,
            "links": [peer.snapshot(now) for peer in self.links.peers.values()],
            "foreign": self.foreign.snapshot(now) if self.foreign is not None else {},
        }

    def tree_children(self) -> dict[str, list[str]]:
        """Our shortest-path tree as parent -> sorted children (for MAP)."""
        tree = self.topology.tree(self.me)
        children: dict[str, list[str]] = {}
        for node, parent in tree.items():
            if parent:
                children.setdefault(parent, []).append(node)
        for names in children.values():
            names.sort()
        return children


def _check_time(packet: Packet) -> None:
    """A message's `_time` (ms) is shown to clients (server-time) and kept by the
    history and the away log: one that is not a time is dropped at the link, so the
    line counts as said now."""
    stamp = packet.vars.get(V.TIME)
    if stamp is None:
        return
    ms = number(stamp, -1, 15) if isinstance(stamp, str) else -1
    if not 0 <= ms <= int(MAX_SECONDS * 1000) + 999:
        log.debug("dropped a malformed _time from a link: %r", stamp)
        del packet.vars[V.TIME]


def _hops(routing: dict[str, str]) -> int:
    """How many servers relayed a packet so far; a malformed count (not a small
    non-negative number, which could let a packet loop) counts as too many."""
    text = routing.get(V.AMOUNT_HOPS, "")
    if not text:
        return 0
    hops = number(text, MAX_HOPS, 4)
    return hops if hops >= 0 else MAX_HOPS
