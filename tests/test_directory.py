"""The network's channel directory (LIST, TOPIC, NAMES of channels with no member here)
and the roster's extras (WHOWAS, WHOIS idle, SETNAME, CHGHOST), sans-IO.

Three servers in a line (a - b - c); `#x` and `#hidden` are pinned to a."""

from __future__ import annotations

from irctokens.line import Line
from netsim import Sim

from ircpsyc.psyc_backend.packet import Packet

A, B, C = "a.test", "b.test", "c.test"


def line3() -> Sim:
    sim = Sim([A, B, C], [(A, B), (B, C)], pins={"#x": A, "#hidden": A, "#big": A})
    sim.link_all()
    return sim


def numerics(lines: list[Line], *codes: str) -> list[list[str]]:
    return [m.params[1:] for m in lines if m.command in codes]


def test_list_shows_every_visible_channel_of_the_network() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    other = sim[A].client("other")
    sim.do(alice, "JOIN #x", "TOPIC #x :the topic", "JOIN #hidden", "MODE #hidden +s")
    sim.do(other, "JOIN #big")
    sim.do(alice, "JOIN #big")
    sim.tick(1.0)
    carol = sim[C].client("carol")
    sim.do(carol, "LIST")
    listed = {p[0]: p[1:] for p in numerics(sim.lines(carol), "322")}
    assert listed == {"#x": ["1", "[+nt] the topic"], "#big": ["2", "[+nt] "]}
    sim.do(carol, "LIST >1")
    assert [p[0] for p in numerics(sim.lines(carol), "322")] == ["#big"]
    sim.do(carol, "LIST #x,#hidden")
    assert [p[0] for p in numerics(sim.lines(carol), "322")] == ["#x"]
    # Changes follow: a part empties #x, which goes away.
    sim.do(alice, "PART #x")
    sim.tick(1.0)
    sim.lines(carol)
    sim.do(carol, "LIST")
    assert [p[0] for p in numerics(sim.lines(carol), "322")] == ["#big"]


def test_a_server_that_comes_later_gets_the_whole_directory() -> None:
    sim = Sim([A, B], [(A, B)], pins={"#x": A})
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x", "TOPIC #x :early")
    sim.tick(1.0)
    sim.link_all()
    sim.tick(1.0)
    bob = sim[B].client("bob")
    sim.do(bob, "LIST")
    assert numerics(sim.lines(bob), "322") == [["#x", "1", "[+nt] early"]]


def test_directory_is_dropped_with_its_server() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x")
    sim.tick(1.0)
    sim.cut(A, B)
    sim.tick(12.0)  # past the split grace
    carol = sim[C].client("carol")
    sim.do(carol, "LIST")
    assert numerics(sim.lines(carol), "322") == []


def test_topic_and_names_of_a_channel_without_local_members() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    invisible = sim[A].client("ghost")
    sim.do(alice, "JOIN #x", "TOPIC #x :hello world", "JOIN #hidden", "MODE #hidden +s")
    sim.do(invisible, "MODE ghost +i", "JOIN #x")
    sim.tick(1.0)
    carol = sim[C].client("carol")
    sim.do(carol, "TOPIC #x")
    out = sim.lines(carol)
    assert numerics(out, "332") == [["#x", "hello world"]]
    assert numerics(out, "333")[0][:2] == ["#x", "alice!~user@127.0.0.1"]
    sim.do(carol, "NAMES #x")
    sim.run()
    out = sim.lines(carol)
    assert numerics(out, "353") == [["=", "#x", "@alice"]]  # ghost is +i: not shown
    assert numerics(out, "366") == [["#x", "End of /NAMES list"]]
    sim.do(carol, "NAMES #hidden")
    sim.run()
    out = sim.lines(carol)
    assert numerics(out, "353") == []
    assert numerics(out, "366") == [["#hidden", "End of /NAMES list"]]
    sim.do(carol, "TOPIC #hidden")
    assert numerics(sim.lines(carol), "442") == [["#hidden", "You're not on that channel"]]
    sim.do(carol, "TOPIC #nosuch")
    assert numerics(sim.lines(carol), "403") == [["#nosuch", "No such channel"]]


def test_mode_of_a_channel_without_local_members() -> None:
    """MODE #chan answers from the directory, like TOPIC and LIST (issue #18, 8)."""
    sim = line3()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x", "MODE #x +kl sesame 10", "JOIN #hidden", "MODE #hidden +s")
    sim.tick(1.0)
    carol = sim[C].client("carol")
    assert sim[C].core.places.get("#x") is None  # no member here: no replica
    sim.do(carol, "MODE #x")
    out = sim.lines(carol)
    assert numerics(out, "324") == [["#x", "+ntkl", "*", "10"]]  # the key hidden
    created = sim[A].core.places.get("#x")
    assert created is not None
    assert numerics(out, "329") == [["#x", str(created.created)]]
    sim.do(carol, "MODE #hidden")
    assert numerics(sim.lines(carol), "324") == [["#hidden", "+nst"]]
    sim.do(carol, "MODE #x +m", "MODE #x b")
    assert numerics(sim.lines(carol), "442") == [["#x", "You're not on that channel"]] * 2
    sim.do(carol, "MODE #nosuch")
    assert numerics(sim.lines(carol), "403") == [["#nosuch", "No such channel"]]


