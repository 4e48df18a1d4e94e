"""Who is really connecting: the client address behind trusted reverse proxies (sans-IO).

A proxy's `X-Forwarded-For` lists the hops it saw, each proxy appending the
address it got the request from; only the entries added by proxies we trust
are believable, so we walk from the right and take the first address that is
not one of ours. `Forwarded` (RFC 7239) says the same in another syntax.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from ircpsyc.netaddr import parse_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The configured proxies (checked by the config loader) as networks."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def normal_ip(text: str) -> str | None:
    """`text` as a canonical address string, IPv4-mapped IPv6 unwrapped; None if it is none."""
    address = parse_address(text)
    return None if address is None else str(address)


def is_trusted(ip: str, trusted: Sequence[Network]) -> bool:
    if not trusted:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def _forwarded_for(values: Sequence[str]) -> tuple[list[str], str | None]:
    """The `for=` addresses and the first hop's `proto=` of RFC 7239 Forwarded headers."""
    hops: list[str] = []
    proto: str | None = None
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, raw = pair.strip().partition("=")
                raw = raw.strip().strip('"')
                if name.lower() == "for":
                    if raw.startswith("["):  # "[2001:db8::1]:4711"
                        raw = raw[1:].partition("]")[0]
                    elif raw.count(":") == 1:  # "192.0.2.1:4711"
                        raw = raw.partition(":")[0]
                    hops.append(raw)
                elif name.lower() == "proto" and proto is None:
                    proto = raw.lower()
    return hops, proto


def client_address(
    peer_ip: str,
    headers: Iterable[tuple[str, str]],
    trusted: Sequence[Network],
) -> tuple[str, bool | None]:
    """The client's address and whether it used TLS to the proxy (None: not said).

    Headers count only when the peer itself is a trusted proxy."""
    if not is_trusted(peer_ip, trusted):
        return peer_ip, None
    forwarded: list[str] = []
    xff: list[str] = []
    xproto: str | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == "forwarded":
            forwarded.append(value)
        elif lower == "x-forwarded-for":
            xff.append(value)
        elif lower == "x-forwarded-proto" and xproto is None:
            xproto = value.split(",")[0].strip().lower()
    if forwarded:
        hops, proto = _forwarded_for(forwarded)
    else:
        hops = [hop for value in xff for hop in value.split(",")]
        proto = xproto
    secure = None if proto is None else proto in ("https", "wss")
    client = peer_ip
    for hop in reversed(hops):
        ip = normal_ip(hop)
        if ip is None:
            break  # "unknown" or an obfuscated name: nothing further left is believable
        client = ip
        if not is_trusted(ip, trusted):
            break
    return client, secure
