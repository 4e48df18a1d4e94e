"""The PROXY protocol header parser (ircpsyc.proxy_protocol), versions 1 and 2."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircpsyc.proxy_protocol import V2_SIGNATURE, Header, ProxyError, parse


def v2(command: int, family: int, payload: bytes) -> bytes:
    return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family, len(payload)) + payload


def test_v1() -> None:
    line = b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 6667\r\n"
    assert parse(line + b"NICK x\r\n") == Header(len(line), ("198.51.100.7", 40000))
    six = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 6667\r\n"
    assert parse(six) == Header(len(six), ("2001:db8::7", 40000))
    assert parse(b"PROXY UNKNOWN\r\n") == Header(15, None)


def test_v2() -> None:
    four = ipaddress.IPv4Address("203.0.113.9").packed + bytes(4) + struct.pack("!HH", 5555, 6667)
    data = v2(1, 0x11, four)
    assert parse(data + b"rest") == Header(len(data), ("203.0.113.9", 5555))
    six = ipaddress.IPv6Address("2001:db8::9").packed + bytes(16) + struct.pack("!HH", 1, 2)
    assert parse(v2(1, 0x21, six + b"\x04\x00\x01x")).source == ("2001:db8::9", 1)  # a TLV
    assert parse(v2(0, 0x00, b"")) == Header(16, None)  # LOCAL: a health check


def test_incomplete_headers_wait() -> None:
    line = b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 6667\r\n"
    data = v2(1, 0x11, bytes(12))
    for whole in (line, data):
        for cut in range(1, len(whole)):
            assert parse(whole[:cut]) is None, (whole, cut)


@pytest.mark.parametrize(
    "data",
    [
        b"NICK alice\r\n",
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 nonsense 192.0.2.1 1 2\r\n",
        b"PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n",
        b"PROXY TCP4 198.51.100.7 192.0.2.1 99999 2\r\n",
        b"PROXY " + b"x" * 200,
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
        V2_SIGNATURE + b"\x21\x11\xff\xff",  # longer than anybody sends
        b"\r\n\r\nnot the signature",
    ],
)
def test_not_a_header(data: bytes) -> None:
    with pytest.raises(ProxyError):
        parse(data)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_cleanly(data: bytes) -> None:
    try:
        header = parse(data)
    except ProxyError:
        return
    assert header is None or 0 < header.length <= len(data)
