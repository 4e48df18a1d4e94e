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
(`server_lost`), go into the local WHOWAS history; changes of
realname or host are shown (SETNAME, CHGHOST) to local members sharing a channel.
Operators with snomask F see each remote connect and exit (`_notice_roster_leave`
carries the quit `_reason`), and one summary per server for a netsplit (a
replica dropped) or a netjoin (a first snapshot) instead of one per person; a
snapshot that refreshes a replica (after a gap) announces nobody.

Two servers that were apart may both have given out a nick.  When a roster
brings a remote person with the nick of a local one, the loser is renamed to a
guest nick (nobody is killed): the one not logged in to the account of that
name, else the one who took the nick later, else the one on the server with the
lower name.  Both servers decide the same, each for its own user.

`RemotePerson` is a `Client` without sessions, so command handlers that read a
person (nick, user, host, realname, account, away, modes, prefix, channels) work
unchanged for persons on other servers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ircpsyc.channels.place import Place
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import PersonObserver
from ircpsyc.ircd.lines import line
from ircpsyc.psyc_backend.network import Network, host_of
from ircpsyc.psyc_backend.packet import Packet, Value, number, seconds
from ircpsyc.psyc_backend.server_context import ServerContext
from ircpsyc.psyc_backend.uniform import Uniform, UniformError, casefold, normalize, person

if TYPE_CHECKING:
    from ircpsyc.channels.directory import Directory
    from ircpsyc.channels.replica import Replicas
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.ircd.serverinfo import ServerInfo
    from ircpsyc.services.awaylog_net import NetAwayLog
    from ircpsyc.services.history_net import NetHistory

log = logging.getLogger(__name__)

ROSTER = "$roster"
FIELDS: tuple[str, ...] = ("nick", "user", "host", "realname", "account", "away", "modes")
FIELDS += ("signon", "since", "active")  # active: last activity (WHOIS idle), coarse
FIELDS += ("ip",)  # stays inside the network: for DLINE <nick>, and auspex opers' WHOIS
ACTIVE_STEP = 30  # seconds: idle times are coarse, so the roster is not cast per line


class RemotePerson(Client):
    """A person on another server, as the command handlers see one (no sessions)."""

    __slots__ = ("nick_time", "server")

    def __init__(self, core: IRCServer, server: str, uniform: str, fields: dict[str, str]) -> None:
        # Not Client.__init__: there is no session behind a remote person.
        self._init_detached(core, uniform, "", "", "", "", "255.255.255.255", 0.0)
        self.server = server
        self.nick_time = 0
        self.update(fields)

    def update(self, fields: dict[str, str]) -> None:
        for name in ("nick", "user", "host", "realname", "account", "away"):
            if name in fields:
                setattr(self, name, fields[name])
        if "modes" in fields:
            self.modes = set(fields["modes"])
        if "signon" in fields:
            self.signon = self.last_active = _time(fields["signon"])
        if "since" in fields:
            self.nick_time = _int(fields["since"])
        if _time(fields.get("active", "")) > 0:
            self.last_active = _time(fields["active"])
        if fields.get("ip"):
            self.ip = fields["ip"]

    @property
    def channels(self) -> dict[str, Place]:
        """The channels this server knows the person is in (its places and replicas)."""
        key = normalize(self.uniform)
        return {v.folded: v for v in self.core.places.views() if key in v.members}

    @channels.setter
    def channels(self, value: dict[str, Place]) -> None:
        pass

    def send(self, data: bytes) -> None:
        pass

    def receive(self, packet: Packet) -> None:
        self.core.router.send(packet.copy(_target=self.uniform))


def _int(text: str, default: int = 0) -> int:
    return number(text, default)


def _time(text: str) -> float:
    """A time in seconds from another server's roster (0: unknown or malformed)."""
    return float(int(seconds(text, 0.0)))


def _fields_of(client: Client, since: int) -> dict[str, str]:
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
    }


def _vars(fields: dict[str, str]) -> dict[str, Value]:
    return {f"_{name}": value for name, value in fields.items()}


