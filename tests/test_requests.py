"""Requests to other servers (ircpsyc.psyc_backend.requests), sans-IO: tags, answers
from the server asked only, expiry by the given clock, failure when a server is lost."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.requests import Failure, Request, Requests

if TYPE_CHECKING:
    from ircpsyc.psyc_backend.network import Network


class FakeNetwork:
    me = "a.test"

    def __init__(self) -> None:
        self.servers = {"a.test", "b.test", "c.test"}
        self.reachable = {"b.test", "c.test"}

    def in_network(self, host: str) -> bool:
        return host in self.servers

    def is_reachable(self, host: str) -> bool:
        return host in self.reachable


class World:
    def __init__(self) -> None:
        self.now = 100.0
        self.timeout = 5.0
        self.failed: list[tuple[str, str, Failure]] = []
        self.network = FakeNetwork()
        self.requests: Requests[str] = Requests(
            "x",
            lambda: self.now,
            lambda: self.timeout,
            self.fail,
            cast("Network", self.network),
        )

    def fail(self, request: Request[str], why: Failure) -> None:
        self.failed.append((request.tag, request.data, why))

    def ask(self, home: str, data: str) -> str:
        tag = self.requests.tag()
        self.requests.add(tag, home, data)
        return tag


def answer(tag: str, home: str) -> Packet:
    return Packet("_status_x", {"_source": f"psyc://{home}/$x", "_tag_relay": tag})


def test_tags_are_numbered_with_the_prefix_or_made_by_make_tag() -> None:
    world = World()
    assert [world.requests.tag() for _ in range(3)] == ["x1", "x2", "x3"]
    made = iter(["one", "two"])
    other: Requests[str] = Requests(
        "y", lambda: 0.0, lambda: 1.0, world.fail, make_tag=made.__next__
    )
    assert (other.tag(), other.tag()) == ("one", "two")


def test_an_answer_counts_only_from_the_server_asked_and_only_once() -> None:
    world = World()
    requests = world.requests
    tag = world.ask("b.test", "names")
    assert tag in requests and len(requests) == 1
    assert requests.get(answer(tag, "c.test")) is None  # another server: not ours
    assert requests.get(answer("x99", "b.test")) is None  # unknown tag
    request = requests.get(answer(tag, "b.test"))
    assert request is not None and (request.home, request.data) == ("b.test", "names")
    assert request.deadline == 105.0
    assert requests.answered_by(request)
    assert not requests.answered_by(request)  # settled already
    assert requests.get(answer(tag, "b.test")) is None  # late: dropped
    assert (requests.answered, len(requests), world.failed) == (1, 0, [])


def test_requests_expire_at_their_deadline_by_the_given_clock() -> None:
    world = World()
    requests = world.requests
    first = world.ask("b.test", "first")
    world.timeout = 60.0  # read when a request is added: the first keeps its deadline
    second = world.ask("c.test", "second")
    world.now = 104.9
    requests.expire()
    assert world.failed == []
    world.now = 105.0
    requests.expire()
    assert world.failed == [(first, "first", "timeout")]
    assert first not in requests and second in requests
    assert requests.get(answer(first, "b.test")) is None  # late: dropped
    assert (requests.expired, requests.answered) == (1, 0)


def test_a_lost_server_fails_its_requests_at_once() -> None:
    world = World()
    b1, c1, b2 = world.ask("b.test", "1"), world.ask("c.test", "2"), world.ask("b.test", "3")
    world.requests.server_lost("b.test")
    assert world.failed == [(b1, "1", "lost"), (b2, "3", "lost")]
    assert list(world.requests.pending) == [c1]
    assert (world.requests.lost, world.requests.expired) == (2, 0)


def test_a_request_settled_by_another_failure_is_not_failed_again() -> None:
    world = World()
    requests = world.requests
    first, second = world.ask("b.test", "1"), world.ask("b.test", "2")

    def settle_the_other(request: Request[str], why: Failure) -> None:
        world.fail(request, why)
        other = requests.pending.get(second)
        if other is not None:
            requests.answered_by(other)

    requests.fail = settle_the_other
    world.now = 200.0
    requests.expire()
    assert world.failed == [(first, "1", "timeout")]
    assert (requests.expired, requests.answered, len(requests)) == (1, 1, 0)


def test_can_ask_another_reachable_server_of_the_network_only() -> None:
    world = World()
    requests = world.requests
    assert requests.can_ask("b.test")
    assert not requests.can_ask("a.test")  # ourselves
    assert not requests.can_ask("elsewhere.test")  # not of the network
    world.network.reachable.discard("c.test")
    assert not requests.can_ask("c.test")
    requests.network = None  # not linked (yet)
    assert not requests.can_ask("b.test")