def test_names_of_several_channels_asks_each_home_and_keeps_the_order() -> None:
    """NAMES of channels homed elsewhere and here in one line: the homes are asked, each
    channel it may see gets its 353 in the order asked, and the list one 366."""
    sim = line3()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x", "JOIN #hidden", "MODE #hidden +s", "JOIN #big")
    sim.tick(1.0)
    carol = sim[C].client("carol")
    sim.do(carol, "JOIN #here")
    sim.lines(carol)
    sim.do(carol, "NAMES #x,#here,#hidden,#nosuch,#big")
    sim.run()
    assert [m.format() for m in sim.lines(carol)] == [
        f":{C} 353 carol = #x @alice",
        f":{C} 353 carol = #here @carol",
        f":{C} 353 carol = #big @alice",
        f":{C} 366 carol #x,#here,#hidden,#nosuch,#big :End of /NAMES list",
    ]


def test_names_of_a_channel_whose_home_is_gone_ends_empty() -> None:
    sim = line3()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #x")
    sim.tick(1.0)
    sim.cut(A, B)
    carol = sim[C].client("carol")
    sim.do(carol, "NAMES #x")
    sim.run()
    out = sim.lines(carol)
    assert numerics(out, "353") == []
    assert numerics(out, "366") == [["#x", "End of /NAMES list"]]


# -- the roster: WHOWAS, idle, SETNAME and CHGHOST


def test_whowas_knows_nicks_that_left_other_servers() -> None:
    sim = line3()
    bob = sim[C].client("bob")
    sim.tick(1.0)
    sim.do(bob, "NICK robert")
    sim.tick(1.0)
    sim.do(bob, "QUIT :bye")
    sim.tick(1.0)
    alice = sim[A].client("alice")
    sim.do(alice, "WHOWAS bob", "WHOWAS robert")
    out = sim.lines(alice)
    assert numerics(out, "314") == [
        ["bob", "~user", "127.0.0.1", "*", "Real Name"],
        ["robert", "~user", "127.0.0.1", "*", "Real Name"],
    ]
    assert [p[1] for p in numerics(out, "312")] == [C, C]


def test_whois_idle_of_a_remote_person() -> None:
    sim = line3()
    bob = sim[C].client("bob")
    alice = sim[A].client("alice")
    quiet = sim[C].core.clients["bob"]
    quiet.last_active -= 300  # five minutes without a word
    quiet.directory.changed(quiet)  # as every change the roster shows is told
    sim.tick(1.0)
    sim.do(alice, "WHOIS bob")
    idle = int(numerics(sim.lines(alice), "317")[0][1])
    assert 300 <= idle <= 331
    sim.do(bob, "PRIVMSG alice :back")
    sim.tick(1.0)
    sim.do(alice, "WHOIS bob")
    idle = int(numerics(sim.lines(alice), "317")[0][1])
    assert idle <= 31


def test_setname_and_chghost_of_remote_members() -> None:
    sim = line3()
    alice = sim[A].client("alice", caps=["setname", "chghost"])
    plain = sim[A].client("plain")
    bob = sim[C].client("bob")
    for fake in (alice, plain, bob):
        sim.do(fake, "JOIN #x")
    sim.settle()
    sim.lines(alice)
    sim.lines(plain)
    sim.do(bob, "SETNAME :Robert the Builder")
    sim.tick(1.0)
    out = sim.lines(alice)
    assert [(m.source, m.params) for m in out if m.command == "SETNAME"] == [
        ("bob!~user@127.0.0.1", ["Robert the Builder"])
    ]
    moved = sim[C].core.clients["bob"]
    moved.host = "cloaked.example"
    moved.directory.changed(moved)  # as every change the roster shows is told
    sim.tick(1.0)
    out = sim.lines(alice)
    assert [(m.source, m.params) for m in out if m.command == "CHGHOST"] == [
        ("bob!~user@127.0.0.1", ["~user", "cloaked.example"])
    ]
    assert [m.command for m in sim.lines(plain) if m.command in ("SETNAME", "CHGHOST")] == []
    sim.do(alice, "WHOIS bob")
    assert numerics(sim.lines(alice), "311")[0] == [
        "bob",
        "~user",
        "cloaked.example",
        "*",
        "Robert the Builder",
    ]


def test_a_server_outside_the_network_gets_no_directory() -> None:
    # c is a foreign PSYC server linked to b (federation): it may enter our places,
    # but the directory lists secret channels, so it is for the network only.
    sim = Sim([A, B, C], [(A, B), (B, C)], servers=[A, B], pins={"#hidden": A})
    sim.link_all()
    alice = sim[A].client("alice")
    sim.do(alice, "JOIN #hidden", "MODE #hidden +s")
    directory = sim[A].linking.directory
    sent: list[Packet] = []
    directory.router.send = lambda packet: sent.append(packet) or True  # type: ignore[method-assign]
    for asker in (C, B):
        packet = Packet(
            "_request_directory",
            {"_source": f"psyc://{asker}/", "_target": directory.uniform},
            {"_counter": "-1"},
        )
        assert directory.request(packet)
    assert [p.routing["_target"] for p in sent] == [f"psyc://{B}/"]
    assert "#hidden" in sent[0].get_list("_list_places")
