"""The network's channel directory: a summary of every channel, on every server.

LIST, and TOPIC or NAMES of a channel with no member here, need channels this
server neither homes nor replicates.  So each server is the master of the
directory of the channels homed on it, a context `psyc://SERVER/$directory`
(like the roster): it casts what changed, at most once per tick, to the other
servers of the network, with a `_counter`; every server keeps a replica of each
other directory, fetched whole when that server becomes reachable or a counter
is missing, and dropped when the server is lost.

    _notice_directory_places   cast, _counter: the summaries of the places that
        changed, as parallel lists _list_places (names), _list_amounts (members),
        _list_topics, _list_topic_setters, _list_topic_times, _list_created,
        _list_modes (the mode string, without the key); and _list_places_gone
    _request_directory         from a server root, _counter: the last one it has
    _status_directory          to that root: the whole directory, same lists

A renamed place keeps its home (`Network.moved`): every server learns where the
new name lives from the home's rows (a row whose name hashes elsewhere), and
for RENAME_REDIRECT seconds what the old name became (`_list_places_renamed`,
`_list_places_renamed_new`, in casts and whole copies), so that a JOIN of the
old name can be told the new one (`renamed_to`).

Members are not in the directory.  NAMES of a channel without local members
asks its home (psyced's methods, answered by the home's directory service):

    _request_members           psyc://B/$directory -> psyc://A/$directory, _tag,
                               _nick_place; _flag_secret 1: answer for a secret channel
                               too (asked for an operator with auspex)
    _status_place_members      _tag_relay, _list_members_nicks, _list_members_modes,
                               _list_members_users, _list_members_hosts, and for WHO
                               _list_members (uniforms: the server), _list_members_realnames,
                               _list_members_accounts
    _error_unknown_name_place  _tag_relay: no such channel, or a secret one

WHO of such a channel asks the same (`Directory.who`); the asking server adds
what its roster knows of each member (away, user modes, hops) and leaves out
the invisible (+i) ones, as for NAMES.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ircpsyc.channels.place import Place, PlaceObserver, PlaceRegistry
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import ContextMaster, ContextSlave, ServerContext, counter_of
from ircpsyc.psyc_backend.packet import Packet, Value, columns, number
from ircpsyc.psyc_backend.requests import Requests
from ircpsyc.psyc_backend.uniform import casefold, host_of

if TYPE_CHECKING:
    from ircpsyc.config import Config
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.router import Router

log = logging.getLogger(__name__)

SERVICE = "$directory"
MAX_PENDING = 1000  # casts of another directory kept while its whole copy is on its way
RENAME_REDIRECT = 3600.0  # seconds a renamed channel's old name answers with the new one
# A place's summary per row, as parallel columns.
SUMMARY_COLUMNS = (
    V.LIST_PLACES,
    V.LIST_AMOUNTS,
    V.LIST_TOPICS,
    V.LIST_TOPIC_SETTERS,
    V.LIST_TOPIC_TIMES,
    V.LIST_CREATED,
    V.LIST_MODES,
)


@dataclass(slots=True)
class Summary:
    """What LIST and TOPIC show of a channel homed on another server."""

    name: str
    users: int
    topic: str
    topic_setter: str
    topic_time: int
    created: int
    modes: str
    home: str

    @property
    def folded(self) -> str:
        return casefold(self.name)

    @property
    def secret(self) -> bool:
        """+s or +p: listed to its members (and opers with auspex) only."""
        letters = self.modes.split(" ", 1)[0]
        return "s" in letters or "p" in letters

    @property
    def flags(self) -> set[str]:
        return set(self.modes.split(" ", 1)[0].lstrip("+"))


def summary_of(place: Place, home: str) -> Summary:
    modes, params = place.mode_string(False)
    return Summary(
        place.name,
        len(place.members),
        place.topic,
        place.topic_setter,
        place.topic_time,
        place.created,
        " ".join([modes, *params]),
        home,
    )


def _columns(summaries: list[Summary]) -> dict[str, Value]:
    rows = [
        (s.name, str(s.users), s.topic, s.topic_setter, str(s.topic_time), str(s.created), s.modes)
        for s in summaries
    ]
    return columns(SUMMARY_COLUMNS, rows)


def _int(text: str) -> int:
    return number(text, 0)


def _summaries(packet: Packet, home: str) -> list[Summary]:
    return [
        Summary(name, _int(users), topic, setter, _int(at), _int(created), modes or "+", home)
        for name, users, topic, setter, at, created, modes in packet.rows(SUMMARY_COLUMNS)
    ]


class DirectoryReplica:
    """The channels of one other server, and where its casts stand (`context`, kept
    from one copy of the directory to the next)."""

    def __init__(self, server: str, context: ContextSlave | None = None) -> None:
        self.server = server
        self.context = context if context is not None else ContextSlave(MAX_PENDING)
        self.places: dict[str, Summary] = {}  # casefolded name -> summary

    @property
    def last(self) -> int:
        """The counter of the last cast applied (-1: none)."""
        last = self.context.last
        return -1 if last is None else last


MembersDone = Callable[[list[tuple[str, str, str, str]] | None], None]
# WHO: one dict per member, keys nick, modes, user, host, uniform, realname, account.
WhoDone = Callable[[list[dict[str, str]] | None], None]
_MEMBER_COLUMNS = (
    ("modes", V.LIST_MEMBERS_MODES),
    ("user", V.LIST_MEMBERS_USERS),
    ("host", V.LIST_MEMBERS_HOSTS),
    ("uniform", V.LIST_MEMBERS),
    ("realname", V.LIST_MEMBERS_REALNAMES),
    ("account", V.LIST_MEMBERS_ACCOUNTS),
)


class Directory(PlaceObserver):
    """This server's directory (master) and the replicas of the others'."""

    casts_messages = False  # membership, topic and modes: `_notice_place_*` casts

    def __init__(
        self,
        network: Network,
        router: Router,
        registry: PlaceRegistry,
        config: Callable[[], Config],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.network = network
        self.router = router
        self.registry = registry
        self.config = config
        self.clock = clock
        self.me = network.me
        self.context = ServerContext(network, router, SERVICE[1:])
        self.uniform = self.context.uniform
        # Our directory's counter (no replays: a server that missed a cast gets it all).
        self.master = ContextMaster(int(clock() * 1_000_000))
        self.dirty: set[str] = set()  # casefolded names of our places that changed
        self.replicas: dict[str, DirectoryReplica] = {}
        # Renamed lately, ours and the other servers': folded old name -> (new name,
        # its home, until when); and ours not cast yet: (old, new).
        self.renamed: dict[str, tuple[str, str, float]] = {}
        self.renames_due: list[tuple[str, str]] = []
        # NAMES/WHO requests; a failed one is answered None.
        self.requests: Requests[WhoDone] = Requests(
            "m",
            clock,
            lambda: config().network.request_timeout,
            lambda request, why: request.data(None),
            network,
        )
        registry.observers.append(self)
        network.listeners.append(self)
        router.register(self)

    # -- lookups

    def get(self, channel: str) -> Summary | None:
        """The summary of a channel homed on another server (None: unknown)."""
        folded = casefold(channel)
        home = self.network.home_of(folded)
        replica = self.replicas.get(home)
        return replica.places.get(folded) if replica is not None else None

    def count(self) -> int:
        """How many channels the other servers home (LUSERS): no scan, one per server."""
        return sum(len(replica.places) for replica in self.replicas.values())

    def renamed_to(self, channel: str) -> str:
        """The new name of a channel renamed lately ("" when it was not, or long ago)."""
        entry = self.renamed.get(casefold(channel))
        if entry is None:
            return ""
        if entry[2] < self.clock():
            del self.renamed[casefold(channel)]
            return ""
        return entry[0]

    def taken(self, channel: str) -> bool:
        """Whether another server homes a channel of this name (RENAME)."""
        folded = casefold(channel)
        return any(folded in replica.places for replica in list(self.replicas.values()))

    def summaries(self) -> Iterator[Summary]:
        for replica in list(self.replicas.values()):
            yield from replica.places.values()

    # -- the master side: what changed in our places

    def place_created(self, place: Place) -> None:
        self.dirty.add(place.folded)

    def place_cast(self, place: Place, packet: Packet) -> None:
        # Cheap on the message path: membership, topic and modes are _notice_place_*.
        if packet.method.startswith(V.NOTICE_PLACE):
            self.dirty.add(place.folded)

    def rename_refusal(self, place: Place, new_name: str, request: Packet) -> tuple[str, str]:
        folded = casefold(new_name)
        if folded == place.folded:
            return "", ""  # only its case changes
        pinned = self.network.pins.get(folded)
        if pinned and pinned != self.me:
            return V.ERROR_PLACE_RENAME_FORBIDDEN, f"{new_name} is pinned to {pinned}"
        if self.taken(folded) or self.registry.get(folded) is not None:
            return V.ERROR_PLACE_RENAME_IN_USE, "The channel name is already taken"
        return "", ""

    def place_renamed(self, place: Place, old_name: str, old_uniform: str) -> None:
        old = casefold(old_name)
        self.dirty.update((old, place.folded))
        self.renamed.pop(place.folded, None)  # a live name again, not a redirect
        if old != place.folded:
            self.renamed[old] = (place.name, self.me, self.clock() + RENAME_REDIRECT)
            self.renames_due.append((old_name, place.name))
            self.network.moved_to(old_name, "")
        self.network.moved_to(place.name, self.me)
        self._flush()  # now: the other servers route the new name here from this on

    def tick(self, now: float) -> None:
        """Cast what changed since the last tick; expire NAMES requests and redirects."""
        if self.dirty:
            self._flush()
        self.requests.expire()
        if self.renamed:
            wall = self.clock()
            for old in [k for k, (_, _, until) in self.renamed.items() if until < wall]:
                del self.renamed[old]

    def _servers(self) -> list[str]:
        network = self.network
        return [s for s in network.hash_servers if s != self.me and s in network.known]

    def _flush(self) -> None:
        names, self.dirty = self.dirty, set()
        renames, self.renames_due = self.renames_due, []
        servers = self._servers()
        if not servers:
            return
        changed: list[Summary] = []
        gone: list[str] = []
        for folded in sorted(names):
            place = self.registry.place(folded)
            if place is None:
                gone.append(folded)
            else:
                changed.append(summary_of(place, self.me))
        vars = _columns(changed)
        vars[V.LIST_PLACES_GONE] = gone
        if renames:
            vars[V.LIST_PLACES_RENAMED] = [old for old, _ in renames]
            vars[V.LIST_PLACES_RENAMED_NEW] = [new for _, new in renames]
        packet = self.master.stamp(
            Packet(V.NOTICE_DIRECTORY_PLACES, {V.CONTEXT: self.uniform}, vars)
        )
        self.network.cast(packet, servers)

    def request(self, packet: Packet) -> bool:
        """`_request_directory` from another server's root (True: handled)."""
        if not packet.method.startswith(V.REQUEST_DIRECTORY):
            return False
        server = host_of(packet.source)
        if not self.network.in_network(server) or server == self.me:
            return True  # secret channels are listed: for our network's servers only
        if _int(packet.get(V.COUNTER) or "-1") == self.master.counter:
            return True
        vars = _columns([summary_of(p, self.me) for p in self.registry.homed()])
        ours = [(old, new) for old, (new, home, _) in self.renamed.items() if home == self.me]
        if ours:
            vars[V.LIST_PLACES_RENAMED] = [old for old, _ in ours]
            vars[V.LIST_PLACES_RENAMED_NEW] = [new for _, new in ours]
        self.context.send_copy(server, self.master.counter, vars)
        return True

    # -- the replica side

    def snapshot_in(self, packet: Packet) -> None:
        """`_status_directory`: the whole directory of another server."""
        server = host_of(packet.context)
        if not self.network.in_network(server) or server == self.me:
            return
        old = self.replicas.get(server)
        replica = DirectoryReplica(server, old.context if old is not None else None)
        summaries = _summaries(packet, server)
        for summary in summaries:
            replica.places[summary.folded] = summary
        self.replicas[server] = replica
        network = self.network
        for folded in [n for n, home in network.moved.items() if home == server]:
            if folded not in replica.places:
                network.moved_to(folded, "")
        self._learn(packet, server, summaries)
        for cast in self.context.copy_in(server, replica.context, counter_of(packet)):
            self._apply(server, replica, cast)  # what came while the copy was on its way

    def cast_in(self, packet: Packet) -> None:
        if packet.method.startswith(V.STATUS_DIRECTORY):
            self.snapshot_in(packet)
            return
        server = host_of(packet.context)
        if not self.network.in_network(server) or server == self.me:
            return
        replica = self.replicas.get(server)
        if replica is None:
            self.context.ask(server)
            return
        for cast in self.context.offer(server, replica.context, packet):
            self._apply(server, replica, cast)

    def _apply(self, server: str, replica: DirectoryReplica, packet: Packet) -> None:
        """A cast of `server`'s directory, in order: places gone and places changed."""
        for folded in packet.get_list(V.LIST_PLACES_GONE):
            folded = casefold(folded)
            replica.places.pop(folded, None)
            if self.network.moved.get(folded) == server:
                self.network.moved_to(folded, "")
        summaries = _summaries(packet, server)
        for summary in summaries:
            replica.places[summary.folded] = summary
        self._learn(packet, server, summaries)

    def _learn(self, packet: Packet, server: str, summaries: list[Summary]) -> None:
        """Where renamed places of `server` live, and what their old names became."""
        for summary in summaries:
            self.network.moved_to(summary.name, server)  # forgotten where its hash agrees
        until = self.clock() + RENAME_REDIRECT
        for old, new in packet.rows((V.LIST_PLACES_RENAMED, V.LIST_PLACES_RENAMED_NEW)):
            if old and new.startswith("#"):
                self.renamed[casefold(old)] = (new, server, until)

    # -- NAMES of a channel without local members: its home answers

    def members(self, channel: str, done: MembersDone) -> bool:
        """Ask the home of `channel` for its members: `done([(nick, modes, user, host)])`
        later, or `done(None)`.  False (and no call) when the home cannot be asked."""

        def rows(found: list[dict[str, str]] | None) -> None:
            if found is None:
                done(None)
            else:
                done([(r["nick"], r["modes"], r["user"], r["host"]) for r in found])

        return self.who(channel, rows)

    def who(self, channel: str, done: WhoDone, secret: bool = False) -> bool:
        """Ask the home of `channel` for its members with what WHO shows (a dict per
        member, see `WhoDone`), or `done(None)`; `secret`: also for a +s/+p channel
        (an operator with auspex asks).  False (and no call) when the home cannot be
        asked."""
        home = self.network.home_of(channel)
        if not self.requests.can_ask(home):
            return False
        tag = self.requests.tag()
        vars: dict[str, Value] = {V.NICK_PLACE: channel}
        if secret:
            vars[V.FLAG_SECRET] = "1"
        sent = self.router.send(
            Packet(
                V.REQUEST_MEMBERS,
                {V.SOURCE: self.uniform, V.TARGET: f"psyc://{home}/{SERVICE}", V.TAG: tag},
                vars,
            )
        )
        if not sent:
            return False
        self.requests.add(tag, home, done)
        return True

    def receive(self, packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.REQUEST_DIRECTORY):
            self.request(packet)
            return
        if method.startswith(V.REQUEST_MEMBERS):
            self._answer_members(packet)
            return
        request = self.requests.get(packet)
        if request is None:
            return  # late, or not ours
        self.requests.answered_by(request)
        done = request.data
        if not method.startswith(V.STATUS_PLACE_MEMBERS):
            done(None)
            return
        keys = ["nick", *(key for key, _ in _MEMBER_COLUMNS)]
        names = (V.LIST_MEMBERS_NICKS, *(name for _, name in _MEMBER_COLUMNS))
        done([dict(zip(keys, row, strict=True)) for row in packet.rows(names)])

    def _answer_members(self, packet: Packet) -> None:
        routing = {
            V.SOURCE: self.uniform,
            V.TARGET: packet.source,
            V.TAG_RELAY: packet.routing.get(V.TAG, ""),
        }
        name = packet.get(V.NICK_PLACE)
        place = self.registry.place(name)
        hidden = place is not None and place.secret and packet.get(V.FLAG_SECRET) != "1"
        if place is None or hidden or not self.network.in_network(host_of(packet.source)):
            self.router.send(Packet(V.ERROR_UNKNOWN_NAME_PLACE, routing, {V.NICK_PLACE: name}))
            return
        members = list(place.members.values())
        self.router.send(
            Packet(
                V.STATUS_PLACE_MEMBERS,
                routing,
                {
                    V.NICK_PLACE: place.name,
                    V.LIST_MEMBERS_NICKS: [m.nick for m in members],
                    V.LIST_MEMBERS_MODES: [m.modes for m in members],
                    V.LIST_MEMBERS_USERS: [m.user for m in members],
                    V.LIST_MEMBERS_HOSTS: [m.host for m in members],
                    V.LIST_MEMBERS: [m.uniform for m in members],
                    V.LIST_MEMBERS_REALNAMES: [m.realname for m in members],
                    V.LIST_MEMBERS_ACCOUNTS: [m.account for m in members],
                },
            )
        )

    # -- servers coming and going

    def server_lost(self, name: str, boot: str) -> None:
        self.replicas.pop(name, None)
        self.requests.server_lost(name)

    def server_reachable(self, name: str, how: str) -> None:
        if not self.context.is_peer(name):
            return
        replica = self.replicas.get(name)
        # Back within the grace: what we missed; otherwise the whole copy.
        since = replica.last if how == "resume" and replica is not None else -1
        self.context.ask(name, since, again=True)
