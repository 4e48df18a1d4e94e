"""An in-memory network of ircpsyc servers for the sans-IO linking tests.

`Sim` builds several servers (router, places, IRC core and `Linking`, wired as
`ircpsyc.server.Server` does) on one shared clock and connects their circuits
with in-memory pipes.  Bytes written to a pipe wait in one FIFO until `run()`
delivers them, so nothing re-enters a server while it is handling a packet,
and `cut()` can drop whatever was still "on the wire" (what a dying TCP
connection loses).  Clients are the `FakeClient`s of helpers.py.

Import explicitly: `from netsim import Sim`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable

from helpers import START, FakeClient, make_config
from irctokens.line import Line

from ircpsyc.assemble import front_end
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.config import Config, LinkEntry
from ircpsyc.psyc_backend.link import Circuit
from ircpsyc.psyc_backend.router import Router
from ircpsyc.services.accounts import Accounts
from ircpsyc.store import Store

SECRET = "a shared secret for the tests"


class Pipe:
    """One end of an in-memory connection."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.other: Pipe | None = None
        self.circuit: Circuit | None = None
        self.closed = False

    def write(self, data: bytes) -> None:
        if not self.closed and self.other is not None:
            self.sim.wire.append((self.other, data))

    def close(self, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if abort:  # what was on the wire from us is lost
            self.sim.wire = deque((p, d) for p, d in self.sim.wire if p is not self.other)
        if self.other is not None:
            self.sim.wire.append((self.other, b""))  # EOF


class Server:
    """One in-memory server of the simulated network."""

    def __init__(self, sim: Sim, config: Config, boot: str, services: bool = False) -> None:
        self.sim = sim
        self.config = config
        self.name = config.server.name
        self.router = Router(self.name)
        self.places = PlaceRegistry(self.router, self.name, config, self.clock)
        # Linked or not at first, each can be linked by a REHASH.
        self.core, self.linking = front_end(
            config, self.router, self.places, self.clock, self.clock, boot, alone=False
        )
        self.network = self.linking.network
        self.store: Store | None = None
        self.accounts: Accounts | None = None
        if services:
            self._services()

    def _services(self) -> None:
        """History, away log, K/D-lines, accounts, NickServ and ChanServ on an in-memory
        store, wired as `ircpsyc.server.Server.start` does (argon2 at its cheapest)."""
        from account_helpers import fast_hash, fast_verify

        from ircpsyc.assemble import attach_store, install_accounts, install_chanserv
        from ircpsyc.services.registrations import ChannelRegistrations

        core = self.core
        self.store = store = Store(":memory:")
        attach_store(core, store)
        core.moderation.attach_store(store)
        self.accounts = Accounts(
            store, lambda: core.config.services, self.clock, fast_hash, fast_verify
        )
        install_accounts(core, self.accounts)
        install_chanserv(core, ChannelRegistrations(store, self.clock), self.accounts)

    @property
    def now(self) -> float:
        return self.sim.now

    def clock(self) -> float:
        return self.sim.now

    def client(self, nick: str, caps: Iterable[str] = ()) -> FakeClient:
        fake = FakeClient(self, "127.0.0.1")  # type: ignore[arg-type]
        wanted = " ".join(caps)
        if wanted:
            fake.send("CAP LS 302")
            fake.send(f"CAP REQ :{wanted}")
        fake.register(nick)
        if wanted:
            fake.send("CAP END")
        self.sim.run()
        fake.clear()
        return fake

    def peer(self, name: str):  # type: ignore[no-untyped-def]
        return self.network.links.peers[name]


class Sim:
    """Servers named `names`, linked along `edges` (pairs of names)."""

    def __init__(
        self,
        names: list[str],
        edges: list[tuple[str, str]],
        *,
        split_grace: float = 10.0,
        resync_buffer: int = 1000,
        queue_max: int = 100000,
        servers: list[str] | None = None,
        pins: dict[str, str] | None = None,
        services: bool = False,
    ) -> None:
        """`services`: every server also has its store (in memory), history, accounts,
        NickServ and ChanServ."""
        self.now = START
        self.services = services
        self.inbox: dict[int, list[Line]] = {}
        self.wire: deque[tuple[Pipe, bytes]] = deque()
        self.edges = [tuple(sorted(e)) for e in edges]
        self.servers: dict[str, Server] = {}
        self.pipes: dict[tuple[str, str], tuple[Pipe, Pipe]] = {}
        self.boots = 0
        self.names = names
        self.options = {
            "split_grace": split_grace,
            "resync_buffer": resync_buffer,
            "queue_max": queue_max,
        }
        self.network_servers = servers if servers is not None else names
        self.pins = pins or {}
        for name in names:
            self.start(name)

    def config(self, name: str) -> Config:
        config = make_config()
        links = []
        for a, b in self.edges:
            if name in (a, b):
                other = b if name == a else a
                links.append(LinkEntry(name=other, secret=SECRET, address=""))
        return dataclasses.replace(
            config,
            server=dataclasses.replace(config.server, name=name, description=f"The {name} server"),
            links=tuple(links),
            network=dataclasses.replace(
                config.network,
                servers=tuple(self.network_servers) if name in self.network_servers else (name,),
                ping_interval=5.0,
                ping_timeout=20.0,
                reconnect_min=1.0,
                reconnect_max=4.0,
                **self.options,  # type: ignore[arg-type]
            ),
            channels=dataclasses.replace(config.channels, pin=dict(self.pins)),
        )

    def start(self, name: str) -> Server:
        self.boots += 1
        boot = str(int(self.now * 1000) * 1000 + self.boots)
        server = Server(self, self.config(name), boot, self.services)
        self.servers[name] = server
        return server

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]

    # -- the wire

    def connect(self, a: str, b: str) -> None:
        """Open a circuit from `a` (dialling) to `b`."""
        sa, sb = self.servers[a], self.servers[b]
        pa, pb = Pipe(self), Pipe(self)
        pa.other, pb.other = pb, pa
        self.pipes[(a, b)] = (pa, pb)
        pa.circuit = sa.network.links.open(sa.peer(b), pa.write, pa.close, self.now)
        pb.circuit = sb.network.links.open(None, pb.write, pb.close, self.now)
        self.run()

    def link_all(self) -> None:
        for a, b in self.edges:
            self.connect(a, b)
        self.settle()

    def cut(self, a: str, b: str) -> None:
        """Break the circuit between `a` and `b`: both ends see it die, bytes in flight
        are lost."""
        for key in ((a, b), (b, a)):
            pipes = self.pipes.pop(key, None)
            if pipes is None:
                continue
            for pipe in pipes:
                self.wire = deque((p, d) for p, d in self.wire if p is not pipe)
                pipe.closed = True
                if pipe.circuit is not None:
                    pipe.circuit.lost("cut")
        self.run()

    def kill(self, name: str) -> None:
        """The server dies (kill -9): its circuits die, its state is gone."""
        for key in [k for k in self.pipes if name in k]:
            self.cut(*key)
        server = self.servers.pop(name)
        if server.store is not None:
            server.store.close()

    def run(self, limit: int = 1_000_000) -> int:
        """Deliver everything on the wire (and what that causes)."""
        count = 0
        while self.wire and count < limit:
            pipe, data = self.wire.popleft()
            count += 1
            circuit = pipe.circuit
            if circuit is None or pipe.closed:
                continue
            if not data:
                pipe.closed = True
                circuit.lost("eof")
                continue
            circuit.data_received(data, self.now)
        return count

    def tick(self, seconds: float = 1.0, step: float = 0.5) -> None:
        """Let time pass: timers of every server, then deliver."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for server in list(self.servers.values()):
                server.linking.tick(self.now)
                server.core.tick(self.now)
            self.run()

    def settle(self) -> None:
        self.run()
        self.tick(0.5)

    # -- clients

    def do(self, fake: FakeClient, *texts: str) -> None:
        """Lines from a client; what they produce stays readable with `lines`."""
        inbox = self.inbox.setdefault(id(fake), [])
        for text in texts:
            inbox.extend(fake.take())  # a send marks earlier output as read
            inbox.extend(fake.send(text))
            self.run()

    def lines(self, fake: FakeClient) -> list[Line]:
        """Everything the client got since the last call."""
        out = self.inbox.pop(id(fake), [])
        return out + fake.take()

    def texts(self, fake: FakeClient, command: str = "PRIVMSG") -> list[str]:
        return [line.params[-1] for line in self.lines(fake) if line.command == command]

    def casts(self) -> dict[tuple[str, str], int]:
        """Casts sent over each directed link so far."""
        out = {}
        for name, server in self.servers.items():
            for peer in server.network.links.peers.values():
                out[(name, peer.name)] = peer.stats.casts_out
        return out


OPER_PASSWORD = "operator-password"


class OperSim(Sim):
    """A network whose servers have the operator `root` (with the override privilege)."""

    def config(self, name: str) -> Config:
        opers = make_config(opers=[("root", OPER_PASSWORD, "*@*")]).opers
        return dataclasses.replace(super().config(name), opers=opers)
