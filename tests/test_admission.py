"""Admission bookkeeping and address grouping, sans-IO (issue #18: 4, 7)."""

from __future__ import annotations

from ircpsyc.admission import FULL, TOO_MANY_FROM_ADDRESS, Admission, Quota
from ircpsyc.netaddr import address_group

ROOMY = Quota(per_group=3, registering=100, total=100)


def test_ipv4_is_its_own_group() -> None:
    assert address_group("192.0.2.1") == "192.0.2.1"
    assert address_group("192.0.2.1") != address_group("192.0.2.2")


def test_ipv6_is_grouped_by_prefix() -> None:
    a, b = "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"
    assert address_group(a) == address_group(b) == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") != address_group(a)
    assert address_group("2001:db8:1:3::1", 48) == address_group(a, 48) == "2001:db8:1::/48"
    assert address_group(a, 128) != address_group(b, 128)


def test_ipv4_mapped_ipv6_counts_as_ipv4() -> None:
    assert address_group("::ffff:192.0.2.1") == address_group("192.0.2.1") == "192.0.2.1"


def test_what_is_not_an_address_is_its_own_group() -> None:
    assert address_group("unknown") == "unknown"
    assert address_group("fe80::1%eth0") == "fe80::/64"


def test_per_group_limit_and_release() -> None:
    admission: Admission[str] = Admission()
    for key in "abc":
        assert admission.admit(key, "g", ROOMY).refusal == ""
    assert admission.admit("d", "g", ROOMY).refusal == TOO_MANY_FROM_ADDRESS
    assert admission.admit("x", "other", ROOMY).refusal == ""
    admission.gone("a")
    admission.gone("a")  # twice is harmless
    assert admission.admit("d", "g", ROOMY).refusal == ""
    assert len(admission) == 4


def test_registered_connections_still_count_per_group_but_not_as_registering() -> None:
    admission: Admission[str] = Admission()
    admission.admit("a", "g", ROOMY)
    admission.registered("a")
    assert admission.registering == 0 and admission.per_group["g"] == 1


def test_a_newcomer_displaces_the_oldest_of_the_biggest_holder() -> None:
    quota = Quota(per_group=10, registering=4, total=100)
    admission: Admission[str] = Admission()
    for key, group in [("m1", "many"), ("f1", "few"), ("m2", "many"), ("m3", "many")]:
        assert admission.admit(key, group, quota).victim is None
    verdict = admission.admit("n1", "new", quota)
    assert verdict == type(verdict)("", "m1")
    assert "m1" not in admission and admission.registering == 4
    # The biggest holder cannot displace its own or a smaller holder's.
    assert admission.admit("m4", "many", quota).refusal == FULL
    # Registered connections are never displaced.
    for key in ("m2", "m3", "f1", "n1"):
        admission.registered(key)
    assert admission.admit("m4", "many", quota).victim is None


def test_total_limit_displaces_too_and_can_be_told_not_to() -> None:
    admission: Admission[str] = Admission()
    quota = Quota(per_group=10, registering=100, total=2)
    admission.admit("a1", "a", quota)
    admission.admit("a2", "a", quota)
    assert admission.admit("b1", "b", quota).victim == "a1"
    calm = Quota(per_group=10, registering=100, total=2, displace=False)
    assert admission.admit("c1", "c", calm).refusal == FULL
    admission.registered("a2")
    admission.registered("b1")
    assert admission.admit("c1", "c", quota).refusal == FULL  # all registered: full
