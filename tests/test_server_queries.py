"""Queries about another server of the network, and far connect notices, sans-IO.

VERSION, MOTD, TIME, ADMIN and INFO with a target naming another server (by name,
by mask or by a nick there) are answered by that server's `$info`
(ircpsyc.ircd.serverinfo), with its name as the source of the numerics; operators
with snomask F see the persons of other servers come and go, and one summary per
netsplit or netjoin.

Three servers in a line (a - b - c) with their stores; c has its own MOTD and
admin, b has no MOTD; operators as in test_operator_service."""

from __future__ import annotations

import dataclasses

from helpers import FakeClient, cmds
from irctokens.line import Line
from netsim import Sim
from test_operator_service import OpSim, notices, oper, person

from ircpsyc.config import Config
from ircpsyc.psyc_backend.packet import Packet

A, B, C, F = "a.test", "b.test", "c.test", "f.test"


class QuerySim(OpSim):
    def config(self, name: str) -> Config:
        config = super().config(name)
        motd = {C: "hello from c\n\nsecond line", B: ""}.get(name, config.server.motd)
        server = dataclasses.replace(
            config.server, motd=motd, admin_name=f"admin of {name}", admin_email=f"root@{name}"
        )
        return dataclasses.replace(config, server=server)


def net(**options: float) -> QuerySim:
    sim = QuerySim([A, B, C], [(A, B), (B, C)], services=True, **options)
    sim.link_all()
    return sim


def replies(lines: list[Line]) -> list[tuple[str, str]]:
    """(source, command) of each line."""
    return [(m.source or "", m.command) for m in lines]


def ask(sim: Sim, fake: FakeClient, text: str) -> list[Line]:
    sim.do(fake, text)
    return sim.lines(fake)


# -- each command by server name, by mask and by nick


def test_version_of_another_server() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    person(sim, C, "carol")
    for target in (C, "c.*", "C.TEST", "carol"):
        out = ask(sim, alice, f"VERSION {target}")
        assert {m.source for m in out} == {C}, target
        version = out[0]
        assert version.command == "351" and version.params[0] == "alice"
        assert version.params[1].startswith("ircpsyc-") and version.params[2] == C
        tokens = [t for m in out if m.command == "005" for t in m.params[1:-1]]
        assert tokens == sim[C].core.isupport
        assert all(m.params[-1] == "are supported by this server" for m in out[1:])
    # The same as c answers its own client.
    carol_local = person(sim, C, "carol2")
    mine = [(m.source, m.command, m.params[1:]) for m in ask(sim, carol_local, "VERSION")]
    theirs = [(m.source, m.command, m.params[1:]) for m in ask(sim, alice, f"VERSION {C}")]
    assert mine == theirs


def test_motd_of_another_server() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    person(sim, C, "carol")
    for target in (C, "c.*t", "carol"):
        out = ask(sim, alice, f"MOTD {target}")
        assert replies(out) == [(C, "375"), (C, "372"), (C, "372"), (C, "372"), (C, "376")]
        assert out[0].params[1] == "- c.test Message of the day - "
        assert [m.params[1] for m in out[1:4]] == ["- hello from c", "- ", "- second line"]
    out = ask(sim, alice, f"MOTD {B}")  # b has none
    assert replies(out) == [(B, "422")]
    assert out[0].params[1:] == ["MOTD File is missing"]


def test_time_of_another_server() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    person(sim, C, "carol")
    sim.tick(3.0)
    for target in (C, "c?test", "carol"):
        out = ask(sim, alice, f"TIME {target}")
        assert replies(out) == [(C, "391")]
        assert out[0].params[1:3] == [C, str(int(sim.now))]
        assert out[0].params[-1].startswith("Tuesday November 14 2023")


def test_admin_of_another_server() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    person(sim, C, "carol")
    for target in (C, "c*", "carol"):
        out = ask(sim, alice, f"ADMIN {target}")
        assert replies(out) == [(C, "256"), (C, "257"), (C, "258"), (C, "259")]
        assert out[0].params[1] == C
        assert [m.params[1] for m in out[2:]] == ["admin of c.test", "root@c.test"]


