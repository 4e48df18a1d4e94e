"""Persons across the network: the replicated roster, remote persons, nick collisions.

Each server is the master of the roster of its own online persons, a context
`psyc://SERVER/$roster`: it casts `_notice_roster_enter`, `_leave`, `_nick` and
`_update` (away, account, modes, realname, host, and `_active`, the time of the
last activity for WHOIS idle, in 30-second steps, and `_ip`, the address, which
only operators with auspex are shown and DLINE <nick> bans) to every other server
of the network, with a `_counter`.  Every server keeps a replica of each other roster
(`RosterReplica`), fetched whole with `_request_roster` / `_status_roster` when a
server becomes reachable or a counter is missing, and dropped when the server is
lost.  So WHOIS, WHO, ISON, USERHOST, MONITOR and LUSERS answer locally, and a
nick is unique network-wide: NICK and registration refuse nicks in any roster.
Remote quits and nick changes, and the persons of a server lost in a netsplit
(`server_lost`), go into the local WHOWAS history.

Two servers that were apart may both have given out a nick.  When a roster
brings a remote person with the nick of a local one, the loser is renamed to a
guest nick (nobody is killed): the one not logged in to the account of that
name, else the one who took the nick later, else the one on the server with the
lower name.  Both servers decide the same, each for its own user.

What users see of all this (away-notify, SETNAME, CHGHOST, operator notices,
the guest nick) is a front-end's: it overrides the hooks of `Roster` (the IRC
front-end's is `ircpsyc.ircd.remote.Roster`).

`RemotePerson` is a `Person` without sessions, so what reads a person (nick,
user, host, realname, account, away, modes, prefix, channels) works unchanged
for persons on other servers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ircpsyc.channels.place import metadata_entries
from ircpsyc.persons.person import ACTIVE_STEP, NO_ADDRESS, Person, PersonObserver, mode_set
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.context import ContextMaster, ContextSlave, ServerContext, counter_of
from ircpsyc.psyc_backend.network import Network, host_of
from ircpsyc.psyc_backend.packet import Packet, Value, columns, number, seconds
from ircpsyc.psyc_backend.uniform import (
    Uniform,
    UniformError,
    casefold,
    is_service,
    key_of,
    normalize,
    person,
)

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceView
    from ircpsyc.persons.directory import PersonDirectory

ROSTER = "$roster"
FIELDS: tuple[str, ...] = ("nick", "user", "host", "realname", "account", "away", "modes")
FIELDS += ("signon", "since", "active")  # active: last activity (WHOIS idle), coarse
FIELDS += ("ip",)  # stays inside the network: for DLINE <nick>, and auspex opers' WHOIS
FIELDS += ("metadata",)  # IRCv3 metadata, a JSON object of key -> value
METADATA_MAX_BYTES = 32_768  # a longer `_metadata` from a peer is ignored
MAX_PENDING = 1000  # casts of another roster kept while its whole copy is on its way
# A snapshot: a person per row, as parallel `_list_*` columns.
SNAPSHOT_COLUMNS: tuple[str, ...] = (V.LIST_MEMBERS, *(f"{V.LIST_PREFIX}{name}" for name in FIELDS))


class RemotePerson(Person):
    """A person on another server, as the command handlers see one (no sessions)."""

    __slots__ = ("nick_time", "server")

    def __init__(
        self,
        directory: PersonDirectory[Any, Any],
        server: str,
        uniform: str,
        fields: dict[str, str],
    ) -> None:
        super().__init__(directory, uniform, "", "", "", "", NO_ADDRESS, 0.0)
        self.server = server
        self.nick_time = 0
        self.update(fields)

    def update(self, fields: dict[str, str]) -> None:
        for name in ("nick", "user", "host", "realname", "account", "away"):
            if name in fields:
                setattr(self, name, fields[name])
        if "modes" in fields:
            self.modes = mode_set(fields["modes"])
        if "signon" in fields:
            self.signon = self.last_active = _time(fields["signon"])
        if "since" in fields:
            self.nick_time = _int(fields["since"])
        if _time(fields.get("active", "")) > 0:
            self.last_active = _time(fields["active"])
        if fields.get("ip"):
            self.ip = fields["ip"]
        if "metadata" in fields:
            self.metadata = metadata_of(fields["metadata"])

    @property
    def channels(self) -> dict[str, PlaceView]:
        """The channels this server knows the person is in (its places and replicas)."""
        key = normalize(self.uniform)
        return {v.folded: v for v in self.directory.places.views() if key in v.members}

    @channels.setter
    def channels(self, value: dict[str, PlaceView]) -> None:
        pass

    def receive(self, packet: Packet) -> None:
        self.directory.router.send(packet.copy(_target=self.uniform))


def _int(text: str, default: int = 0) -> int:
    return number(text, default)


def metadata_text(metadata: dict[str, str]) -> str:
    """A person's metadata as the roster carries it (`{}` for none: never empty, so
    a person that removed its last key is seen to have done so)."""
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)


def metadata_of(text: str) -> dict[str, str]:
    """The metadata another server's roster sent; anything malformed reads as none."""
    if not text or len(text) > METADATA_MAX_BYTES:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return metadata_entries((k, v) for k, v in found.items() if isinstance(v, str))


