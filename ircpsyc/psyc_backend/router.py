"""The router: hands packets to entities by their uniform.

A local entity gets the packet by a plain method call (no serialisation); a
remote one will get it rendered once onto a server link.  Because every
single-server path goes through here, a single server runs the same code a
network runs.

It is the one routing table of the server, also for what arrives from the
network (`ircpsyc.psyc_backend.network` hands every packet for this server here):

* entities by uniform (`register`), and resolvers that create them (places);
* context subscriptions (`subscribe`): the local slave that applies the casts of
  a context (a place replica, the roster, directory or account replicas), by the
  context's uniform, by its service name on every server (`$roster`) or for
  every place (`@`);
* method handlers, with prefix inheritance (`Dispatch`): for packets to this
  server's root `psyc://me/` (`on_root`), for requests from another server's
  root (`on_request`) and for context unicasts a slave sees before the entity
  they are for (`on_context`);
* what passes the border: local packets leaving for another server
  (`on_outgoing`: the place masters add a place's state to the echo for a
  server's first member), packets from servers outside the network
  (`on_foreign`: federation shows their persons as uniforms).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Dispatch, Packet
from ircpsyc.psyc_backend.uniform import (
    host_of,
    is_place,
    is_service,
    key_of,
    normalize,
    service_name_of,
)

log = logging.getLogger(__name__)


class Entity(Protocol):
    """Anything that has a uniform and takes packets: persons, places, services."""

    uniform: str

    def receive(self, packet: Packet) -> None: ...


Resolver = Callable[[str, Packet], "Entity | None"]
Hook = Callable[[Packet], None]
Claim = Callable[[Packet], bool]  # True: the packet is consumed
Transform = Callable[[Packet], Packet]

EVERY_PLACE = "@"  # `subscribe` key for the casts of every place without its own slave


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
        # What arrives from the network (see the module docstring).
        self._contexts: dict[str, Hook] = {}
        self._root_table: dict[str, Hook] = {}
        self._request_table: dict[str, Claim] = {}
        self._context_table: dict[str, Claim] = {}
        self._root_dispatch: Dispatch[Hook] = Dispatch(self._root_table)
        self._request_dispatch: Dispatch[Claim] = Dispatch(self._request_table)
        self._context_dispatch: Dispatch[Claim] = Dispatch(self._context_table)
        self._outgoing_table: dict[str, Transform] = {}
        self._outgoing_dispatch: Dispatch[Transform] = Dispatch(self._outgoing_table)
        self._foreign: list[Hook] = []

    def register(self, entity: Entity, uniform: str | None = None) -> None:
        self._entities[key_of(uniform or entity.uniform)] = entity

    def unregister(self, uniform: str, entity: Entity | None = None) -> None:
        key = key_of(uniform)
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

    # -- the routing table for what arrives from the network

    def subscribe(self, context: str, apply: Hook) -> None:
        """`apply` takes the casts (and replayed casts) of `context`: a context
        uniform, `$name` for that service's context on every server, or
        `EVERY_PLACE`."""
        key = context if context == EVERY_PLACE or context.startswith("$") else normalize(context)
        self._contexts[key] = apply

    def unsubscribe(self, context: str) -> None:
        key = context if context == EVERY_PLACE or context.startswith("$") else normalize(context)
        self._contexts.pop(key, None)

    def on_root(self, method: str, handler: Hook) -> None:
        """`handler` takes `method` (and the methods below it) sent to this server's root."""
        self._root_table[method] = handler
        self._root_dispatch = Dispatch(self._root_table)

    def on_request(self, method: str, handler: Claim) -> None:
        """`handler` sees `method` (and below) from another server's root to a local
        entity before the entity itself (the place masters, the roster); it returns
        True when it consumed the packet."""
        self._request_table[method] = handler
        self._request_dispatch = Dispatch(self._request_table)

    def on_context(self, method: str, handler: Claim) -> None:
        """`handler` sees a context unicast of `method` (and below) before the local
        entity it is for; it returns True when it consumed the packet."""
        self._context_table[method] = handler
        self._context_dispatch = Dispatch(self._context_table)

    def on_outgoing(self, method: str, handler: Transform) -> None:
        """A local packet of `method` (and below) leaving for another server goes out
        as `handler` returns it."""
        self._outgoing_table[method] = handler
        self._outgoing_dispatch = Dispatch(self._outgoing_table)

    def on_foreign(self, hook: Hook) -> None:
        """`hook` sees (and may rewrite) each packet from a server outside the network
        before it is routed."""
        self._foreign.append(hook)

    def outgoing(self, packet: Packet) -> Packet:
        """`packet` as it leaves for another server (see `on_outgoing`)."""
        handler = self._outgoing_dispatch.lookup(packet.method)
        return packet if handler is None else handler(packet)

    def foreign_in(self, packet: Packet) -> None:
        """A packet from a server outside the network, before `link_in`."""
        for hook in self._foreign:
            hook(packet)

    def subscriber(self, context: str) -> Hook | None:
        """The slave that applies the casts of `context`, if any."""
        found = self._contexts.get(normalize(context))
        if found is None:
            if is_service(context):
                found = self._contexts.get("$" + service_name_of(context))
            else:
                found = self._contexts.get(EVERY_PLACE)
        return found

    def cast_in(self, packet: Packet) -> None:
        """A cast copy for this server (or one replayed to it): to the context's slave."""
        apply = self.subscriber(packet.routing.get(V.CONTEXT, ""))
        if apply is not None:
            apply(packet)

    def link_in(self, packet: Packet) -> None:
        """A unicast from the network for this server: to its root's handlers, a
        context's slave or request handler, or the local entity."""
        routing = packet.routing
        target = routing.get(V.TARGET, "")
        if not target or (target.endswith("/") and target.lower() == self._local):
            self._root_in(packet)
            return
        if V.CONTEXT in routing:
            claim = self._context_dispatch.lookup(packet.method)
            if claim is not None and claim(packet):
                return
        if routing.get(V.SOURCE, "").endswith("/"):
            handler = self._request_dispatch.lookup(packet.method)
            if handler is not None and handler(packet):
                return
        self.send(packet)

    def _root_in(self, packet: Packet) -> None:
        handler = self._root_dispatch.lookup(packet.method)
        if handler is not None:
            handler(packet)
        elif packet.context and V.COUNTER in packet.routing:
            self.cast_in(packet)  # a replayed cast
        elif packet.method.startswith((V.ERROR, V.FAILURE)):
            source = host_of(packet.source)
            log.warning("from %s: %s %s", source, packet.method, packet.get(V.REASON))

    def is_local(self, uniform: str) -> bool:
        return normalize(uniform).startswith(self._local)

    def cast(self, packet: Packet, servers: Iterable[str], min_rank: int | None = None) -> None:
        """Hand the copies of a cast for other servers to the network."""
        if self.uplink is not None:
            self.uplink.cast(packet, servers, min_rank)

    def send(self, packet: Packet) -> bool:
        """Deliver a unicast packet to its `_target`; answer the source when nobody is there."""
        target = packet.routing.get(V.TARGET, "")
        # A uniform is mostly written in its key form already (a lower-case nick): then
        # the lookup needs no normalizing (a key normalizes to itself).
        entity = self._entities.get(target)
        if entity is not None:
            self.delivered += 1
            entity.receive(packet)
            return True
        key = normalize(target)
        entity = self._entities.get(key)
        if entity is None and self.uplink is not None and not key.startswith(self._local):
            if self.uplink.send(packet):
                return True
            self.undeliverable += 1
            self.bounce(packet)
            return False
        if entity is None:
            for resolver in self._resolvers:
                entity = resolver(key, packet)
                if entity is not None:
                    break
        if entity is None:
            self.undeliverable += 1
            self.bounce(packet)
            return False
        self.delivered += 1
        entity.receive(packet)
        return True

    def bounce(self, packet: Packet, reason: str = "") -> None:
        """Tell the sender of `packet` that its target is unknown (an `_error_unknown_name_*`,
        `reason`: why, in its words), unless the packet is itself an answer."""
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
            reason,
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