def test_info_of_another_server() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    person(sim, C, "carol")
    for target in (C, "c.tes?", "carol"):
        out = ask(sim, alice, f"INFO {target}")
        assert {m.source for m in out} == {C}
        assert cmds(out)[-1] == "374" and set(cmds(out)[:-1]) == {"371"}
        assert out[0].params[1].startswith("ircpsyc ")


def test_targets_meaning_this_server_answer_here() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    for target in (A, "*.test", "*", "alice", "NickServ"):  # a mask matches this one first
        out = ask(sim, alice, f"ADMIN {target}")
        assert replies(out) == [(A, "256"), (A, "257"), (A, "258"), (A, "259")], target
    assert not sim[A].linking.info.requests.answered


# -- unknown, unreachable and silent servers


def test_unknown_server_or_nick_gets_402() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    for command in ("VERSION", "MOTD", "TIME", "ADMIN", "INFO"):
        for target in ("nowhere.example", "*.example", "nobody"):
            out = ask(sim, alice, f"{command} {target}")
            assert [(m.command, m.params[1:]) for m in out] == [
                ("402", [target, "No such server"])
            ], (command, target)
    assert not sim[A].linking.info.requests.pending


def test_unreachable_server_gets_402_at_once() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    sim.cut(B, C)
    out = ask(sim, alice, f"VERSION {C}")
    assert [(m.command, m.params[1:]) for m in out] == [("402", [C, "No such server"])]
    sim.tick(15.0)  # past the split grace: c is gone
    assert [m.command for m in ask(sim, alice, f"TIME {C}")] == ["402"]
    assert not sim[A].linking.info.requests.pending


def test_silent_server_gets_402_after_the_timeout_and_its_late_answer_is_dropped() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    info_c = sim[C].linking.info
    held: list[tuple[str, Packet]] = []
    original = info_c._answer
    info_c._answer = lambda server, packet: held.append((server, packet))  # type: ignore[method-assign]
    assert ask(sim, alice, f"ADMIN {C}") == []  # waiting
    sim.tick(4.0)
    assert sim.lines(alice) == []
    sim.tick(2.0)  # past [network] request_timeout
    out = sim.lines(alice)
    assert [(m.source, m.command, m.params[1:]) for m in out] == [
        (A, "402", [C, "Server did not answer"])
    ]
    assert held
    original(*held[0])  # the answer comes after all
    sim.run()
    assert sim.lines(alice) == []
    assert sim[A].linking.info.requests.expired == 1 and not sim[A].linking.info.requests


def test_server_lost_while_asked() -> None:
    sim = net(split_grace=2.0)
    alice = person(sim, A, "alice")
    sim[C].linking.info._answer = lambda server, packet: None  # type: ignore[method-assign]
    sim.do(alice, f"INFO {C}")
    sim.cut(B, C)
    sim.tick(3.0)  # c is lost before the timeout
    out = sim.lines(alice)
    assert [(m.command, m.params[1:]) for m in out] == [("402", [C, "Server split"])]


# -- labeled-response and held input


def test_labeled_answers_of_another_server() -> None:
    sim = net()
    alice = sim[A].client("alice", caps=["labeled-response", "batch"])
    assert alice.send(f"@label=v1 VERSION {C}") == []  # the answer comes from c
    sim.run()
    out = alice.take()
    assert [m.command for m in out][:2] == ["BATCH", "351"]
    assert [m.command for m in out][-1] == "BATCH"
    assert out[0].tags == {"label": "v1"} and out[0].params[1:] == ["labeled-response"]
    assert all(m.tags == {"batch": out[0].params[0][1:]} for m in out[1:-1])
    assert {m.source for m in out[1:-1]} == {C}
    alice.send(f"@label=t1 TIME {C}")
    sim.run()
    out = alice.take()
    assert [(m.command, m.tags) for m in out] == [("391", {"label": "t1"})]
    sim[C].linking.info._answer = lambda server, packet: None  # type: ignore[method-assign]
    alice.send(f"@label=t2 TIME {C}")
    sim.tick(6.0)
    out = alice.take()
    assert [(m.command, m.tags) for m in out if m.command != "PING"] == [("402", {"label": "t2"})]


