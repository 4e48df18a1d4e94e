"""The client address behind trusted reverse proxies (ircpsyc.web.forwarded)."""

from __future__ import annotations

from ircpsyc.web.forwarded import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


def test_untrusted_peer_headers_ignored() -> None:
    headers = [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https")]
    assert client_address("192.0.2.9", headers, PROXIES) == ("192.0.2.9", None)
    assert client_address("10.1.1.1", headers, ()) == ("10.1.1.1", None)


def test_rightmost_untrusted_hop_wins() -> None:
    # The client may send its own X-Forwarded-For: only what our proxies appended counts.
    headers = [("X-Forwarded-For", "6.6.6.6, 198.51.100.4, 10.0.0.2")]
    assert client_address("10.0.0.1", headers, PROXIES) == ("198.51.100.4", None)


def test_proto_and_several_headers() -> None:
    headers = [
        ("x-forwarded-for", "198.51.100.4"),
        ("X-Forwarded-For", "10.0.0.3"),
        ("X-Forwarded-Proto", "https"),
    ]
    assert client_address("::1", headers, PROXIES) == ("198.51.100.4", True)
    assert client_address("10.0.0.1", [("X-Forwarded-Proto", "http")], PROXIES) == (
        "10.0.0.1",
        False,
    )


def test_rfc7239_forwarded() -> None:
    headers = [("Forwarded", 'for=198.51.100.4:1234;proto=https, for="[2001:db8::7]:99"')]
    assert client_address("10.0.0.1", headers, PROXIES) == ("2001:db8::7", True)
    hidden = [("Forwarded", "for=_hidden, for=10.0.0.5")]
    assert client_address("10.0.0.1", hidden, PROXIES) == ("10.0.0.5", None)


def test_garbage_and_mapped_addresses() -> None:
    assert client_address("10.0.0.1", [("X-Forwarded-For", "not an ip")], PROXIES) == (
        "10.0.0.1",
        None,
    )
    mapped = [("X-Forwarded-For", "::ffff:198.51.100.4")]
    assert client_address("10.0.0.1", mapped, PROXIES) == ("198.51.100.4", None)
