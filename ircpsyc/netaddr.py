"""Addresses grouped the way limits count them: one IPv4 address, or one IPv6 network.

Anyone with IPv6 usually holds a whole /64 (often a /56 or /48), so a limit keyed on
the full IPv6 address does not limit one party at all.  Per-address limits therefore
count an IPv6 address as its network of `v6_prefix` bits; IPv4-mapped IPv6 addresses
(``::ffff:192.0.2.1``, seen on dual-stack listeners) count as the IPv4 address.
"""

from __future__ import annotations

import ipaddress

DEFAULT_V6_PREFIX = 64


def address_group(ip: str, v6_prefix: int = DEFAULT_V6_PREFIX) -> str:
    """The key per-address limits count `ip` under: the IPv4 address itself, or the
    IPv6 network ``addr/prefix``; anything that is not an address is its own group."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone index
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    mapped = address.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    prefix = max(0, min(128, v6_prefix))
    return str(ipaddress.IPv6Network((address, prefix), strict=False))
