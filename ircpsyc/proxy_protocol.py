"""The PROXY protocol (HAProxy's, versions 1 and 2): who connected to the proxy.

A proxy in front of a listener that opts in starts every connection with a
header naming the client's address; the connection then counts as the
client's (limits per address, D-lines, cloaks, WHO). `parse` is the sans-IO
core; `ProxyProtocolAdapter` is the asyncio wrapper that reads the header and
then hands the connection, with the client's address as its peer, to the
listener's own protocol (IRC or web), which never knows there was a proxy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ircpsyc.netaddr import unmapped

log = logging.getLogger("ircpsyc.proxy")

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the longest version 1 line, CR LF included
V2_MAX_PAYLOAD = 4096  # addresses and TLVs; a real proxy sends far less
HEADER_TIMEOUT = 10.0  # seconds the proxy has to send the header

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyError(ValueError):
    """The bytes are not a PROXY protocol header."""


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header: the client's address, or None for a LOCAL or UNKNOWN connection
    (a health check from the proxy itself); `length` bytes of the stream are the header."""

    length: int
    source: tuple[str, int] | None


def parse(data: bytes) -> Header | None:
    """The header at the start of `data`; None while it is incomplete; ProxyError if
    `data` does not start with one."""
    if data[:1] == b"\r":
        return _parse_v2(data)
    if data[:6] == b"PROXY "[: len(data[:6])]:
        return _parse_v1(data)
    raise ProxyError("no PROXY protocol header")


def _parse_v1(data: bytes) -> Header | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyError("PROXY v1 line too long")
        return None
    words = data[:end].decode("ascii", "replace").split(" ")
    if len(words) >= 2 and words[1] == "UNKNOWN":
        return Header(end + 2, None)
    if len(words) != 6 or words[1] not in ("TCP4", "TCP6"):
        raise ProxyError("bad PROXY v1 line")
    try:
        address = ipaddress.ip_address(words[2])
        port = int(words[4])
    except ValueError:
        raise ProxyError("bad address in PROXY v1 line") from None
    if address.version != (4 if words[1] == "TCP4" else 6) or not 0 <= port <= 65535:
        raise ProxyError("bad address in PROXY v1 line")
    return Header(end + 2, (_unmapped(address), port))


def _parse_v2(data: bytes) -> Header | None:
    if len(data) < 16:
        if not V2_SIGNATURE.startswith(data[:12]):
            raise ProxyError("no PROXY protocol header")
        return None
    if data[:12] != V2_SIGNATURE:
        raise ProxyError("no PROXY protocol header")
    version_command, family, length = struct.unpack("!BBH", data[12:16])
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        raise ProxyError("bad PROXY v2 version or command")
    if length > V2_MAX_PAYLOAD:
        raise ProxyError("PROXY v2 header too long")
    if len(data) < 16 + length:
        return None
    payload = data[16 : 16 + length]
    total = 16 + length
    if version_command & 0x0F == 0:  # LOCAL: the proxy's own connection
        return Header(total, None)
    if family == 0x11 and length >= 12:  # TCP over IPv4
        return Header(total, (str(ipaddress.IPv4Address(payload[:4])), _port(payload, 8)))
    if family == 0x21 and length >= 36:  # TCP over IPv6
        return Header(total, (_unmapped(ipaddress.IPv6Address(payload[:16])), _port(payload, 32)))
    return Header(total, None)  # UNSPEC, UDP or unix sockets: nothing to use


def _port(payload: bytes, offset: int) -> int:
    return int(struct.unpack("!H", payload[offset : offset + 2])[0])


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return str(unmapped(address))


class _PeerTransport(asyncio.Transport):
    """The real transport, except that its peer is the client the proxy named."""

    def __init__(self, raw: asyncio.Transport, peer: tuple[str, int]) -> None:
        super().__init__()
        self._raw = raw
        self._peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        return self._raw.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._raw.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._raw.writelines(list_of_data)

    def write_eof(self) -> None:
        self._raw.write_eof()

    def can_write_eof(self) -> bool:
        return self._raw.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self._raw.is_closing()

    def close(self) -> None:
        self._raw.close()

    def abort(self) -> None:
        self._raw.abort()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()


class ProxyProtocolAdapter(asyncio.Protocol):
    """A connection to a listener behind a proxy: the header first, then `inner`."""

    def __init__(self, inner: asyncio.Protocol, trusted: Sequence[Network]) -> None:
        self._inner = inner
        self._trusted = trusted
        self._raw: asyncio.Transport | None = None
        self._buffer = b""
        self._passed = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._raw = raw
        peer = raw.get_extra_info("peername") or ("", 0)
        try:
            address = ipaddress.ip_address(str(peer[0]))
        except ValueError:
            address = None
        if address is None or not any(address in network for network in self._trusted):
            log.warning("PROXY listener: %s is not a trusted proxy", peer[0])
            raw.abort()
            return
        self._timer = asyncio.get_running_loop().call_later(HEADER_TIMEOUT, raw.abort)

    def data_received(self, data: bytes) -> None:
        if self._passed:
            self._inner.data_received(data)
            return
        raw = self._raw
        if raw is None or raw.is_closing():
            return
        self._buffer += data
        try:
            header = parse(self._buffer)
        except ProxyError as error:
            log.warning("PROXY listener: %s", error)
            raw.abort()
            return
        if header is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rest = self._buffer[header.length :]
        self._buffer = b""
        self._passed = True
        peer = header.source or raw.get_extra_info("peername")
        self._inner.connection_made(_PeerTransport(raw, (str(peer[0]), int(peer[1]))))
        if rest:
            self._inner.data_received(rest)

    def eof_received(self) -> bool | None:
        if self._passed:
            return self._inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._passed:
            self._inner.connection_lost(exc)
        self._raw = None


def wrap(
    factory: Callable[[], asyncio.Protocol], trusted: Sequence[Network]
) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for a listener that expects a PROXY header first."""
    return lambda: ProxyProtocolAdapter(factory(), trusted)
