"""The router: hands packets to entities by their uniform.

A local entity gets the packet by a plain method call (no serialisation); a
remote one will get it rendered once onto a server link.  Because every
single-server path goes through here, a single server runs the same code a
network runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import normalize

log = logging.getLogger(__name__)


class Entity(Protocol):
    """Anything that has a uniform and takes packets: persons, places, services."""

    uniform: str

    def receive(self, packet: Packet) -> None: ...


Resolver = Callable[[str, Packet], "Entity | None"]


class Router:
    """Delivers packets to local entities; resolvers create entities on demand."""

    def __init__(self, host: str) -> None:
        self.host = host.lower()
        self._entities: dict[str, Entity] = {}
        self._resolvers: list[Resolver] = []
        self.delivered = 0
        self.undeliverable = 0

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
        return self._entities.get(normalize(uniform))

    def send(self, packet: Packet) -> bool:
        """Deliver a unicast packet to its `_target`; answer the source when nobody is there."""
        key = normalize(packet.routing.get("_target", ""))
        entity = self._entities.get(key)
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
        source = packet.routing.get("_source")
        if (
            not source
            or packet.method.startswith(("_error", "_failure", "_echo", "_notice"))
            or packet.method.endswith("_notice")
        ):
            return  # never answer an answer (or an IRC NOTICE), or we could loop
        target = packet.routing.get("_target", "")
        kind = "_place" if "/@" in target else "_user"
        reply = Packet(
            f"_error_unknown_name{kind}",
            {"_source": target, "_target": source},
            {"_uniform": target, "_method_relay": packet.method, **_names(packet)},
        )
        if "_tag" in packet.routing:
            reply.routing["_tag_relay"] = packet.routing["_tag"]
        entity = self._entities.get(normalize(source))
        if entity is not None:
            entity.receive(reply)


def _names(packet: Packet) -> dict[str, str | list[str]]:
    """Keep the display names a front-end needs to word the error."""
    return {k: v for k, v in packet.vars.items() if k in ("_nick_place", "_nick_target")}
