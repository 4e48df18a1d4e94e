"""Client addresses: read one way everywhere, and grouped the way limits count them.

`parse_address` is how every front door reads an address: the IPv6 zone index
dropped and IPv4-mapped IPv6 (``::ffff:192.0.2.1``, seen on dual-stack listeners)
unwrapped to IPv4, so the same client is the same address whichever way it came.

Anyone with IPv6 usually holds a whole /64 (often a /56 or /48), so a limit keyed on
the full IPv6 address does not limit one party at all.  Per-address limits therefore
count an IPv6 address as its network of `v6_prefix` bits; IPv4-mapped IPv6 addresses
(``::ffff:192.0.2.1``, seen on dual-stack listeners) count as the IPv4 address.
"""

from __future__ import annotations

import ipaddress

DEFAULT_V6_PREFIX = 64

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address as the IPv4 address it is; others as they are."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str) -> Address | None:
    """`text` as an address (zone index dropped, IPv4-mapped unwrapped), or None."""
    try:
        return unmapped(ipaddress.ip_address(text.strip().partition("%")[0]))
    except ValueError:
        return None


def address_group(ip: str, v6_prefix: int = DEFAULT_V6_PREFIX) -> str:
    """The key per-address limits count `ip` under: the IPv4 address itself, or the
    IPv6 network ``addr/prefix``; anything that is not an address is its own group."""
    address = parse_address(ip)
    if address is None:
        return ip
    if isinstance(address, ipaddress.IPv4Address):
        text = str(address)
        return ip if text == ip else text  # the connection's own string: kept per client
    prefix = max(0, min(128, v6_prefix))
    return str(ipaddress.IPv6Network((address, prefix), strict=False))
