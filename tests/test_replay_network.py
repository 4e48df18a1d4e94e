"""Read markers and the replay across linked servers.

Three servers in a line (a - b - c); an account homed on one of them logs in on
the others.  Markers are kept at the account's home and told everywhere
(ircpsyc.services.marks_net); the replay of a channel homed elsewhere is asked
from its home (ircpsyc.ircd.replay).
"""

from __future__ import annotations

from helpers import FakeClient
from netsim import Sim
from test_private_network import A, B, C, homed, identify, line3, offline_account, register

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.services.marks import owner_of

MARKER = ["draft/read-marker"]
TS = "2024-01-02T03:04:05.678Z"
OLDER = "2023-01-02T03:04:05.678Z"


def login(sim: Sim, server: str, account: str) -> FakeClient:
    """A client on `server` with another nick, logged in to `account`."""
    fake = sim[server].client(account + server[0], caps=MARKER)
    sim.do(fake, f"NS IDENTIFY {account} secret-pw")
    sim.settle()
    assert fake.client.account == account
    sim.lines(fake)
    return fake


def marks(sim: Sim, server: str, account: str) -> dict[str, int]:
    return dict(sim[server].core.readmarkers.all_of(owner_of(account, "")))


def test_a_marker_set_on_one_server_reaches_the_home_and_the_others() -> None:
    sim = line3()
    name = homed(sim, A, "mk")
    register(sim, A, name)
    # Logged in on b and on c (two persons of one account, other nicks).
    on_b, on_c = login(sim, B, name), login(sim, C, name)

    sim.do(on_c, f"MARKREAD #chan timestamp={TS}")
    sim.settle()
    assert [m.params for m in sim.lines(on_c) if m.command == "MARKREAD"] == [
        ["#chan", f"timestamp={TS}"]
    ]
    # The home keeps it; b hears of it and tells its session.
    assert list(marks(sim, A, name)) == ["#chan"]
    assert marks(sim, B, name) == marks(sim, A, name) == marks(sim, C, name)
    assert [m.params for m in sim.lines(on_b) if m.command == "MARKREAD"] == [
        ["#chan", f"timestamp={TS}"]
    ]
    # An older time from b moves nothing anywhere.
    sim.do(on_b, f"MARKREAD #chan timestamp={OLDER}")
    sim.settle()
    assert [m.params for m in sim.lines(on_b) if m.command == "MARKREAD"] == [
        ["#chan", f"timestamp={TS}"]
    ]
    assert not [m for m in sim.lines(on_c) if m.command == "MARKREAD"]


def test_a_server_that_missed_a_marker_asks_the_home_when_the_account_logs_in() -> None:
    sim = line3()
    name = homed(sim, B, "mq")
    register(sim, B, name)
    sim.cut(B, C)
    on_a = login(sim, A, name)
    sim.do(on_a, f"MARKREAD {name}x timestamp={TS}")
    sim.settle()
    assert marks(sim, C, name) == {}  # cut off while it moved
    sim.connect(B, C)
    sim.tick(2.0)
    on_c = login(sim, C, name)
    sim.tick(1.0)
    assert marks(sim, C, name) == marks(sim, B, name) != {}
    sim.do(on_c, f"MARKREAD {name}x")
    sim.settle()
    assert [m.params for m in sim.lines(on_c) if m.command == "MARKREAD"][-1] == [
        f"{name}x",
        f"timestamp={TS}",
    ]


TIMED = ["batch", "server-time", "message-tags"]


def test_the_replay_of_a_channel_homed_elsewhere_comes_from_its_home() -> None:
    """An account on c was in #x (homed on a); what was said there while it was gone
    is asked from a when it joins again: once, and nothing said after the join twice."""
    sim = line3()
    name = offline_account(sim, home=C, typed_on=C)
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x")
    me = identify(sim, C, name, TIMED)
    sim.do(me, "JOIN #x")
    sim.settle()
    sim.do(me, "QUIT :later")
    sim.settle()
    sim.tick(0.5)
    sim.do(alice, "PRIVMSG #x :while you were out")
    sim.settle()
    sim.tick(0.5)
    me = identify(sim, C, name, TIMED)
    sim.do(me, "JOIN #x")
    sim.do(alice, "PRIVMSG #x :live, after the join")
    sim.settle()
    texts = [m.params[-1] for m in sim.lines(me) if m.command == "PRIVMSG"]
    assert sorted(texts) == ["live, after the join", "while you were out"], texts


def test_a_peer_s_marker_out_of_range_or_from_outside_is_dropped() -> None:
    sim = line3()
    service = sim[A].linking.markers
    rows = {V.LIST_TARGET_MARKER: ["#x", "#y", "#z"], V.LIST_TIME_MARKER: ["9" * 16, "-5", "x"]}
    for source in ("psyc://b.test/$markers", "psyc://evil.example/$markers"):
        service.receive(
            Packet(
                V.NOTICE_MARKER,
                {V.SOURCE: source, V.TARGET: service.uniform},
                {V.ACCOUNT_MARKER: "mallory", **rows},
            )
        )
    assert marks(sim, A, "mallory") == {}
    service.receive(
        Packet(
            V.NOTICE_MARKER,
            {V.SOURCE: "psyc://evil.example/$markers", V.TARGET: service.uniform},
            {V.ACCOUNT_MARKER: "mallory", V.LIST_TARGET_MARKER: ["#x"], V.LIST_TIME_MARKER: ["5"]},
        )
    )
    assert marks(sim, A, "mallory") == {}  # not a server of the network
