"""The IRC front-end's side of the network: how remote persons show, and `NetFront`.

The network roster itself (which persons are on which server, nick collisions)
is protocol-neutral and lives in `ircpsyc.persons.roster`; `Roster` here is
that roster as IRC users see it: a remote AWAY, SETNAME or CHGHOST goes to the
local members sharing a channel who negotiated the capability (and to
extended-monitor watchers), operators with snomask F see each remote connect
and exit and one summary per netsplit or netjoin, and a local person that
loses a nick collision is renamed to a guest nick and told why.

`NetFront` is what the IRC front-end asks the network (`IRCServer.net`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ircpsyc.ircd import caps as C
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.names import guest_nick
from ircpsyc.persons.person import Person
from ircpsyc.persons.roster import RemotePerson
from ircpsyc.persons.roster import Roster as NetworkRoster
from ircpsyc.psyc_backend.network import Network, host_of
from ircpsyc.psyc_backend.uniform import Uniform, UniformError, place

if TYPE_CHECKING:
    from ircpsyc.channels.directory import Directory
    from ircpsyc.channels.replica import Replicas
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.ircd.serverinfo import ServerInfo
    from ircpsyc.services.awaylog_net import NetAwayLog
    from ircpsyc.services.history_net import NetHistory


log = logging.getLogger(__name__)


class Roster(NetworkRoster):
    """The network roster (`ircpsyc.persons.roster.Roster`) shown to IRC users."""

    def __init__(self, core: IRCServer, network: Network) -> None:
        super().__init__(core.persons, network)
        self.core = core

    def netjoined(self, server: str, persons: int) -> None:
        self.core.moderation.netjoin(server, persons)

    def netsplit(self, server: str, persons: int) -> None:
        self.core.moderation.netsplit(server, persons)

    def connected_far(self, found: RemotePerson) -> None:
        self.core.moderation.far_connect(found)

    def exited_far(self, found: RemotePerson, reason: str) -> None:
        self.core.moderation.far_exit(found, reason)

    def away_changed_far(self, found: RemotePerson) -> None:
        data = line(found.prefix, "AWAY", *([found.away] if found.away else []))
        self._to_sharing(found, data, C.AWAY_NOTIFY)

    def realname_changed_far(self, found: RemotePerson) -> None:
        self._to_sharing(found, line(found.prefix, "SETNAME", found.realname), C.SETNAME)

    def host_changed_far(self, found: RemotePerson, old_prefix: str) -> None:
        self._to_sharing(found, line(old_prefix, "CHGHOST", found.user, found.host), C.CHGHOST)

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

    def lost_nick(self, local: Person, found: RemotePerson) -> None:
        if not isinstance(local, Client):
            return
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


class NetFront:
    """What the IRC front-end asks the network (installed as `IRCServer.net`, which the
    core types with the protocol `ircpsyc.ircd.net_port.NetPort`)."""

    def __init__(
        self,
        core: IRCServer,
        network: Network,
        roster: Roster,
        replicas: Replicas,
        history: NetHistory,
        directory: Directory,
        awaylog: NetAwayLog,
        info: ServerInfo,
    ) -> None:
        self.core = core
        self.network = network
        self.roster = roster
        self.replicas = replicas
        self.history = history  # channels' history at their homes
        self.directory = directory  # every channel of the network (LIST)
        self.awaylog = awaylog  # accounts' away logs at their homes
        self.info = info  # VERSION, MOTD, ... of other servers
        self.local = f"psyc://{network.me}/"  # uniforms here (a fast path per line)

    def find(self, nick: str) -> Person | None:
        """A remote person by nick, or a foreign one by uniform (`psyc://host/~nick`)."""
        return self.roster.find_nick(nick)

    def nick_in_use(self, folded: str) -> bool:
        return self.roster.find(folded) is not None

    def persons(self) -> Iterable[Person]:
        return self.roster.persons()

    def place_uniform(self, channel: str) -> str:
        """The uniform of a channel: at its home, or given as `#psyc://host/@name`."""
        if channel[1:8].lower() == "psyc://" and self.network.foreign is not None:
            return channel[1:]
        return place(self.network.home_of(channel), channel[1:])

    def foreign_place(self, channel: str) -> str:
        """The uniform of `#psyc://host/@name` (a place on any reachable PSYC server);
        "" from a server started with no links, which federates with nothing."""
        if channel[1:8].lower() != "psyc://" or self.network.foreign is None:
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
        if uniform.startswith(self.local):
            return ""
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
        channels = self.directory.count()
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
        snapshot["history"] = self.history.snapshot()
        snapshot["awaylog"] = self.awaylog.snapshot()
        return snapshot
