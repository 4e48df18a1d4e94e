"""Several real ircpsyc processes linked into one network, for the linking tests.

`LinkedNetwork` gives each server a name (`s0.link.test`, ...), an IRC port and a
PSYC link port on loopback, writes `[[links]]` for the edges of the wanted
topology (the server with the lower name dials, the other only accepts) and
starts the processes in parallel through conftest's `start_server`.  A server
can be killed (SIGKILL, like a crash) and started again on the same link port.
Every process is stopped at the end, and a server that logged a traceback
fails the test (conftest's `ServerFactory` does both).
"""

from __future__ import annotations

import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import (
    HOST,
    OPER_NAME,
    OPER_PASSWORD,
    ServerFactory,
    ServerProcess,
    free_port,
    start_server,
)

from ircpsyc.ircd.linkinfo import read_rows
from ircpsyc.psyc_backend.network import rendezvous

from .support import RawClient, unique

SECRET = "integration tests link secret"

FAST = {
    "split_grace": 4.0,
    "ping_interval": 1.0,
    # Dead servers are seen by their closed sockets; a short timeout only makes a
    # busy machine (two cores, tests in parallel) drop links that are fine.
    "ping_timeout": 15.0,
    "reconnect_min": 0.2,
    "reconnect_max": 1.0,
}


class LinkedNetwork:
    """Servers `names` linked along `edges` (pairs of indexes)."""

    def __init__(
        self,
        factory: ServerFactory,
        count: int,
        edges: list[tuple[int, int]],
        **network: Any,
    ) -> None:
        self.factory = factory
        self.names = [f"s{i}.link.test" for i in range(count)]
        self.edges = [(self.names[a], self.names[b]) for a, b in edges]
        self.psyc_ports = {name: free_port() for name in self.names}
        self.settings = {**FAST, **network}
        # TLS links: (cert, key, fingerprint the dialler expects), or None.
        self.tls: tuple[Path, Path, str] | None = None
        self.tls_ports = {name: free_port() for name in self.names}
        self.servers: dict[str, ServerProcess] = {}
        self.starts = 0
        self.opers = 0
        self.operator: dict[str, RawClient] = {}

    def extra(self, name: str) -> dict[str, Any]:
        links = []
        for a, b in self.edges:
            if name not in (a, b):
                continue
            other = b if name == a else a
            ports = self.tls_ports if self.tls else self.psyc_ports
            address = f"{HOST}:{ports[other]}" if name < other else ""
            link: dict[str, Any] = {"name": other, "address": address, "secret": SECRET}
            if self.tls:
                link.update(tls=True, fingerprint=self.tls[2])
            links.append(link)
        extra: dict[str, Any] = {
            "server": {"name": name, "description": f"The {name} server"},
            "listen": {"psyc": f"{HOST}:{self.psyc_ports[name]}"},
            "network": {"servers": list(self.names), **self.settings},
            "links": links,
            "limits": {"flood_rate": 1000.0, "flood_burst": 1000},
        }
        if self.tls:
            extra["listen"]["psyc_tls"] = f"{HOST}:{self.tls_ports[name]}"
            extra["tls"] = {"cert": str(self.tls[0]), "key": str(self.tls[1])}
        return extra

    def start(self, *names: str) -> None:
        """Start servers (all by default) in parallel; a restart gets a new IRC port and
        folder but keeps its link port."""
        wanted = names or tuple(self.names)
        self.starts += 1
        run = self.starts

        def one(name: str) -> ServerProcess:
            return start_server(self.factory.directory / f"{name}-{run}", self.extra(name))

        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            started = list(pool.map(one, wanted))
        for name, server in zip(wanted, started, strict=True):
            self.servers[name] = server
            self.factory.servers.append(server)

    def kill(self, name: str) -> None:
        """SIGKILL, like a crash: nothing is said to anybody."""
        server = self.servers[name]
        server.signal(signal.SIGKILL)
        server.wait(5.0)

    def port(self, name: str) -> int:
        return self.servers[name].port

    def homed(self, server: str, prefix: str) -> str:
        """A new name (a channel if `prefix` starts with #, else an account) whose home
        on this network is `server`."""
        key = "{}" if prefix.startswith("#") else "~{}"
        return next(
            name
            for name in (unique(prefix) for _ in range(1000))
            if rendezvous(key.format(name), self.names) == server
        )

    async def oper(self, name: str) -> RawClient:
        client = await RawClient.connect(self.port(name))
        client.port = self.port(name)  # type: ignore[attr-defined]
        self.opers += 1
        await client.register(f"op{self.names.index(name)}x{self.opers}")
        await client.send(f"OPER {OPER_NAME} :{OPER_PASSWORD}")
        await client.expect("381", timeout=10.0)
        return client

    async def stats(self, oper: RawClient) -> dict[str, Any]:
        """STATS L: the network summary and one entry per link."""
        await oper.send("STATS L")
        lines = await oper.collect("219")
        return read_rows([line.params[-1] for line in lines if line.command == "249"])

    async def operators(self) -> dict[str, RawClient]:
        """One operator connection per running server, kept open (a connection that
        comes or goes is a roster cast, which would blur the per-link counters)."""
        for name in self.servers:
            oper = self.operator.get(name)
            if oper is None or oper.eof or getattr(oper, "port", 0) != self.port(name):
                self.operator[name] = await self.oper(name)
        return {name: self.operator[name] for name in self.servers}

    async def wait_converged(self, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
        """Until every server can reach every other one; the STATS L of each."""
        deadline = time.monotonic() + timeout
        while True:
            opers = await self.operators()
            stats = {name: await self.stats(o) for name, o in opers.items()}
            if all(set(s["reachable"]) == set(self.servers) for s in stats.values()):
                await asyncio.sleep(1.5)  # the operators' +o reaches the rosters
                return {name: await self.stats(o) for name, o in opers.items()}
            if time.monotonic() > deadline:
                raise AssertionError(f"network did not converge: {stats}")
            await asyncio.sleep(0.2)

    async def all_stats(self) -> dict[str, dict[str, Any]]:
        opers = await self.operators()
        return {name: await self.stats(o) for name, o in opers.items()}


def casts_per_link(stats: dict[str, dict[str, Any]]) -> dict[tuple[str, str], int]:
    out = {}
    for name, summary in stats.items():
        for peer, link in summary["links"].items():
            out[(name, peer)] = link["casts_out"]
    return out


def directory_of(server: ServerProcess) -> Path:
    return server.config_path.parent