def _time(text: str) -> float:
    """A time in seconds from another server's roster (0: unknown or malformed)."""
    return float(int(seconds(text, 0.0)))


def fields_of(client: Person, since: int) -> dict[str, str]:
    """What the roster says of a person, `since` the time it took its nick (ms)."""
    return {
        "nick": client.nick,
        "user": client.user,
        "host": client.host,
        "realname": client.realname,
        "account": client.account,
        "away": client.away,
        "modes": "".join(sorted(client.modes)),
        "signon": str(int(client.signon)),
        "since": str(since),
        "active": str(int(client.last_active) // ACTIVE_STEP * ACTIVE_STEP),
        "ip": client.ip,
        "metadata": metadata_text(client.metadata),
    }


def _vars(fields: dict[str, str]) -> dict[str, Value]:
    return {f"_{name}": value for name, value in fields.items()}


def _from_vars(packet: Packet) -> dict[str, str]:
    return {name: packet.get(f"_{name}") for name in FIELDS if f"_{name}" in packet.vars}


class RosterReplica:
    """The persons of one other server, and where its casts stand (`context`, kept
    from one copy of the roster to the next)."""

    def __init__(self, server: str, context: ContextSlave | None = None) -> None:
        self.server = server
        self.context = context if context is not None else ContextSlave(MAX_PENDING)
        self.persons: dict[str, RemotePerson] = {}  # normalized uniform -> person
        self.by_nick: dict[str, RemotePerson] = {}

    @property
    def last(self) -> int:
        """The counter of the last cast applied (-1: none)."""
        last = self.context.last
        return -1 if last is None else last


class Roster(PersonObserver[Person, Any]):
    """This server's roster (master) and the replicas of the others'.

    The hooks at the end (`netjoined` ... `lost_nick`) are what a front-end shows
    its users; here they do nothing.
    """

    def __init__(self, directory: PersonDirectory[Any, Any], network: Network) -> None:
        self.directory = directory
        self.network = network
        self.me = network.me
        self.context = ServerContext(network, directory.router, ROSTER[1:])
        self.uniform = self.context.uniform
        # Counters grow across restarts: they start at the time in microseconds.
        self.master = ContextMaster(int(directory.clock() * 1_000_000))
        # Local person key -> when it took its nick (ms), of those that changed nick:
        # the others took it at sign-on (`_since`).
        self.since: dict[str, int] = {}
        # Local person key -> hash of the last fields sent (a hash, not the fields: a
        # person kept online with no session must cost little, issue 13).  Kept while
        # there are servers to send to; alone, a snapshot request records it.
        self.shown: dict[str, int] = {}
        # Local persons whose fields may differ from what was shown: those told of
        # by `person_changed` since the last sweep (an ordered set).  Only they are
        # swept; kept while no server is there to tell, for when one comes back.
        self.changed: dict[Person, None] = {}
        self.replicas: dict[str, RosterReplica] = {}
        self.collisions = 0
        directory.roster = self

    # -- lookups

    def find(self, folded: str) -> RemotePerson | None:
        for replica in self.replicas.values():
            found = replica.by_nick.get(folded)
            if found is not None:
                return found
        return None

    def find_nick(self, nick: str) -> Person | None:
        """A remote person by nick, or a foreign one by uniform (`psyc://host/~nick`)."""
        if nick[:7].lower() == "psyc://":
            return self._foreign(nick)
        return self.find(casefold(nick))

    def _foreign(self, text: str) -> Person | None:
        try:
            uniform = Uniform.parse(text)
        except UniformError:
            return None
        if not uniform.is_person or not self.network.is_reachable(uniform.host):
            return None
        if uniform.host == self.network.me:
            return self.directory.local_person(uniform.name)
        known = self.by_uniform(str(uniform))
        if known is not None:
            return known
        return RemotePerson(
            self.directory,
            uniform.host,
            str(uniform),
            {"nick": str(uniform), "user": uniform.name, "host": uniform.host},
        )

    def by_uniform(self, uniform: str) -> RemotePerson | None:
        replica = self.replicas.get(host_of(uniform))
        return replica.persons.get(normalize(uniform)) if replica is not None else None

    def persons(self) -> Iterator[RemotePerson]:
        for replica in self.replicas.values():
            yield from replica.persons.values()

    # -- the master side: casts about local persons

    def _servers(self) -> list[str]:
        network = self.network
        return [s for s in network.hash_servers if s != self.me and s in network.known]

    def _cast(self, method: str, source: str, vars: dict[str, Value]) -> None:
        packet = Packet(method, {V.CONTEXT: self.uniform, V.SOURCE_RELAY: source}, vars)
        packet = self.master.stamp(packet)
        servers = self._servers()
        if servers:
            self.network.cast(packet, servers)

    def _since(self, client: Person, key: str = "") -> int:
        """When `client` took its nick (ms): at sign-on, unless it changed nick since.
        (Nothing per person for most, and no key made while nobody changed nick.)"""
        since = self.since
        if since:
            found = since.get(key or key_of(client.uniform))
            if found is not None:
                return found
        return int(client.signon * 1000)

    def person_online(self, client: Person) -> None:
        fields = fields_of(client, self._since(client))
        if self._servers():
            self.shown[key_of(client.uniform)] = hash(tuple(fields.values()))
        self._cast(V.NOTICE_ROSTER_ENTER, client.uniform, _vars(fields))
        self._check_local(client)

    def person_renamed(self, client: Person, old_nick: str) -> None:
        old_uniform = person(self.me, old_nick)
        old_key = normalize(old_uniform)
        self.since.pop(old_key, None)
        self.shown.pop(old_key, None)
        since = self.since[normalize(client.uniform)] = int(self.directory.clock() * 1000)
        fields = fields_of(client, since)
        self.shown[normalize(client.uniform)] = hash(tuple(fields.values()))
        vars = _vars(fields)
        vars[V.UNIFORM_NEW] = client.uniform
        self._cast(V.NOTICE_ROSTER_NICK, old_uniform, vars)
        self._check_local(client)

    def person_offline(self, client: Person) -> None:
        self.changed.pop(client, None)
        key = key_of(client.uniform)
        self.since.pop(key, None)
        self.shown.pop(key, None)
        reason = client.quit_reason  # for the operators' far-exit notices
        vars: dict[str, Value] = {V.NICK: client.nick, V.REASON: reason}
        self._cast(V.NOTICE_ROSTER_LEAVE, client.uniform, vars)

    def account_changed(self, client: Person, old_account: str) -> None:
        self._update(client)

    def away_changed(self, client: Person) -> None:
        self._update(client)

    def metadata_changed(self, client: Person) -> None:
        self._update(client)

    def local_person(self, nick: str) -> Person | None:
        """A person of this server: of a session here, or a gateway (XMPP) user."""
        return self.directory.local_person(nick)

    def _locals(self) -> list[Person]:
        directory = self.directory
        found: list[Person] = [*directory.clients.values(), *directory.gateway_users.values()]
        return [c for c in found if not is_service(c.uniform)]

    def _update(self, client: Person) -> None:
        key = normalize(client.uniform)
        if self.local_person(client.nick) is not client:
            return
        fields = fields_of(client, self._since(client, key))
        values = hash(tuple(fields.values()))
        if self.shown.get(key) == values:
            return
        self.shown[key] = values
        self._cast(V.NOTICE_ROSTER_UPDATE, client.uniform, _vars(fields))

    def person_changed(self, client: Person) -> None:
        """Its modes, host, realname or activity step changed (`PersonDirectory.changed`):
        compared at the next sweep (several changes in a second make one cast)."""
        self.changed[client] = None

    def tick(self, now: float) -> None:
        """Modes, realname, host and activity change without a hook of ours: send what
        differs of the persons that changed (an idle person costs the sweep nothing)."""
        changed = self.changed
        if not changed or not self._servers():
            # Nobody to tell (a network of one, or every server away): what changed
            # waits.  A server that comes asks for a snapshot of what is current
            # (`request`, which records what `_update` compares with); what changed
            # before, and after, goes out at the sweeps that follow.
            return
        self.changed = {}
        for client in changed:
            if not is_service(client.uniform):
                self._update(client)

    # -- snapshots

    def request(self, packet: Packet) -> bool:
        """`_request_roster` from another server (True: handled)."""
        if not packet.method.startswith(V.REQUEST_ROSTER):
            return False
        server = host_of(packet.source)
        if not self.network.in_network(server) or server == self.me:
            return True  # the roster (with addresses) is for servers of the network only
        since = _int(packet.get(V.COUNTER), -1)
        if since == self.master.counter:
            return True
        rows = []
        shown = self.shown
        for client in self._locals():
            key = normalize(client.uniform)
            fields = fields_of(client, self._since(client, key))
            shown[key] = hash(tuple(fields.values()))  # what `_update` compares with
            rows.append((client.uniform, *(fields[name] for name in FIELDS)))
        self.context.send_copy(server, self.master.counter, columns(SNAPSHOT_COLUMNS, rows))
        return True

    def snapshot_in(self, packet: Packet) -> None:
        server = host_of(packet.context)
        if not self.network.in_network(server) or server == self.me:
            return
        old = self.replicas.get(server)
        replica = RosterReplica(server, old.context if old is not None else None)
        for uniform, *values in packet.rows(SNAPSHOT_COLUMNS):
            fields = dict(zip(FIELDS, values, strict=True))
            found = RemotePerson(self.directory, server, uniform, fields)
            replica.persons[normalize(uniform)] = found
            replica.by_nick[casefold(found.nick)] = found
        self.replicas[server] = replica
        waiting = self.context.copy_in(server, replica.context, counter_of(packet))
        if old is None:  # a netjoin: one notice, not one per person
            self.netjoined(server, len(replica.persons))
        previous = old.by_nick if old is not None else {}
        for folded, gone in previous.items():
            if folded not in replica.by_nick and self.find(folded) is None:
                self._offline(gone.nick)
        for folded, found in replica.by_nick.items():
            if folded not in previous:
                self._online(found)
        for cast in waiting:  # what came while the copy was on its way
            self._apply(server, replica, cast)

    # -- the replica side: casts from other rosters

    def cast_in(self, packet: Packet) -> None:
        server = host_of(packet.context)
        replica = self.replicas.get(server)
        if replica is None:
            if self.context.is_peer(server):
                self.context.ask(server)
            return
        for cast in self.context.offer(server, replica.context, packet):
            self._apply(server, replica, cast)

    def _apply(self, server: str, replica: RosterReplica, packet: Packet) -> None:
        """A cast of `server`'s roster, in order."""
        method = packet.method
        relay = packet.routing.get(V.SOURCE_RELAY, "")
        key = normalize(relay)
        if method.startswith(V.NOTICE_ROSTER_ENTER):
            found = RemotePerson(self.directory, server, relay, _from_vars(packet))
            self._forget(replica, key)
            replica.persons[key] = found
            replica.by_nick[casefold(found.nick)] = found
            self._online(found)
            self.connected_far(found)
            if found.metadata:
                self.metadata_changed_far(found, {}, found.metadata)
        elif method.startswith(V.NOTICE_ROSTER_LEAVE):
            gone = self._forget(replica, key)
            if gone is not None:
                self._remember(gone)
                self.exited_far(gone, packet.get(V.REASON))
            if gone is not None and self.find(casefold(gone.nick)) is None:
                self._offline(gone.nick)
        elif method.startswith(V.NOTICE_ROSTER_NICK):
            gone = self._forget(replica, key)
            new_uniform = packet.get(V.UNIFORM_NEW) or relay
            found = RemotePerson(self.directory, server, new_uniform, _from_vars(packet))
            replica.persons[normalize(new_uniform)] = found
            replica.by_nick[casefold(found.nick)] = found
            if gone is not None:
                self._remember(gone)
                self._offline(gone.nick)
            self._online(found)
        elif method.startswith(V.NOTICE_ROSTER_UPDATE):
            person_now = replica.persons.get(key)
            if person_now is not None:
                away, old_prefix = person_now.away, person_now.prefix
                realname, user, host = person_now.realname, person_now.user, person_now.host
                metadata = person_now.metadata
                person_now.update(_from_vars(packet))
                if person_now.metadata != metadata:
                    self.metadata_changed_far(person_now, metadata, person_now.metadata)
                if person_now.away != away:
                    self.away_changed_far(person_now)
                if person_now.realname != realname:
                    self.realname_changed_far(person_now)
                if (person_now.user, person_now.host) != (user, host):
                    self.host_changed_far(person_now, old_prefix)
                    self._rehost(person_now)

    def _rehost(self, found: RemotePerson) -> None:
        """A new user or host (+x/-x): the channel views here show it from now on
        (the home updates its own; replicas hear it only from the roster)."""
        for view in found.channels.values():
            member = view.member(found.uniform)
            if member is not None:
                member.user, member.host = found.user, found.host

    def _forget(self, replica: RosterReplica, key: str) -> RemotePerson | None:
        gone = replica.persons.pop(key, None)
        if gone is not None and replica.by_nick.get(casefold(gone.nick)) is gone:
            del replica.by_nick[casefold(gone.nick)]
        return gone

    # -- MONITOR and collisions

    def _online(self, found: RemotePerson) -> None:
        local = self.local_person(found.nick)
        if local is not None and local is not found:
            self._collide(local, found)
        self.directory.announce_online(found)

    def _offline(self, nick: str) -> None:
        if self.directory.find(nick) is None:
            self.directory.announce_offline(nick)

    def _remember(self, gone: RemotePerson) -> None:
        """A remote nick that quit or changed: for WHOWAS here too."""
        self.directory.remember(gone, gone.server)

    def _check_local(self, client: Person) -> None:
        found = self.find(casefold(client.nick))
        if found is not None:
            self._collide(client, found)

    def _collide(self, local: Person, found: RemotePerson) -> None:
        """Two persons with one nick: rename ours if it loses (the other server decides
        the same for its own)."""
        if not loses(local, self._since(local), self.me, found):
            return
        if not local.sessions:
            return
        self.collisions += 1
        self.lost_nick(local, found)

    # -- servers coming and going

    def server_lost(self, name: str, boot: str) -> None:
        replica = self.replicas.pop(name, None)
        if replica is None:
            return
        self.netsplit(name, len(replica.persons))  # one notice, not one each
        for found in replica.persons.values():
            self._remember(found)  # left in the netsplit: WHOWAS knows them, with their server
            self._offline(found.nick)

    def server_reachable(self, name: str, how: str) -> None:
        if not self.network.in_network(name) or name == self.me:
            return
        replica = self.replicas.get(name)
        # Back within the grace: what we missed; otherwise the whole copy.
        since = replica.last if how == "resume" and replica is not None else -1
        self.context.ask(name, since, again=True)

    # -- counts

    def counts(self) -> dict[str, int]:
        persons = list(self.persons())
        invisible = sum(1 for p in persons if "i" in p.modes)
        return {
            "users": len(persons) - invisible,
            "invisible": invisible,
            "opers": sum(1 for p in persons if "o" in p.modes),
        }

    # -- what a front-end shows (nothing here)

    def netjoined(self, server: str, persons: int) -> None:
        """A server's roster arrived for the first time (a netjoin)."""

    def netsplit(self, server: str, persons: int) -> None:
        """A server and its persons were lost."""

    def connected_far(self, found: RemotePerson) -> None:
        """A person came online on another server."""

    def exited_far(self, found: RemotePerson, reason: str) -> None:
        """A person of another server went offline."""

    def away_changed_far(self, found: RemotePerson) -> None:
        """A remote person set or cleared AWAY."""

    def metadata_changed_far(
        self, found: RemotePerson, old: dict[str, str], new: dict[str, str]
    ) -> None:
        """A remote person's metadata changed from `old` to `new`."""

    def realname_changed_far(self, found: RemotePerson) -> None:
        """A remote person's realname changed."""

    def host_changed_far(self, found: RemotePerson, old_prefix: str) -> None:
        """A remote person's user or host changed (+x/-x)."""

    def lost_nick(self, local: Person, found: RemotePerson) -> None:
        """The local person `local` lost its nick to `found`: rename it."""


def loses(local: Person, local_since: int, me: str, remote: RemotePerson) -> bool:
    """Whether the local person loses the nick to the remote one."""
    local_owns = bool(local.account) and casefold(local.account) == casefold(local.nick)
    remote_owns = bool(remote.account) and casefold(remote.account) == casefold(remote.nick)
    if local_owns != remote_owns:
        return not local_owns
    if local_since != remote.nick_time:
        return local_since > remote.nick_time
    return me < remote.server
