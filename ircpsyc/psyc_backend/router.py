"""The router: hands packets to entities by their uniform.

A local entity gets the packet by a plain method call (no serialisation); a
remote one will get it rendered once onto a server link.  Because every
single-server path goes through here, a single server runs the same code a
network runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import host_of, is_place, normalize

log = logging.getLogger(__name__)


class Entity(Protocol):
    """Anything that has a uniform and takes packets: persons, places, services."""

    uniform: str

    def receive(self, packet: Packet) -> None: ...


Resolver = Callable[[str, Packet], "Entity | None"]


class Uplink(Protocol):
    """The server network (ircpsyc.psyc_backend.network.Network), seen from the router."""

    def send(self, packet: Packet) -> bool:
        """Unicast to an entity on another server; False if it cannot be routed."""
        ...

    def cast(self, packet: Packet, servers: Iterable[str], min_rank: int | None = None) -> None:
        """One copy of a local context's cast for the members on `servers`."""
        ...


class RemoteEntity:
    """An entity on another server, as a route: `receive` sends the packet there.

    Places group their members by it: `server` is where one copy of a cast goes.
    """

    __slots__ = ("server", "uniform", "uplink")

    def __init__(self, uniform: str, server: str, uplink: Uplink) -> None:
        self.uniform = uniform
        self.server = server
        self.uplink = uplink

    def receive(self, packet: Packet) -> None:
        if packet.routing.get(V.TARGET) != self.uniform:
            packet = packet.copy(_target=self.uniform)
        self.uplink.send(packet)

    def __repr__(self) -> str:
        return f"RemoteEntity({self.uniform!r})"


class Router:
    """Delivers packets to local entities; resolvers create entities on demand."""

    def __init__(self, host: str) -> None:
        self.host = host.lower()
        self._entities: dict[str, Entity] = {}
        self._resolvers: list[Resolver] = []
        self.delivered = 0
        self.undeliverable = 0
        # Server linking: packets for other hosts go to the network (None: single server).
        self.uplink: Uplink | None = None
        self._local = f"psyc://{self.host}/"

    def register(self, entity: Entity, uniform: str | None = None) -> None:
        self._entities[normalize(uniform or entity.uniform)] = entity

    def unregister(self, uniform: str, entity: Entity | None = None) -> None:
        key = normalize(uniform)
        if entity is None or self._entities.get(key) is entity:
            self._entities.pop(key, None)

    def add_resolver(self, resolver: Resolver) -> None:
        """A resolver may create the entity for a key nobody registered yet (places)."""
        self._resolvers.append(resolver)

    def lookup(self, uniform: str) -> Entity | None:
        """The local entity, or a `RemoteEntity` route for one on another server."""
        key = normalize(uniform)
        entity = self._entities.get(key)
        if entity is None and self.uplink is not None and not key.startswith(self._local):
            host = host_of(key)
            if host:
                return RemoteEntity(uniform, host, self.uplink)
        return entity

    def is_local(self, uniform: str) -> bool:
        return normalize(uniform).startswith(self._local)

    def cast(self, packet: Packet, servers: Iterable[str], min_rank: int | None = None) -> None:
        """Hand the copies of a cast for other servers to the network."""
        if self.uplink is not None:
            self.uplink.cast(packet, servers, min_rank)

    def send(self, packet: Packet) -> bool:
        """Deliver a unicast packet to its `_target`; answer the source when nobody is there."""
        key = normalize(packet.routing.get(V.TARGET, ""))
        entity = self._entities.get(key)
        if entity is None and self.uplink is not None and not key.startswith(self._local):
            if self.uplink.send(packet):
                return True
            self.undeliverable += 1
            self._bounce(packet)
            return False
        if entity is None:
            for resolver in self._resolvers:
                entity = resolver(key, packet)
                if entity is not None:
                    break
        if entity is None:
            self.undeliverable += 1
            self._bounce(packet)
            return False
        self.delivered += 1
        entity.receive(packet)
        return True

    def _bounce(self, packet: Packet) -> None:
        source = packet.routing.get(V.SOURCE)
        if (
            not source
            or packet.method.startswith((V.ERROR, V.FAILURE, V.ECHO, V.NOTICE))
            or packet.method.endswith(V.NOTICE)
        ):
            return  # never answer an answer (or an IRC NOTICE), or we could loop
        target = packet.routing.get(V.TARGET, "")
        unknown = V.ERROR_UNKNOWN_NAME_PLACE if is_place(target) else V.ERROR_UNKNOWN_NAME_USER
        reply = Packet(
            unknown,
            {V.SOURCE: target, V.TARGET: source},
            {V.UNIFORM: target, V.METHOD_RELAY: packet.method, **_names(packet)},
        )
        if V.TAG in packet.routing:
            reply.routing[V.TAG_RELAY] = packet.routing[V.TAG]
        entity = self._entities.get(normalize(source))
        if entity is not None:
            entity.receive(reply)
        elif self.uplink is not None and not normalize(source).startswith(self._local):
            self.uplink.send(reply)


def _names(packet: Packet) -> dict[str, str | list[str]]:
    """Keep the display names a front-end needs to word the error."""
    return {k: v for k, v in packet.vars.items() if k in (V.NICK_PLACE, V.NICK_TARGET)}
