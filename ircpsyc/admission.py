"""Who may connect: per-address and total limits, counted from accept().

Sans-IO: the server asks `Admission.admit` when it accepts a socket, before any
TLS handshake, and tells it when a connection registers and when it closes.  So a
handshake that never finishes holds a slot like any other connection, and the
limits hold whatever a client does or does not send.

Three limits apply:

- per address group (`ircpsyc.netaddr.address_group`: an IPv4 address or an IPv6
  network): every connection of the group, registered or not;
- connections still registering (TLS handshakes included), in all;
- connections in all, below the process's descriptor limit, so that the server
  never runs out of descriptors and keeps some for its store, links and logs.

When one of the last two is full, a newcomer displaces the oldest registering
connection of the group that holds the most registering connections, if that group
holds more than the newcomer's own: whoever opens connections it does not use loses
them first, and one party cannot shut out everyone else by holding all the slots.
Registered connections are never displaced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class Connection(Protocol):
    """What admission closes when it displaces a connection: an IRC connection, or a
    web one that has not become an IRC connection yet."""

    def drop(self, reason: str) -> bool:
        """Close at once; False when there is no transport yet (a TLS handshake)."""
        ...

    def __hash__(self) -> int: ...


TOO_MANY_FROM_ADDRESS = "Too many connections from your IP address"
FULL = "Server is full, try again later"


@dataclass(frozen=True)
class Quota:
    """The limits `Admission.admit` applies."""

    per_group: int  # connections of one address group
    registering: int  # connections not registered yet, TLS handshakes included
    total: int  # connections in all (the descriptors the server may spend on them)
    displace: bool = True  # whether a newcomer may displace a registering connection


@dataclass(frozen=True)
class Verdict(Generic[K]):
    """A refusal (the reason), or admission, having first displaced `victim` if set."""

    refusal: str = ""
    victim: K | None = None


class Admission(Generic[K]):
    """The connections of one server by address group, and those still registering
    (oldest first)."""

    def __init__(self) -> None:
        self._group: dict[K, str] = {}
        self.per_group: Counter[str] = Counter()
        self._registering: dict[K, str] = {}  # insertion order: oldest first
        self._registering_per_group: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._group)

    def __contains__(self, key: object) -> bool:
        return key in self._group

    @property
    def registering(self) -> int:
        return len(self._registering)

    def admit(self, key: K, group: str, quota: Quota) -> Verdict[K]:
        """Count `key` from `group` in, or say why not; a victim is already forgotten
        here, and the caller closes it."""
        if key in self._group:
            return Verdict()
        if self.per_group[group] >= quota.per_group:
            return Verdict(TOO_MANY_FROM_ADDRESS)
        victim: K | None = None
        if len(self._registering) >= quota.registering or len(self._group) >= quota.total:
            victim = self._victim(group) if quota.displace else None
            if victim is None:
                return Verdict(FULL)
            self.gone(victim)
        self._group[key] = group
        self.per_group[group] += 1
        self._registering[key] = group
        self._registering_per_group[group] += 1
        return Verdict(victim=victim)

    def registered(self, key: K) -> None:
        """`key` finished registration: it no longer counts as registering."""
        group = self._registering.pop(key, None)
        if group is not None:
            _decrement(self._registering_per_group, group)

    def gone(self, key: K) -> None:
        """`key` closed (or was displaced); closing twice is harmless."""
        self.registered(key)
        group = self._group.pop(key, None)
        if group is not None:
            _decrement(self.per_group, group)

    def _victim(self, newcomer: str) -> K | None:
        if not self._registering_per_group:
            return None
        most = max(self._registering_per_group.values())
        if most <= self._registering_per_group[newcomer]:
            return None
        for key, group in self._registering.items():  # oldest first
            if self._registering_per_group[group] == most:
                return key
        return None  # not reached: some group holds `most`


def _decrement(counter: Counter[str], group: str) -> None:
    counter[group] -= 1
    if counter[group] <= 0:
        del counter[group]
