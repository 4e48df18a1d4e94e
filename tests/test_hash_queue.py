"""The fair password-hashing queue (ircpsyc.services.hash_queue): order and bounds."""

from __future__ import annotations

from ircpsyc.netaddr import address_group as source_key
from ircpsyc.services.hash_queue import FairQueue, Work


def drain(queue: FairQueue[str]) -> list[str]:
    """Run everything, one job at a time: the jobs in the order they ran."""
    order = []
    while (picked := queue.pop()) is not None:
        source, job = picked
        order.append(job)
        queue.done(source)
    return order


def test_a_login_runs_before_queued_registrations() -> None:
    queue: FairQueue[str] = FairQueue()
    for n in range(3):
        assert queue.push("a", Work.HASH, f"a{n}")
    assert queue.push("b", Work.VERIFY, "login")
    assert drain(queue) == ["login", "a0", "a1", "a2"]


def test_backlogged_sources_take_turns() -> None:
    queue: FairQueue[str] = FairQueue()
    for source in "abc":
        for n in range(3):
            queue.push(source, Work.HASH, f"{source}{n}")
    assert drain(queue) == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_a_source_that_was_idle_is_served_within_one_round() -> None:
    """60 sources keep four registrations queued each (jobs are refilled as they run,
    as a flood would); a registration from a new source runs at once after the
    jobs that started with the same tag, not after the backlog."""
    queue: FairQueue[str] = FairQueue()
    sources = [f"10.0.0.{n}" for n in range(60)]
    for source in sources:
        for _ in range(4):
            queue.push(source, Work.HASH, source)
    for _ in range(200):  # the flood runs for a while, refilled as it goes
        picked = queue.pop()
        assert picked is not None
        queue.done(picked[0])
        assert queue.push(picked[0], Work.HASH, picked[0])
    assert queue.push("192.0.2.1", Work.HASH, "real")
    ran = []
    while (picked := queue.pop()) is not None and picked[1] != "real":
        ran.append(picked[1])
        queue.done(picked[0])
    assert len(ran) < len(sources)  # within one round
    # And a login from anywhere goes first.
    assert queue.push("192.0.2.2", Work.VERIFY, "login")
    picked = queue.pop()
    assert picked == ("192.0.2.2", "login")


def test_a_sources_share_is_bounded() -> None:
    queue: FairQueue[str] = FairQueue(per_source=2, total=3)
    assert queue.push("a", Work.HASH, "1") and queue.push("a", Work.VERIFY, "2")
    assert not queue.push("a", Work.HASH, "3")  # a has its share
    assert queue.load("a") == 2
    picked = queue.pop()
    assert picked == ("a", "2")
    assert not queue.push("a", Work.HASH, "3")  # a running job still counts
    queue.done("a")
    assert queue.push("a", Work.HASH, "3")
    assert queue.push("b", Work.HASH, "4")
    assert not queue.push("c", Work.HASH, "5")  # three in all
    queue.done("nobody")  # a stray `done` changes nothing
    assert drain(queue) == ["1", "4", "3"]
    assert queue.push("c", Work.HASH, "5")


def test_state_is_forgotten_when_idle() -> None:
    queue: FairQueue[str] = FairQueue()
    for n in range(100):
        queue.push(f"s{n}", Work.HASH, "x")
        queue.push(f"s{n}", Work.VERIFY, "y")
    drain(queue)
    assert len(queue) == 0
    assert not queue._load and all(not sources for sources in queue._classes.values())


def test_source_keys_group_ipv6_by_64() -> None:
    assert source_key("192.0.2.1") == "192.0.2.1"
    assert source_key("2001:db8::1") == source_key("2001:db8::ffff") == "2001:db8::/64"
    assert source_key("2001:db8:0:1::1") != source_key("2001:db8::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert source_key("2001:db8::1", 48) == "2001:db8::/48"
    assert source_key("psyc://other.example/~bob") == "psyc://other.example/~bob"
    assert source_key("") == ""
