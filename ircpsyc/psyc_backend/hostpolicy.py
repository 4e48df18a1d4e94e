"""Which foreign PSYC hosts this server federates with ([federation] of the configuration).

Users name the hosts this server dials (`JOIN #psyc://HOST:PORT/@place`), so without
a rule anyone on IRC could make the server connect to any address and port, those
of the operator's own network included.  The rule, sans-IO (the asyncio adapter
resolves names and asks `dial_addresses` before it connects, and connects to an
address it was given, so a name cannot resolve differently between check and use):

* `deny_hosts` wins: a host (by name, `*.suffix` pattern, address or CIDR network,
  the address being the literal host, the address a name resolved to, or a caller's)
  listed there is never dialled nor accepted;
* `allow_hosts`, when not empty, is the only hosts federated with; `*` in it means
  any host, so that other entries only mark private addresses as wanted;
* dialling a loopback, private, link-local or otherwise not public address needs
  `dial_private`, or an `allow_hosts` entry other than `*` that names it.

Foreign servers that call us are checked by the first two rules (with their
address); where they call from says nothing about where we would dial.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

ANY: Final = "*"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(text: str) -> bool:
    """Whether an address is one of the public Internet's (not loopback, private,
    link-local, shared, multicast, reserved or unspecified)."""
    address = _address(text)
    return address is not None and address.is_global and not address.is_multicast


class Entries:
    """A list of host entries: names, `*.suffix` patterns, `*`, addresses, networks."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[Network] = []
        for entry in entries:
            if entry == ANY:
                self.any = True
            elif "/" in entry or _address(entry) is not None:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            elif entry.startswith("*."):
                self.suffixes.append(entry[1:].lower())
            else:
                self.names.add(entry.lower())

    def __bool__(self) -> bool:
        return self.any or bool(self.names or self.suffixes or self.networks)

    def by_name(self, host: str) -> bool:
        """An entry other than `*` names `host` (a name or a literal address)."""
        host = host.lower()
        if host in self.names or any(host.endswith(s) for s in self.suffixes):
            return True
        return self.by_address(host)

    def by_address(self, text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in net for net in self.networks)

    def names_only(self) -> bool:
        """No entry can match an address a name resolves to."""
        return not self.networks


class HostPolicy:
    """The [federation] rule for foreign hosts (module docstring)."""

    def __init__(
        self,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        dial_private: bool = False,
    ) -> None:
        self.allow = Entries(allow)
        self.deny = Entries(deny)
        self.dial_private = dial_private

    def _refusal(self, host: str, address: str) -> str:
        if self.deny.by_name(host) or (address and self.deny.by_address(address)):
            return f"federation with {host} is denied here"
        if self.allow and not (
            self.allow.any
            or self.allow.by_name(host)
            or (address and self.allow.by_address(address))
        ):
            return f"federation with {host} is not allowed here"
        return ""

    def caller_refusal(self, host: str, address: str) -> str:
        """Why a foreign server speaking for `host` from `address` is refused ("": it
        is not)."""
        return self._refusal(host, address)

    def name_refusal(self, host: str) -> str:
        """Why `host` is not dialled, when its name (or literal address) alone says so;
        "" when it may be, or when that depends on what it resolves to."""
        if _address(host) is not None:
            return self._address_refusal(host, host)
        if self.deny.by_name(host):
            return f"federation with {host} is denied here"
        if (
            self.allow
            and self.allow.names_only()
            and not (self.allow.any or self.allow.by_name(host))
        ):
            return f"federation with {host} is not allowed here"
        return ""

    def _address_refusal(self, host: str, address: str) -> str:
        refusal = self._refusal(host, address)
        if refusal:
            return refusal
        if is_public(address) or self.dial_private:
            return ""
        if self.allow.by_name(host) or self.allow.by_address(address):
            return ""  # listed by name or network: the operator wants this one
        return f"{host} is {'' if address == host else f'at {address}, '}not a public address"

    def dial_addresses(self, host: str, addresses: Iterable[str]) -> tuple[list[str], str]:
        """Of the addresses `host` resolved to, those that may be dialled; and why
        none may, when none may."""
        allowed: list[str] = []
        refusal = ""
        for address in addresses:
            why = self._address_refusal(host, address)
            if why:
                refusal = refusal or why
            else:
                allowed.append(address)
        return allowed, "" if allowed else refusal or f"{host} does not resolve"