def test_input_waits_for_the_answer() -> None:
    sim = net()
    alice = person(sim, A, "alice")
    calls: list[str] = []
    alice.sink.hold = lambda: calls.append("hold")  # type: ignore[attr-defined]
    alice.sink.release = lambda: calls.append("release")  # type: ignore[attr-defined]
    alice.send(f"MOTD {C}")
    assert calls == ["hold"]
    sim.run()
    assert calls == ["hold", "release"]
    assert cmds(alice.take())[-1] == "376"
    alice.send("MOTD")  # answered here: nothing held
    assert calls == ["hold", "release"]


# -- only servers of the network may ask


def test_a_foreign_server_cannot_ask() -> None:
    sim = Sim([A, B, F], [(A, B), (A, F)], servers=[A, B])
    sim.link_all()
    info_a = sim[A].linking.info
    sent: list[Packet] = []
    router = sim[A].core.router
    original = router.send

    def spy(packet: Packet) -> bool:
        sent.append(packet)
        return original(packet)

    router.send = spy  # type: ignore[method-assign]
    for source in (f"psyc://{F}/", f"psyc://{B}/~bob", f"psyc://{A}/"):
        # From the foreign server over its link, and spoofed ones handed in here.
        packet = Packet(
            "_request_server_info",
            {"_source": source, "_target": f"psyc://{A}/$info", "_tag": "x1"},
            {"_command": "VERSION"},
        )
        if source.startswith(f"psyc://{F}"):
            sim[F].core.router.send(packet)
            sim.run()
        else:
            info_a.receive(packet)
    assert info_a.refused == 3
    assert [p.method for p in sent if p.source.startswith(f"psyc://{A}")] == []  # no answer
    # Nor do the foreign server's users reach into the network by VERSION.
    eve = sim[F].client("eve")
    assert [m.command for m in ask(sim, eve, f"VERSION {A}")] == ["402"]
    # A network server asks and is answered.
    bob = sim[B].client("bob")
    assert {m.source for m in ask(sim, bob, f"VERSION {A}")} == {A}


# -- far connects and exits (snomask F)


def test_far_connect_and_exit_notices() -> None:
    sim = net()
    watcher = oper(sim, A, "watcher", snomask="F")
    local_only = oper(sim, A, "localonly", snomask="cq")
    carol = person(sim, C, "carol", "192.0.2.5")
    sim.tick(1.0)
    seen = notices(sim.lines(watcher))
    assert len(seen) == 1
    assert seen[0].startswith("*** REMOTE: Client connecting at c.test: carol (~user@")
    assert seen[0].endswith("[192.0.2.5] [Real Name]")
    sim.do(carol, "QUIT :gone fishing")
    sim.tick(1.0)
    seen = notices(sim.lines(watcher))
    assert len(seen) == 1
    assert seen[0].startswith("*** REMOTE: Client exiting at c.test: carol (~user@")
    assert "[192.0.2.5]" in seen[0] and "gone fishing" in seen[0]
    assert notices(sim.lines(local_only)) == []  # c and q are this server's own
    person(sim, A, "dave")  # a local connect is no far connect
    assert notices(sim.lines(watcher)) == []
    assert any("Client connecting: dave" in n for n in notices(sim.lines(local_only)))


def test_netsplit_and_netjoin_are_one_notice_each() -> None:
    sim = net()
    person(sim, C, "carol")
    person(sim, C, "chris")
    person(sim, B, "bob")
    sim.tick(1.0)
    watcher = oper(sim, A, "watcher", snomask="F")
    on_b = oper(sim, B, "bwatch", snomask="F")
    sim.lines(watcher)
    sim.lines(on_b)
    sim.cut(B, C)
    sim.tick(12.0)  # past the split grace
    assert notices(sim.lines(watcher)) == ["*** REMOTE: Netsplit: c.test lost, 2 users"]
    assert notices(sim.lines(on_b)) == ["*** REMOTE: Netsplit: c.test lost, 2 users"]
    sim.connect(B, C)
    sim.settle()
    sim.tick(2.0)
    assert notices(sim.lines(watcher)) == ["*** REMOTE: Netjoin: c.test joined, 2 users"]
    assert notices(sim.lines(on_b)) == ["*** REMOTE: Netjoin: c.test joined, 2 users"]
