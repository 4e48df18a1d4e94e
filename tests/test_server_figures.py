"""What a server says about the network, sans-IO: LUSERS counts every channel of the
network (its directory), WHOIS, WHOWAS and LINKS show each server's own description
(carried in its topology advertisements), STATS l gives each connection's figures.

Three servers in a line (a - b - c); channels are picked so their home is where
the test wants it."""

from __future__ import annotations

import dataclasses

from helpers import World, only
from netsim import Sim

NAMES = ["a.test", "b.test", "c.test"]
LINE = [("a.test", "b.test"), ("b.test", "c.test")]


def homed(sim: Sim, server: str, prefix: str = "#fig") -> str:
    network = sim[NAMES[0]].network
    return next(f"{prefix}{i}" for i in range(1000) if network.home_of(f"{prefix}{i}") == server)


def test_lusers_counts_the_channels_of_the_whole_network() -> None:
    sim = Sim(NAMES, LINE)
    sim.link_all()
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    on_a, on_b, on_c = homed(sim, "a.test"), homed(sim, "b.test"), homed(sim, "c.test")
    sim.do(alice, f"JOIN {on_a}", f"JOIN {on_b}")
    sim.do(carol, f"JOIN {on_c}", f"MODE {on_c} +s")  # secret: counted, not listed
    sim.tick(1.0)  # the directories are cast once per tick
    watchers = {name: sim[name].client(f"w{name[0]}") for name in NAMES}
    for name, watcher in watchers.items():
        sim.do(watcher, "LUSERS")
        assert only(sim.lines(watcher), "254").params[1] == "3", name
    # b has no member of any of them: still every one (LIST shows the same two).
    sim.do(watchers["b.test"], "LIST")
    listed = [line.params[1] for line in sim.lines(watchers["b.test"]) if line.command == "322"]
    assert sorted(listed) == sorted([on_a, on_b])
    sim.do(alice, f"PART {on_b}")
    sim.tick(1.0)
    for name, watcher in watchers.items():
        sim.do(watcher, "LUSERS")
        assert only(sim.lines(watcher), "254").params[1] == "2", name


def test_whois_whowas_and_links_show_each_servers_description() -> None:
    sim = Sim(NAMES, LINE)
    sim.link_all()
    alice = sim["a.test"].client("alice")
    carol = sim["c.test"].client("carol")
    sim.tick(1.0)
    sim.do(alice, "WHOIS carol", "WHOIS alice")
    shown = [line.params[2:] for line in sim.lines(alice) if line.command == "312"]
    assert shown == [["c.test", "The c.test server"], ["a.test", "The a.test server"]]
    sim.do(carol, "LINKS")
    links = {line.params[1]: line.params[-1] for line in sim.lines(carol) if line.command == "364"}
    assert links == {
        "a.test": "2 The a.test server",
        "b.test": "1 The b.test server",
        "c.test": "0 The c.test server",
    }
    sim.do(carol, "QUIT :bye")
    sim.tick(1.0)
    sim.do(alice, "WHOWAS carol")
    assert only(sim.lines(alice), "312").params[2:] == ["c.test", "The c.test server"]

    # A rehash with a new description reaches the others at once.
    c = sim["c.test"]
    config = dataclasses.replace(
        c.config, server=dataclasses.replace(c.config.server, description="Rehashed\r\nQUIT x")
    )
    c.linking.reconfigure(config)
    sim.run()
    sim.do(alice, "LINKS")
    links = {line.params[1]: line.params[-1] for line in sim.lines(alice) if line.command == "364"}
    assert links["c.test"] == "2 Rehashed QUIT x"  # one line, whatever it was given


def test_stats_l_shows_time_open_on_the_servers_clock() -> None:
    world = World(opers=[("admin", "secret", "*@*")])
    admin = world.client("admin")
    admin.send("OPER admin secret")
    idle = world.connect("10.0.0.9")  # not registered: listed with its address
    world.advance(42)
    lines = admin.send("STATS l")
    rows = {line.params[1]: line.params[2:] for line in lines if line.command == "211"}
    assert rows["*[10.0.0.9]"] == ["0", "0", "0", "0", "0", "42"]  # no adapter: no traffic
    assert rows["admin[127.0.0.1]"][-1] == "42"
    assert idle.session.traffic().sendq == 0
