"""Read markers across linked servers: kept at the account's home, told everywhere.

Three servers in a line (a - b - c); an account homed on one of them logs in on
the others (ircpsyc.services.marks_net).
"""

from __future__ import annotations

from helpers import FakeClient
from netsim import Sim
from test_private_network import A, B, C, homed, line3, register

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
