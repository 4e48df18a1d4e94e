"""What the IRC front-end asks the network: `NetFront`, installed as `IRCServer.net`.

The network is never missing: a server without [[links]] is a network of one,
whose roster, directory, history and away-log services answer for it alone
(ircpsyc.linking builds it either way).  The core names it by the protocol
`ircpsyc.ircd.net_port.NetPort`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend.network import Network, host_of
from ircpsyc.psyc_backend.uniform import Uniform, UniformError, place

if TYPE_CHECKING:
    from ircpsyc.channels.directory import Directory
    from ircpsyc.channels.replica import Replicas
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.ircd.remote import Roster
    from ircpsyc.ircd.serverinfo import ServerInfo
    from ircpsyc.services.awaylog_net import NetAwayLog
    from ircpsyc.services.history_net import NetHistory


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
