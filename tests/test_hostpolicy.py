"""[federation]'s rule for which foreign hosts users may make the server dial, and
which may call it (ircpsyc.psyc_backend.hostpolicy), sans-IO."""

from __future__ import annotations

from ircpsyc.psyc_backend.hostpolicy import HostPolicy, is_public


def test_public_addresses() -> None:
    assert is_public("192.0.43.10") and is_public("2001:4860:4860::8888")
    for private in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.0.1",
                    "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "224.0.0.1",
                    "::ffff:127.0.0.1", "[::1]"):  # fmt: skip
        assert not is_public(private), private
    assert not is_public("psyced.example.org")


def test_default_dials_public_addresses_only() -> None:
    policy = HostPolicy()
    assert policy.name_refusal("192.0.43.10") == ""
    assert "not a public address" in policy.name_refusal("127.0.0.1")
    assert "not a public address" in policy.name_refusal("::ffff:10.0.0.1")
    assert policy.name_refusal("psyced.example.org") == ""  # decided once resolved
    assert policy.dial_addresses("psyced.example.org", ["192.0.43.10", "10.0.0.1"]) == (
        ["192.0.43.10"],
        "",
    )
    allowed, why = policy.dial_addresses("sneaky.example.org", ["127.0.0.1"])
    assert allowed == [] and "sneaky.example.org is at 127.0.0.1, not a public" in why
    # Callers are not concerned: psyced on a private network may call us.
    assert policy.caller_refusal("10.0.0.7", "10.0.0.7") == ""
    assert HostPolicy(dial_private=True).name_refusal("127.0.0.1") == ""


def test_allow_and_deny_lists() -> None:
    policy = HostPolicy(allow=["*.example.org", "192.0.2.0/24"], deny=["bad.example.org"])
    assert policy.name_refusal("psyced.example.org") == ""
    assert "denied" in policy.name_refusal("bad.example.org")
    assert "denied" in policy.caller_refusal("bad.example.org", "192.0.43.10")
    assert policy.name_refusal("other.example.net") == ""  # may resolve into 192.0.2.0/24
    assert policy.dial_addresses("other.example.net", ["192.0.2.5"]) == (["192.0.2.5"], "")
    assert "not allowed" in policy.dial_addresses("other.example.net", ["192.0.43.10"])[1]
    assert "not allowed" in policy.caller_refusal("other.example.net", "192.0.43.10")
    only_names = HostPolicy(allow=["psyced.example.org"])
    assert "not allowed" in only_names.name_refusal("other.example.net")  # at once
    # "*" plus a private address: any public host, and that one internal server.
    mixed = HostPolicy(allow=["*", "10.1.2.3"])
    assert mixed.name_refusal("10.1.2.3") == "" and mixed.name_refusal("192.0.43.10") == ""
    assert "not a public address" in mixed.name_refusal("10.1.2.4")
    assert "denied" in HostPolicy(deny=["10.0.0.0/8"]).caller_refusal("x.example", "10.9.9.9")
