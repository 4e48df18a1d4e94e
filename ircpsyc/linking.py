"""Server linking, put together: the network, the place masters, the replicas and the roster.

`Linking` wires the pieces of the network (ircpsyc.psyc_backend.network, .link)
to the places (ircpsyc.channels.master, .replica) and the IRC front-end
(ircpsyc.ircd.remote, .net_front) and registers with the router
(ircpsyc.psyc_backend.router, the one routing table) what arrives from other
servers:

* casts (`_route_servers`): the context slaves, by context: the place replicas
  (every place), the roster (`$roster`), the directory (`$directory`), the
  account replicas (`$accounts`); replayed casts to this server's root too;
* packets for this server's root `psyc://me/`: channel states to the
  replicas, roster snapshots to the roster;
* `_echo_place_enter` for a local person: the replica sees it first;
* requests from another server's root (`_request_context_*`, `_request_roster`):
  to the place masters or the roster;
* the services of the network: `$history` (ircpsyc.services.history_net: the
  history of channels homed elsewhere) and `$directory` (ircpsyc.channels.directory:
  every channel of the network, for LIST, TOPIC and NAMES), whose casts and
  snapshots arrive here too;
* `$awaylog` (ircpsyc.services.awaylog_net: each account's away log at the
  account's home): unicasts between the servers' `$awaylog` entities, through
  the router; `$markers` (ircpsyc.services.marks_net: each account's read
  markers at its home) likewise;
* `$accounts` (ircpsyc.services.account_sync: every account on every server):
  its casts go to the local `$accounts` entity, which the account service
  installs; its requests and snapshots reach it through the router;
* `$operators` (ircpsyc.ircd.operator_service: K/D-lines network-wide, KILL and
  SAJOIN/SAPART/SANICK of users of other servers): unicasts between the
  servers' roots and their `$operators` entities, through the router;
* `$info` (ircpsyc.ircd.serverinfo: VERSION, MOTD, TIME, ADMIN and INFO of
  another server): the same, between the roots and the `$info` entities.

Every server has one (`ircpsyc.assemble.front_end` builds it): a server without
[[links]] is a network of one, whose services answer for it alone; nothing is
dialled and no PSYC listener opened unless configured.  The sans-IO tests build
several and connect their circuits in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from ircpsyc.channels.directory import Directory
from ircpsyc.channels.master import PlaceMasters
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.channels.replica import Replicas
from ircpsyc.config import Config, network_servers
from ircpsyc.ircd.awaylog_hooks import log_home
from ircpsyc.ircd.history_hooks import replay_missed
from ircpsyc.ircd.net_front import NetFront
from ircpsyc.ircd.operator_service import OperatorService
from ircpsyc.ircd.remote import Roster
from ircpsyc.ircd.serverinfo import ServerInfo
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.foreign import Foreign, ForeignService, bind_address
from ircpsyc.psyc_backend.hostpolicy import HostPolicy
from ircpsyc.psyc_backend.link import LinkConfig, Settings
from ircpsyc.psyc_backend.link_io import LinkService
from ircpsyc.psyc_backend.network import Network
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.router import EVERY_PLACE, Router
from ircpsyc.psyc_backend.uniform import (
    host_of,
    is_person,
    nick_of,
    service,
)
from ircpsyc.services.awaylog_net import NetAwayLog
from ircpsyc.services.history_net import NetHistory
from ircpsyc.services.marks_net import NetMarkers

if TYPE_CHECKING:
    from ircpsyc.ircd.core import IRCServer

log = logging.getLogger(__name__)

ROSTER, DIRECTORY, ACCOUNTS = "$roster", "$directory", "$accounts"  # service contexts

TICK = 0.2  # seconds between link timer sweeps (pings, acknowledgements, dialling)


def _to_local(router: Router, uniform: str, packet: Packet) -> None:
    entity = router.lookup(uniform)
    if entity is not None:
        entity.receive(packet)


def linked(config: Config) -> bool:
    """Whether this server dials or accepts links at all."""
    return bool(config.links or config.listen.psyc or config.listen.psyc_tls)


def link_configs(config: Config) -> list[LinkConfig]:
    return [
        LinkConfig(link.name, link.secret, link.address, link.tls, link.fingerprint)
        for link in config.links
    ]


def settings_of(config: Config) -> Settings:
    net = config.network
    return Settings(
        ping_interval=net.ping_interval,
        ping_timeout=net.ping_timeout,
        reconnect_min=net.reconnect_min,
        reconnect_max=net.reconnect_max,
        queue_max=net.queue_max,
    )


def host_policy(config: Config) -> HostPolicy:
    """Which foreign hosts we federate with ([federation])."""
    federation = config.federation
    return HostPolicy(federation.allow_hosts, federation.deny_hosts, federation.dial_private)


def _foreign_in_use(places: PlaceRegistry, replicas: Replicas, host: str) -> bool:
    """Whether our members sit in a place of `host`, or its persons in ours."""
    if any(host_of(replica.uniform) == host for replica in replicas.views()):
        return True
    return any(
        host_of(member.uniform) == host
        for place in places.places.values()
        for member in place.members.values()
    )


class Linking:
    """One server's part of the network."""

    def __init__(
        self,
        config: Config,
        router: Router,
        places: PlaceRegistry,
        core: IRCServer,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        boot: str = "",
        alone: bool = False,
    ) -> None:
        # Started with no links to dial or accept (`alone`), the server keeps every
        # channel whatever [network] servers and [channels] pin say, until a restart.
        self.alone = alone
        self.config = config
        self.core = core
        self.clock = clock
        self.wall_clock = wall_clock
        self.network = Network(
            config.server.name,
            router,
            link_configs(config),
            settings_of(config),
            (config.server.name,) if alone else network_servers(config),
            {} if alone else dict(config.channels.pin),
            config.network.split_grace,
            clock,
            boot,
            config.server.description,
        )
        network = self.network
        # Lines said during a split keep their time of origin, within its length.
        places.set_delayed(network.delayed)
        self.masters = PlaceMasters(network, router, places, lambda: core.config, wall_clock)
        self.replicas = Replicas(network, router, places, lambda: core.config, wall_clock)
        network.listeners.append(self.replicas)
        self.roster = Roster(core, network)
        core.person_observers.append(self.roster)
        core.tickers.append(self.roster.tick)
        network.listeners.append(self.roster)
        # psyced and other PSYC servers outside the network, on demand (not from a
        # server started `alone`, which federates with nothing until a restart).
        self.foreign: Foreign | None = None
        if not alone and config.federation.enabled:
            self.foreign = network.foreign = Foreign(network, clock)
            self.foreign.in_use = partial(_foreign_in_use, places, self.replicas)
            self.foreign.policy = host_policy(config)
            history = config.history
            self.foreign.history_amount = history.join_replay if history.enabled else 0
        self.foreign_service: ForeignService | None = None
        # Channel history at the homes, the channel directory, and the away log of
        # mentions in channels homed elsewhere (the replicas see those lines).
        self.history = NetHistory(
            network, router, places, lambda: core.history, lambda: core.config, core.clock
        )
        self.directory = Directory(network, router, places, lambda: core.config, wall_clock)
        network.listeners.extend([self.history.requests, self.directory])
        core.tickers.extend([self.history.requests.tick, self.directory.tick])
        self.replicas.observers.append(core.awaylog.replica_cast)
        self.replicas.rejoined.append(partial(replay_missed, core))
        # Each account's away log at its home (ircpsyc.services.awaylog_net).
        self.awaylog = NetAwayLog(
            network, router, lambda: core.awaylog, lambda: core.config, core.clock
        )
        network.listeners.append(self.awaylog.requests)
        core.tickers.append(self.awaylog.requests.tick)
        # Each account's read markers at its home (ircpsyc.services.marks_net).
        self.markers = NetMarkers(network, router, core.readmarkers, partial(log_home, core))
        core.readmarkers.shared = self.markers.moved
        core.readmarkers.fetch = self.markers.fetch
        self.netops = netops = OperatorService(core, network)  # K/D-lines, KILL, SA* network-wide
        router.register(netops)
        network.listeners.append(netops)
        core.tickers.append(netops.tick)
        core.moderation.netops = netops
        self.info = info = ServerInfo(core, network)  # VERSION etc. of the others
        router.register(info)
        network.listeners.append(info.requests)  # timeouts and lost servers
        core.tickers.append(info.requests.tick)
        # Commands waiting for a channel homed elsewhere fail when its server is lost.
        network.listeners.append(core.place_answers.requests)
        core.net = NetFront(
            core,
            network,
            self.roster,
            self.replicas,
            self.history,
            self.directory,
            self.awaylog,
            info,
        )
        self._route(router)
        self.service: LinkService | None = None
        self._ticker: asyncio.Task[None] | None = None

    # -- what arrives from other servers: registered with the router

    def _route(self, router: Router) -> None:
        """The contexts this server follows and the handlers of its root."""
        router.subscribe(EVERY_PLACE, self.replicas.cast)
        router.subscribe(ROSTER, self.roster.cast_in)
        router.subscribe(DIRECTORY, self.directory.cast_in)
        # The account service installs (and reinstalls) the `$accounts` entity.
        router.subscribe(ACCOUNTS, partial(_to_local, router, service(self.network.me, "accounts")))
        router.on_root(V.STATUS_ROSTER, self.roster.snapshot_in)
        router.on_root(V.STATUS_PLACE_STATE, self.replicas.state)
        router.on_context(V.ECHO_PLACE_ENTER, self.replicas.echo)
        router.on_request(V.REQUEST_CONTEXT_RESYNC, self.masters.request)
        router.on_request(V.REQUEST_CONTEXT_NETJOIN, self.masters.request)
        router.on_request(V.REQUEST_ROSTER, self.roster.request)
        router.on_foreign(self._ingress)

    def _ingress(self, packet: Packet) -> None:
        """A packet from outside the network: its persons show as `psyc://host/~nick`."""
        source = packet.routing.get(V.SOURCE, "")
        vars = packet.vars
        if is_person(source):
            nick = packet.get(V.NICK) or nick_of(source)
            host = host_of(source)
            vars[V.NICK] = source
            vars.setdefault(V.USER, nick)
            vars.setdefault(V.HOST, host)
            vars[V.PREFIX] = f"{source}!{nick}@{host}"
        target = packet.routing.get(V.TARGET, "")
        if (V.NICK_TARGET in vars or packet.method.startswith(V.MESSAGE)) and is_person(target):
            vars[V.NICK_TARGET] = nick_of(target)

    # -- REHASH

    def reconfigure(self, config: Config) -> list[str]:
        """Apply a reloaded configuration; what changed and what waits for a restart."""
        old, self.config = self.config, config
        network = self.network
        network.set_description(config.server.description)
        if self.alone:
            return []  # links wait for a restart (the server says so)
        changes = network.links.reconfigure(link_configs(config), settings_of(config))
        if self.foreign is not None:
            self.foreign.policy = host_policy(config)  # for circuits opened from now
        if old.federation.enabled != config.federation.enabled:
            changes.append("federation.enabled changed: it takes effect at the next restart")
        network.split_grace = config.network.split_grace
        if changes:
            network.links_changed()
        if network_servers(old) != network_servers(config) or old.channels.pin != (
            config.channels.pin
        ):
            # Every server must hash over the same list: moving homes under live
            # channels would split them, so the old homes stay until the restart.
            changes.append(
                "network.servers / channels.pin changed: channel homes move at the next restart"
            )
        return changes

    # -- time

    def tick(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.network.links.tick(now) if self.service is None else self.service.tick(now)
        if self.foreign is not None:
            self.foreign.tick(now)
        self.network.tick(now)
        self.replicas.tick(self.wall_clock())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self.tick()
            except Exception:
                log.exception("link timer sweep failed")

    async def start(self, server_ssl: ssl.SSLContext | None = None) -> None:
        listen = self.config.listen
        self.service = LinkService(self.network.links, listen.psyc, listen.psyc_tls, server_ssl)
        if self.foreign is not None:
            self.foreign_service = ForeignService(
                self.foreign, bind_address(listen.psyc), self.config.federation.verify_tls
            )
            self.service.foreign = self.foreign_service
        await self.service.start()
        if self.foreign is not None and self.service.servers:  # where psyced calls
            sockets = self.service.servers[0].sockets
            if sockets:
                self.foreign.set_port(int(sockets[0].getsockname()[1]))
        tls = self.service.tls_listener
        if self.foreign is not None and tls is not None and tls.addresses():
            self.foreign.set_tls_port(int(tls.addresses()[0].rsplit(":", 1)[1]))
        self.tick()
        self._ticker = asyncio.create_task(self._run())
        if self.service.addresses():
            log.info("server links listening on %s", ", ".join(self.service.addresses()))

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.foreign_service is not None:
            await self.foreign_service.stop()
        if self.service is not None:
            await self.service.stop()