def _from_vars(packet: Packet) -> dict[str, str]:
    return {name: packet.get(f"_{name}") for name in FIELDS if f"_{name}" in packet.vars}


class RosterReplica:
    """The persons of one other server."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.last = -1
        self.persons: dict[str, RemotePerson] = {}  # normalized uniform -> person
        self.by_nick: dict[str, RemotePerson] = {}


class Roster(PersonObserver):
    """This server's roster (master) and the replicas of the others'."""

    def __init__(self, core: IRCServer, network: Network) -> None:
        self.core = core
        self.network = network
        self.me = network.me
        self.context = ServerContext(network, core.router, ROSTER[1:])
        self.uniform = self.context.uniform
        self.counter = int(core.clock() * 1_000_000)
        self.since: dict[str, int] = {}  # local person key -> when it took its nick (ms)
        self.shown: dict[str, tuple[str, ...]] = {}  # local person key -> last fields sent
        self.replicas: dict[str, RosterReplica] = {}
        self.collisions = 0
        core.person_observers.append(self)
        core.tickers.append(self.tick)
        network.listeners.append(self)

    # -- lookups

    def find(self, folded: str) -> RemotePerson | None:
        for replica in self.replicas.values():
            found = replica.by_nick.get(folded)
            if found is not None:
                return found
        return None

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
        self.counter += 1
        packet = Packet(
            method,
            {"_context": self.uniform, "_counter": str(self.counter), "_source_relay": source},
            vars,
        )
        servers = self._servers()
        if servers:
            self.network.cast(packet, servers)

    def _since(self, client: Client) -> int:
        key = normalize(client.uniform)
        since = self.since.get(key)
        if since is None:
            since = self.since[key] = int(self.core.clock() * 1000)
        return since

    def person_online(self, client: Client) -> None:
        fields = _fields_of(client, self._since(client))
        self.shown[normalize(client.uniform)] = tuple(fields.values())
        self._cast("_notice_roster_enter", client.uniform, _vars(fields))
        self._check_local(client)

    def person_renamed(self, client: Client, old_nick: str) -> None:
        old_uniform = person(self.me, old_nick)
        old_key = normalize(old_uniform)
        self.since.pop(old_key, None)
        self.shown.pop(old_key, None)
        since = self.since[normalize(client.uniform)] = int(self.core.clock() * 1000)
        fields = _fields_of(client, since)
        self.shown[normalize(client.uniform)] = tuple(fields.values())
        vars = _vars(fields)
        vars["_uniform_new"] = client.uniform
        self._cast("_notice_roster_nick", old_uniform, vars)
        self._check_local(client)

    def person_offline(self, client: Client) -> None:
        key = normalize(client.uniform)
        self.since.pop(key, None)
        self.shown.pop(key, None)
        reason = getattr(client, "quit_reason", "")  # for the operators' far-exit notices
        vars: dict[str, Value] = {"_nick": client.nick, "_reason": reason}
        self._cast("_notice_roster_leave", client.uniform, vars)

    def account_changed(self, client: Client, old_account: str) -> None:
        self._update(client)

    def away_changed(self, client: Client) -> None:
        self._update(client)

    def local_person(self, nick: str) -> Client | None:
        """A person of this server: an IRC client or a gateway (XMPP) user."""
        folded = casefold(nick)
        return self.core.clients.get(folded) or self.core.gateway_users.get(folded)

    def _locals(self) -> list[Client]:
        core = self.core
        found = [*core.clients.values(), *core.gateway_users.values()]
        return [c for c in found if "/$" not in c.uniform]

    def _update(self, client: Client) -> None:
        key = normalize(client.uniform)
        if self.local_person(client.nick) is not client:
            return
        fields = _fields_of(client, self._since(client))
        values = tuple(fields.values())
        if self.shown.get(key) == values:
            return
        self.shown[key] = values
        self._cast("_notice_roster_update", client.uniform, _vars(fields))

    def tick(self, now: float) -> None:
        """Modes, realname and host change without a hook: send what differs."""
        for client in self._locals():
            self._update(client)

    # -- snapshots

    def request(self, packet: Packet) -> bool:
        """`_request_roster` from another server (True: handled)."""
        if not packet.method.startswith("_request_roster"):
            return False
        server = host_of(packet.source)
        if not self.network.in_network(server) or server == self.me:
            return True  # the roster (with addresses) is for servers of the network only
        since = _int(packet.get("_counter"), -1)
        if since == self.counter:
            return True
        clients = self._locals()
        columns: dict[str, Value] = {"_list_members": [c.uniform for c in clients]}
        rows = [_fields_of(c, self._since(c)) for c in clients]
        for name in FIELDS:
            columns[f"_list_{name}"] = [row[name] for row in rows]
        self.context.send_copy(server, self.counter, columns)
        return True

    def snapshot_in(self, packet: Packet) -> None:
        server = host_of(packet.context)
        if not self.network.in_network(server) or server == self.me:
            return
        old = self.replicas.get(server)
        replica = RosterReplica(server)
        replica.last = _int(packet.routing.get("_counter", ""), -1)
        uniforms = packet.get_list("_list_members")
        columns = {name: packet.get_list(f"_list_{name}") for name in FIELDS}
        for index, uniform in enumerate(uniforms):
            fields = {
                name: (values[index] if index < len(values) else "")
                for name, values in columns.items()
            }
            found = RemotePerson(self.core, server, uniform, fields)
            replica.persons[normalize(uniform)] = found
            replica.by_nick[casefold(found.nick)] = found
        self.replicas[server] = replica
        self.context.got_copy(server)
        if old is None:  # a netjoin: one notice, not one per person
            self.core.moderation.netjoin(server, len(replica.persons))
        previous = old.by_nick if old is not None else {}
        for folded, gone in previous.items():
            if folded not in replica.by_nick and self.find(folded) is None:
                self._offline(gone.nick)
        for folded, found in replica.by_nick.items():
            if folded not in previous:
                self._online(found)

    # -- the replica side: casts from other rosters

    def cast_in(self, packet: Packet) -> None:
        server = host_of(packet.context)
        replica = self.replicas.get(server)
        if replica is None:
            if self.context.is_peer(server):
                self.context.ask(server)
            return
        counter = _int(packet.routing.get("_counter", ""), -1)
        if not self.context.in_order(server, replica.last, counter):
            return
        replica.last = counter
        method = packet.method
        relay = packet.routing.get("_source_relay", "")
        key = normalize(relay)
        if method.startswith("_notice_roster_enter"):
            found = RemotePerson(self.core, server, relay, _from_vars(packet))
            self._forget(replica, key)
            replica.persons[key] = found
            replica.by_nick[casefold(found.nick)] = found
            self._online(found)
            self.core.moderation.far_connect(found)
        elif method.startswith("_notice_roster_leave"):
            gone = self._forget(replica, key)
            if gone is not None:
                self._remember(gone)
                self.core.moderation.far_exit(gone, packet.get("_reason"))
            if gone is not None and self.find(casefold(gone.nick)) is None:
                self._offline(gone.nick)
        elif method.startswith("_notice_roster_nick"):
            gone = self._forget(replica, key)
            new_uniform = packet.get("_uniform_new") or relay
            found = RemotePerson(self.core, server, new_uniform, _from_vars(packet))
            replica.persons[normalize(new_uniform)] = found
            replica.by_nick[casefold(found.nick)] = found
            if gone is not None:
                self._remember(gone)
                self._offline(gone.nick)
            self._online(found)
        elif method.startswith("_notice_roster_update"):
            person_now = replica.persons.get(key)
            if person_now is not None:
                away, old_prefix = person_now.away, person_now.prefix
                realname, user, host = person_now.realname, person_now.user, person_now.host
                person_now.update(_from_vars(packet))
                if person_now.away != away:
                    self._away_changed(person_now)
                if person_now.realname != realname:
                    self._tell_sharing(person_now, person_now.prefix, "SETNAME")
                if (person_now.user, person_now.host) != (user, host):
                    self._tell_sharing(person_now, old_prefix, "CHGHOST")
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

    # -- MONITOR, away-notify and collisions

    def _online(self, found: RemotePerson) -> None:
        local = self.local_person(found.nick)
        if local is not None and local is not found:
            self._collide(local, found)
        self.core.announce_online(found)

    def _offline(self, nick: str) -> None:
        if self.core.find(nick) is None:
            self.core.announce_offline(nick)

    def _away_changed(self, found: RemotePerson) -> None:
        from ircpsyc.ircd import caps as C

        data = line(found.prefix, "AWAY", *([found.away] if found.away else []))
        self._to_sharing(found, data, C.AWAY_NOTIFY)

    def _to_sharing(self, found: RemotePerson, data: bytes, cap: str) -> None:
        """`data` to the local members sharing a channel with `found` who have `cap`
        (and to its extended-monitor watchers), once each."""
        done: set[int] = set(self.core.notify_watchers(found, data, cap))
        for view in found.channels.values():
            for member in view.members.values():
                client = member.route
                if isinstance(client, Client) and id(client) not in done:
                    done.add(id(client))
                    for session in client.sessions:
                        if cap in session.caps:
                            session.send(data)

    def _remember(self, gone: RemotePerson) -> None:
        """A remote nick that quit or changed: for WHOWAS here too."""
        from ircpsyc.ircd.core import WhowasEntry

        self.core.whowas.appendleft(
            WhowasEntry(
                gone.nick, gone.user, gone.host, gone.realname, gone.server, self.core.clock()
            )
        )

    def _tell_sharing(self, found: RemotePerson, prefix: str, verb: str) -> None:
        """SETNAME / CHGHOST of a remote person, to the local members sharing a channel
        with it who have the cap (and extended-monitor watchers)."""
        from ircpsyc.ircd import caps as C

        cap = C.SETNAME if verb == "SETNAME" else C.CHGHOST
        params = (found.realname,) if verb == "SETNAME" else (found.user, found.host)
        self._to_sharing(found, line(prefix, verb, *params), cap)

    def _check_local(self, client: Client) -> None:
        found = self.find(casefold(client.nick))
        if found is not None:
            self._collide(client, found)

    def _collide(self, local: Client, found: RemotePerson) -> None:
        """Two persons with one nick: rename ours if it loses (the other server decides
        the same for its own)."""
        if not _loses(local, self.since.get(normalize(local.uniform), 0), self.me, found):
            return
        from ircpsyc.ircd.commands.account import guest_nick

        if not local.sessions:
            return
        self.collisions += 1
        old = local.nick
        new = guest_nick(self.core, local.session)
        if not new:
            return
        log.info("nick collision: %s here and on %s; renaming ours to %s", old, found.server, new)
        for session in local.sessions:
            session.note(
                f"Nick collision: {old} is also in use on {found.server}; you are now {new}"
            )
        local.rename(new)

    # -- servers coming and going

    def server_lost(self, name: str, boot: str) -> None:
        replica = self.replicas.pop(name, None)
        if replica is None:
            return
        self.core.moderation.netsplit(name, len(replica.persons))  # one notice, not one each
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


def _loses(local: Client, local_since: int, me: str, remote: RemotePerson) -> bool:
    """Whether the local person loses the nick to the remote one."""
    local_owns = bool(local.account) and casefold(local.account) == casefold(local.nick)
    remote_owns = bool(remote.account) and casefold(remote.account) == casefold(remote.nick)
    if local_owns != remote_owns:
        return not local_owns
    if local_since != remote.nick_time:
        return local_since > remote.nick_time
    return me < remote.server


class NetFront:
    """What the IRC front-end asks the network (installed as `IRCServer.net`)."""

    def __init__(
        self, core: IRCServer, network: Network, roster: Roster, replicas: Replicas
    ) -> None:
        self.core = core
        self.network = network
        self.roster = roster
        self.replicas = replicas
        self.history: NetHistory | None = None  # channels' history at their homes
        self.directory: Directory | None = None  # every channel of the network (LIST)
        self.awaylog: NetAwayLog | None = None  # accounts' away logs at their homes
        self.info: ServerInfo | None = None  # VERSION, MOTD, ... of other servers

    def find(self, nick: str) -> Client | None:
        """A remote person by nick, or a foreign one by uniform (`psyc://host/~nick`)."""
        if nick[:7].lower() == "psyc://":
            return self._foreign(nick)
        return self.roster.find(casefold(nick))

    def _foreign(self, text: str) -> Client | None:
        try:
            uniform = Uniform.parse(text)
        except UniformError:
            return None
        if not uniform.is_person or not self.network.is_reachable(uniform.host):
            return None
        if uniform.host == self.network.me:
            return self.roster.local_person(uniform.name)
        known = self.roster.by_uniform(str(uniform))
        if known is not None:
            return known
        return RemotePerson(
            self.core,
            uniform.host,
            str(uniform),
            {"nick": str(uniform), "user": uniform.name, "host": uniform.host},
        )

    def nick_in_use(self, folded: str) -> bool:
        return self.roster.find(folded) is not None

    def persons(self) -> Iterable[Client]:
        return self.roster.persons()

    def place_uniform(self, channel: str) -> str:
        """The uniform of a channel: at its home, or given as `#psyc://host/@name`."""
        from ircpsyc.psyc_backend.uniform import place

        if channel[1:8].lower() == "psyc://":
            return channel[1:]
        return place(self.network.home_of(channel), channel[1:])

    def foreign_place(self, channel: str) -> str:
        """The uniform of `#psyc://host/@name` (a place on any reachable PSYC server)."""
        if channel[1:8].lower() != "psyc://":
            return ""
        try:
            uniform = Uniform.parse(channel[1:])
        except UniformError:
            return ""
        if not uniform.is_place or any(c in channel for c in " ,\x07\r\n\0"):
            return ""
        return str(uniform)

    def can_reach(self, uniform: str) -> bool:
        host = host_of(uniform)
        return host == self.network.me or self.network.is_reachable(host)

    def split_off(self, uniform: str) -> str:
        """The host of `uniform` if it is gone past the split grace (or was never seen):
        what is sent there would wait for its return, so senders are told instead."""
        host = host_of(uniform)
        network = self.network
        if host == network.me or network.is_reachable(host):  # foreign hosts: on demand
            return ""
        return host if host in network.split or host not in network.known else ""

    def servers(self) -> list[tuple[str, str, int]]:
        """(server, its parent in our tree, hops) of every reachable server."""
        network = self.network
        tree = network.topology.tree(network.me)
        out = []
        for name in sorted(network.reachable):
            out.append((name, tree.get(name, "") or network.me, network.topology.hops(name)))
        return out

    def counts(self) -> dict[str, int]:
        """Persons on the other servers, the servers, and the channels LIST can show
        that are not homed here (secret ones too: LUSERS counts, LIST hides)."""
        counts = self.roster.counts()
        counts["servers"] = len(self.network.reachable)
        channels = self.directory.count() if self.directory is not None else 0
        # Places on PSYC servers outside the network are in no directory.
        channels += sum(1 for r in self.replicas.by_name.values() if r.federated)
        counts["channels"] = channels
        return counts

    def stats(self) -> dict[str, Any]:
        snapshot = self.network.snapshot()
        snapshot["replicas"] = self.replicas.snapshot()
        snapshot["persons"] = sum(len(r.persons) for r in self.roster.replicas.values())
        snapshot["collisions"] = self.roster.collisions
        nickserv = self.core.nickserv
        if nickserv is not None:  # ircpsyc.services.account_sync
            snapshot["accounts"] = nickserv.sync.snapshot()
        if self.history is not None:
            snapshot["history"] = self.history.snapshot()
        if self.awaylog is not None:
            snapshot["awaylog"] = self.awaylog.snapshot()
        return snapshot
