"""The per-IP limit on account registrations ([services] register_per_ip_per_hour).

Each registration costs a slow password hash, so a client (or many connections
from one address) may start only a few per hour; further ones are refused, with
a clear error, before anything is hashed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
from account_helpers import ServicesWorld, notices
from helpers import FakeClient, cmds, only

from ircpsyc.config import ServicesSection, load
from ircpsyc.services.accounts import RegisterLimiter, register_refusal


def limiter(limit: int) -> RegisterLimiter:
    services = dataclasses.replace(load(None).services, register_per_ip_per_hour=limit)
    return RegisterLimiter(lambda: services)


@pytest.fixture
def world() -> Iterator[ServicesWorld]:
    w = ServicesWorld(register_per_ip_per_hour=2)
    w.hashes = 0  # type: ignore[attr-defined]
    original: Callable[[str], str] = w.accounts._hash

    def counting(password: str) -> str:
        w.hashes += 1  # type: ignore[attr-defined]
        return original(password)

    w.accounts._hash = counting
    yield w
    w.close()


def hashes(world: ServicesWorld) -> int:
    count: int = world.hashes  # type: ignore[attr-defined]
    return count


# -- the limiter


def test_default_is_a_few_per_hour() -> None:
    services: ServicesSection = load(None).services
    assert 1 <= services.register_per_ip_per_hour <= 10


def test_limiter_counts_per_address_within_an_hour() -> None:
    limits = limiter(3)
    now = 1000.0
    assert [limits.take("192.0.2.1", now + i) for i in range(3)] == [0.0, 0.0, 0.0]
    wait = limits.take("192.0.2.1", now + 10)
    assert 3500 < wait <= 3600
    assert limits.take("192.0.2.1", now + 20) > 0  # a refusal is not counted, still refused
    assert limits.take("192.0.2.2", now + 20) == 0.0  # another address is not affected
    assert limits.take("192.0.2.1", now + 3600.5) == 0.0  # the oldest is an hour old
    assert limits.take("192.0.2.1", now + 3600.6) > 0  # and that one counted


def test_limiter_zero_means_no_limit() -> None:
    limits = limiter(0)
    assert all(limits.take("192.0.2.1", 1000.0) == 0.0 for _ in range(50))
    limits.prune(1000.0)


def test_limiter_prunes_old_addresses() -> None:
    limits = limiter(1)
    limits.take("192.0.2.1", 1000.0)
    limits.prune(1000.0 + 3601)
    assert limits.take("192.0.2.1", 1000.0 + 3602) == 0.0


def test_refusal_text_says_when() -> None:
    assert register_refusal(30) == (
        "Too many account registrations from your address; try again in 1 minute."
    )
    assert register_refusal(3000).endswith("try again in 50 minutes.")


# -- NickServ REGISTER


def test_nickserv_register_is_limited_per_address(world: ServicesWorld) -> None:
    for nick in ("one", "two"):
        fake = world.client(nick)
        assert "900" in cmds(fake.send("PRIVMSG NickServ :REGISTER secret-pw"))
    assert hashes(world) == 2
    third = world.client("three")
    out = third.send("PRIVMSG NickServ :REGISTER secret-pw")
    assert notices(out) == [
        "Too many account registrations from your address; try again in 60 minutes."
    ]
    assert "900" not in cmds(out)
    assert hashes(world) == 2  # refused before hashing
    assert world.accounts.get("three") is None
    assert not world.accounts.pending("three")  # the name is free again
    # Another address is not affected.
    other = world.client("four", ip="198.51.100.4")
    assert "900" in cmds(other.send("PRIVMSG NickServ :REGISTER secret-pw"))
    # An hour later the first address may register again.
    world.tick(3601)
    assert "900" in cmds(third.send("PRIVMSG NickServ :REGISTER secret-pw"))


def test_refused_registrations_do_not_count(world: ServicesWorld) -> None:
    fake = world.client("one")
    assert notices(fake.send("PRIVMSG NickServ :REGISTER secret-pw bad@"))  # no hash
    assert hashes(world) == 0
    assert "900" in cmds(fake.send("PRIVMSG NickServ :REGISTER secret-pw"))
    assert "900" in cmds(world.client("two").send("PRIVMSG NickServ :REGISTER secret-pw"))


# -- IRCv3 REGISTER (draft/account-registration)


def test_ircv3_register_is_limited_per_address(world: ServicesWorld) -> None:
    fake = FakeClient(world)
    assert only(fake.send("REGISTER one * secret-passphrase"), "REGISTER").params[0] == "SUCCESS"
    fake = FakeClient(world)
    assert only(fake.send("REGISTER two * secret-passphrase"), "REGISTER").params[0] == "SUCCESS"
    fake = FakeClient(world)
    fail = only(fake.send("REGISTER three * secret-passphrase"), "FAIL")
    assert fail.params == [
        "REGISTER",
        "TEMPORARILY_UNAVAILABLE",
        "three",
        "Too many account registrations from your address; try again in 60 minutes.",
    ]
    assert hashes(world) == 2
    assert world.accounts.get("three") is None and not world.accounts.pending("three")
    other = FakeClient(world, "198.51.100.4")
    assert only(other.send("REGISTER three * secret-passphrase"), "REGISTER").params == [
        "SUCCESS",
        "three",
        "Account created",
    ]


def test_both_ways_share_the_limit(world: ServicesWorld) -> None:
    fake = world.client("one")
    assert "900" in cmds(fake.send("PRIVMSG NickServ :REGISTER secret-pw"))
    fake = FakeClient(world)
    assert only(fake.send("REGISTER two * secret-passphrase"), "REGISTER").params[0] == "SUCCESS"
    third = world.client("three")
    assert notices(third.send("NS REGISTER secret-pw"))[0].startswith("Too many")
    fake = FakeClient(world)
    assert only(fake.send("REGISTER four * secret-passphrase"), "FAIL").params[1] == (
        "TEMPORARILY_UNAVAILABLE"
    )
    assert hashes(world) == 2
