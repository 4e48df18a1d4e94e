"""Foreign circuits (ircpsyc.psyc_backend.foreign), sans-IO: what a PSYC server outside
the network may say, the bounds, the timeouts, and psyced's dialect at the border.
The real psyced is in tests/integration/test_psyced.py."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ircpsyc.psyc_backend import foreign as F
from ircpsyc.psyc_backend.foreign import Foreign, ForeignCircuit, authority_of, bind_address
from ircpsyc.psyc_backend.link import LinkConfig, Settings
from ircpsyc.psyc_backend.network import Network
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.router import EVERY_PLACE, Router
from ircpsyc.psyc_backend.wire09 import Parser09, render09

ME = "ours.test"
PEER = "10.0.0.5"


class Person:
    def __init__(self, uniform: str) -> None:
        self.uniform = uniform
        self.got: list[Packet] = []

    def receive(self, packet: Packet) -> None:
        self.got.append(packet)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Wire:
    """One end of a circuit: what we wrote, and whether we closed it."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    def packets(self) -> list[Packet]:
        return [p for p in Parser09().feed(bytes(self.out)) if p.method]


def setup() -> tuple[Foreign, Clock, Person, list[Packet], list[str]]:
    clock = Clock()
    router = Router(ME)
    network = Network(
        ME, router, [LinkConfig("b.test", "s" * 32, "")], Settings(), [ME, "b.test"], clock=clock
    )
    alice = Person(f"psyc://{ME}/~alice")
    router.register(alice)
    casts: list[Packet] = []
    router.subscribe(EVERY_PLACE, casts.append)
    foreign = network.foreign = Foreign(network, clock)
    dialled: list[str] = []
    foreign.dial = dialled.append
    return foreign, clock, alice, casts, dialled


def accepted(foreign: Foreign, clock: Clock, address: str = PEER) -> tuple[ForeignCircuit, Wire]:
    wire = Wire()
    circuit = ForeignCircuit(foreign, address, "", wire.write, wire.close, clock())
    foreign.opened(circuit)
    hello = Packet("_notice_circuit_established", {"_source": f"psyc://{address}/"})
    circuit.data_received(b".\n" + render09(hello), clock())
    return circuit, wire


def send(circuit: ForeignCircuit, clock: Clock, packet: Packet) -> None:
    circuit.data_received(render09(packet), clock())


def test_a_foreign_peer_speaks_only_for_its_own_host(caplog: pytest.LogCaptureFixture) -> None:
    foreign, clock, alice, casts, _ = setup()
    circuit, wire = accepted(foreign, clock)
    assert wire.out.startswith(b".\n")  # answered in its syntax, after its first line
    assert circuit.state == F.OPEN and circuit.authority == PEER
    target = {"_target": alice.uniform}
    forgeries = [
        # issue 15: a foreign server injected a PRIVMSG in a local user's name ...
        {"_source": f"psyc://{ME}/~dave", **target},
        # ... and in the name of a server of the network, or of a configured link
        {"_source": "psyc://b.test/~dave", **target},
        # another foreign host
        {"_source": "psyc://10.0.0.6/~mallory", **target},
        # relaying to a third server
        {"_source": f"psyc://{PEER}/~bob", "_target": "psyc://b.test/~carol"},
        # a cast with a _source
        {"_source": f"psyc://{PEER}/~bob", "_context": f"psyc://{PEER}/@x"},
        # a cast of a context of the network (topic forgery)
        {"_context": f"psyc://{ME}/@fchan", "_source_relay": f"psyc://{ME}/~dave"},
    ]
    for routing in forgeries:
        send(circuit, clock, Packet("_message_private", routing, {"_nick": "dave"}, "FORGED"))
    send(circuit, clock, Packet("_notice_place_topic", forgeries[-1], {"_topic": "FORGED"}))
    assert alice.got == [] and casts == []
    assert foreign.refused == len(forgeries) + 1
    assert "refused _message_private" in caplog.text
    send(
        circuit,
        clock,
        Packet(
            "_message_private", {"_source": f"psyc://{PEER}/~bob", **target}, {"_nick": "bob"}, "hi"
        ),
    )
    (got,) = alice.got
    assert got.body == "hi"
    assert got.get("_nick_target") == "alice"  # never `PRIVMSG  :hi`


def test_greeting_must_be_the_peers_own_address() -> None:
    foreign, clock, _, _, _ = setup()
    wire = Wire()
    circuit = ForeignCircuit(foreign, PEER, "", wire.write, wire.close, clock())
    foreign.opened(circuit)
    hello = Packet("_notice_circuit_established", {"_source": f"psyc://{ME}/"})
    circuit.data_received(b".\n" + render09(hello), clock())
    assert wire.closed and circuit.state == F.CLOSED


def test_host_names_wait_for_resolution() -> None:
    foreign, clock, alice, _, _ = setup()
    asked: list[str] = []
    foreign.resolve = asked.append
    circuit, _ = accepted(foreign, clock)
    bob = Packet(
        "_message_private",
        {"_source": "psyc://psyced.example/~bob", "_target": alice.uniform},
        {},
        "hi",
    )
    send(circuit, clock, bob)
    assert asked == ["psyced.example"] and alice.got == []
    foreign.resolved("psyced.example", {"10.9.9.9"})  # not where it came from
    assert alice.got == [] and foreign.refused == 1
    foreign.resolved("psyced.example", {PEER})
    send(circuit, clock, bob)
    assert [p.body for p in alice.got] == ["hi"]
    for _ in range(F.HELD_MAX + 1):  # held packets are bounded too
        send(
            circuit,
            clock,
            Packet(
                "_message_private", {"_source": "psyc://other.example/~x", "_target": alice.uniform}
            ),
        )
    assert circuit.state == F.CLOSED


def test_packet_size_bounds_before_and_after_greeting() -> None:
    foreign, clock, _, _, _ = setup()
    wire = Wire()
    circuit = ForeignCircuit(foreign, PEER, "", wire.write, wire.close, clock())
    foreign.opened(circuit)
    circuit.data_received(b".\n\n:_x\t" + b"x" * (F.PRE_GREETING_PACKET + 10), clock())
    assert wire.closed  # never buffered
    circuit, wire = accepted(foreign, clock)
    circuit.data_received(b"\n:_x\t" + b"x" * (F.MAX_PACKET // 2), clock())
    assert not wire.closed
    circuit.data_received(b"x" * F.MAX_PACKET, clock())
    assert wire.closed and not foreign.circuits


def test_not_psyc_at_all_is_closed() -> None:
    foreign, clock, _, _, _ = setup()
    wire = Wire()
    circuit = ForeignCircuit(foreign, PEER, "", wire.write, wire.close, clock())
    foreign.opened(circuit)
    circuit.data_received(b"GET / HTTP/1.0\r\n", clock())
    assert wire.closed


def test_on_demand_dial_queue_bound_backoff_and_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    foreign, clock, alice, _, dialled = setup()
    target = "psyc://10.0.0.7:14404/~bob"
    for i in range(F.QUEUE_MAX + 10):
        assert foreign.send(
            Packet("_message_private", {"_source": alice.uniform, "_target": target}, {}, str(i))
        )
    assert dialled == ["10.0.0.7:14404"]  # once, not per packet
    assert len(foreign.queues["10.0.0.7:14404"]) == F.QUEUE_MAX and foreign.dropped == 10
    foreign.dial_failed("10.0.0.7:14404", "dial: connection refused")
    assert "foreign circuit to 10.0.0.7:14404 failed: dial: connection refused" in caplog.text
    # The sender hears that nobody is there, once per packet that waited.
    assert [p.method for p in alice.got] == ["_error_unknown_name_user"] * F.QUEUE_MAX
    foreign.send(Packet("_message_private", {"_source": alice.uniform, "_target": target}))
    assert dialled == ["10.0.0.7:14404"]  # not before the back-off
    clock.now += F.BACKOFF_MIN * 1.5
    foreign.tick(clock())
    assert dialled == ["10.0.0.7:14404"] * 2
    # A peer that accepts TCP and never greets: handshake timeout, logged, back-off.
    wire = Wire()
    circuit = ForeignCircuit(foreign, "10.0.0.7", "10.0.0.7:14404", wire.write, wire.close, clock())
    foreign.opened(circuit)
    assert wire.out.startswith(b".\n")  # we open in psyced's syntax
    clock.now += F.HANDSHAKE_TIMEOUT + 1
    foreign.tick(clock())
    assert wire.closed
    assert "no greeting within the handshake timeout" in caplog.text
    assert caplog.text.count("foreign circuit to 10.0.0.7:14404 failed") == 2
    assert foreign.next_dial["10.0.0.7:14404"] > clock()


def test_nothing_numbered_or_resent_towards_a_foreign_peer() -> None:
    foreign, clock, alice, _, _ = setup()
    _circuit, wire = accepted(foreign, clock)
    wire.out.clear()
    network = foreign.network
    packet = Packet(
        "_message_private", {"_source": alice.uniform, "_target": f"psyc://{PEER}/~bob"}, {}, "once"
    )
    assert network.send(packet)
    clock.now += 10.0
    network.tick(clock())
    foreign.tick(clock())
    sent = wire.packets()
    assert [p.body for p in sent] == ["once"]
    assert set(sent[0].routing) == {"_source", "_target"}  # no _route_counter
    assert not network.outbound  # nothing kept for a resend


def test_psyced_dialect_echo_casts_and_tags() -> None:
    foreign, clock, alice, casts, _ = setup()
    circuit, wire = accepted(foreign, clock)
    place = f"psyc://{PEER}/@lounge"
    echoes: list[Packet] = []
    foreign.network.router.on_context("_echo", lambda p: bool(echoes.append(p)))
    send(
        circuit,
        clock,
        Packet(
            "_echo_place_enter",
            {"_source": place, "_target": alice.uniform, "_tag_relay": "t1"},
            {"_list_members": [alice.uniform], "_list_members_nicks": ["alice"]},
        ),
    )
    (echo,) = echoes
    assert echo.context == place and echo.routing["_counter"] == "0"
    for text in ("one", "two"):
        send(
            circuit,
            clock,
            Packet(
                "_message_public",
                {"_context": place, "_source_relay": f"psyc://{PEER}/~bob"},
                {"_nick": "bob"},
                text,
            ),
        )
    assert [(p.body, p.routing["_counter"]) for p in casts] == [("one", "1"), ("two", "2")]
    assert casts[0].get("_prefix").startswith(f"psyc://{PEER}/~bob!bob@")
    # A cast of a context nobody of ours entered is dropped.
    send(circuit, clock, Packet("_message_public", {"_context": f"psyc://{PEER}/@other"}, {}, "x"))
    assert len(casts) == 2
    # psyced's user enters our place: our echo carries its _tag back as _tag_reply.
    ours = f"psyc://{ME}/@chan"
    bob = f"psyc://{PEER}/~bob"
    send(
        circuit,
        clock,
        Packet(
            "_request_enter_join",
            {"_source": bob, "_target": ours, "_tag": "abc"},
            {"_nick": "bob"},
        ),
    )
    wire.out.clear()
    foreign.send(
        Packet(
            "_echo_place_enter",
            {"_context": ours, "_target": bob, "_source_relay": bob},
            {"_nick": bob, "_nick_place": "#chan"},
        )
    )
    (out,) = wire.packets()
    assert out.routing == {"_source": ours, "_target": bob, "_tag_relay": "abc"}
    assert b":_tag_reply\tabc\n" in wire.out
    assert out.get("_nick") == "bob" and out.get("_nick_place") == "chan"


def test_idle_circuits_close_and_limits_per_address() -> None:
    foreign, clock, _, _, _ = setup()
    circuit, wire = accepted(foreign, clock)
    lost: list[str] = []
    foreign.network.listeners.append(
        type(
            "L",
            (),
            {  # type: ignore[arg-type]
                "server_lost": lambda self, name, boot: lost.append(name),
                "server_reachable": lambda self, name, how: None,
            },
        )()
    )
    clock.now += F.IDLE_TIMEOUT + 1
    foreign.tick(clock())
    assert wire.closed and lost == []  # idle is not a loss: the next packet dials again
    circuits = [accepted(foreign, clock)[0] for _ in range(F.PER_ADDRESS)]
    assert not foreign.admit(PEER) and foreign.admit("10.0.0.8")
    circuits[0].lost("connection reset")
    assert lost == []  # other circuits with that host remain
    for circuit in circuits[1:]:
        circuit.lost("connection reset")
    assert lost == [PEER]  # psyced's netburp: its members leave our places


def test_helpers() -> None:
    assert authority_of("psyc://Example.ORG:4404/~x") == "example.org"
    assert authority_of("psyc://127.0.0.1:14404/@x") == "127.0.0.1:14404"
    assert authority_of("nonsense") == ""
    assert bind_address("127.0.0.2:4404") == "127.0.0.2"
    assert bind_address("0.0.0.0:4404") == "" and bind_address("[::]:4404") == ""
    assert bind_address("irc.example.org:4404") == ""


def test_impossible_ports_are_not_dialled() -> None:
    assert authority_of("psyc://10.0.0.7:99999999/@x") == ""
    assert authority_of("psyc://10.0.0.7:0/@x") == ""
    assert authority_of("psyc://10.0.0.7:٣/@x") == ""
    foreign, _, alice, _, dialled = setup()
    target = "psyc://10.0.0.7:99999999/~bob"
    assert not foreign.send(
        Packet("_message_private", {"_source": alice.uniform, "_target": target})
    )
    assert dialled == []


uniforms = st.sampled_from(
    [
        f"psyc://{PEER}/~bob",
        f"psyc://{PEER}/@lounge",
        f"psyc://{PEER}/",
        f"psyc://{ME}/~alice",
        f"psyc://{ME}/@chan",
        f"psyc://{ME}/",
        "psyc://b.test/~carol",
        "psyc://other.example:1/~x",
        "psyc://10.0.0.5:99999/@x",
        "",
        "not a uniform",
    ]
)
methods = st.sampled_from(
    [
        "_message_private",
        "_message_public",
        "_echo_place_enter",
        "_echo_place_leave_invalid",
        "_notice_place_topic",
        "_notice_place_leave",
        "_request_enter_join",
        "_status_place_topic",
        "_notice_circuit_established",
        "_request_circuit_shutdown",
        "_error_x",
    ]
)
routing_names = st.sampled_from(["_source", "_target", "_context", "_source_relay", "_tag"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            methods,
            st.dictionaries(routing_names, uniforms, max_size=4),
            st.dictionaries(
                st.sampled_from(["_nick", "_topic", "_list_members"]),
                st.text(max_size=10),
                max_size=3,
            ),
        ),
        max_size=12,
    )
)
def test_hyp_whatever_a_foreign_peer_sends_never_breaks_us(
    script: list[tuple[str, dict[str, str], dict[str, str]]],
) -> None:
    foreign, clock, _, _, _ = setup()
    circuit, _ = accepted(foreign, clock)
    for method, routing, vars in script:
        circuit.data_received(render09(Packet(method, routing, dict(vars))), clock())
        foreign.tick(clock())


def test_an_idle_circuit_with_members_behind_it_is_kept_alive() -> None:
    foreign, clock, _, _, _ = setup()
    _circuit, wire = accepted(foreign, clock)
    foreign.in_use = lambda host: host == PEER
    wire.out.clear()
    clock.now += F.IDLE_TIMEOUT + 1
    foreign.tick(clock())
    assert not wire.closed and bytes(wire.out) == b".\n"  # a ping instead
    foreign.in_use = lambda host: False
    clock.now += F.IDLE_TIMEOUT + 1
    foreign.tick(clock())
    assert wire.closed


def test_our_uniforms_carry_our_port_when_it_is_not_4404() -> None:
    foreign, clock, alice, _, _ = setup()
    foreign.set_port(14405)
    circuit, wire = accepted(foreign, clock)
    (hello,) = wire.packets()
    assert hello.source == f"psyc://{ME}:14405/"  # psyced dials the port it sees
    wire.out.clear()
    bob = f"psyc://{PEER}/~bob"
    foreign.send(
        Packet(
            "_message_private",
            {"_source": alice.uniform, "_target": bob},
            {"_list_members": [alice.uniform, bob]},
        )
    )
    (out,) = wire.packets()
    assert out.source == f"psyc://{ME}:14405/~alice"
    assert out.get_list("_list_members") == [f"psyc://{ME}:14405/~alice", bob]
    target = {"_source": bob, "_target": f"psyc://{ME}:14405/~alice"}
    send(circuit, clock, Packet("_message_private", target, {}, "hi"))
    assert [p.target for p in alice.got] == [alice.uniform]
    # Still never in our name, with or without the port.
    for forged in (f"psyc://{ME}:14405/~dave", f"psyc://{ME}/~dave"):
        send(circuit, clock, Packet("_message_private", {**target, "_source": forged}))
    assert len(alice.got) == 1 and foreign.refused == 2
    foreign.set_port(4404)
    assert foreign.me_root == f"psyc://{ME}/"


def test_casts_that_overtake_the_echo_wait_for_it() -> None:
    """psyced sends the echo over a circuit to our host and its casts along the one
    the request came on: a cast may come first, and must not be lost."""
    foreign, clock, alice, casts, _ = setup()
    circuit, _ = accepted(foreign, clock)
    place = f"psyc://{PEER}/@Lounge"
    foreign.send(Packet("_request_enter", {"_source": alice.uniform, "_target": place}))
    relay = {"_context": place.lower(), "_source_relay": f"psyc://{PEER}/~bob"}
    send(circuit, clock, Packet("_message_public", relay, {"_nick": "bob"}, "early"))
    assert casts == []
    echo = {"_source": place.lower(), "_target": alice.uniform}
    send(circuit, clock, Packet("_echo_place_enter", echo, {"_list_members": [alice.uniform]}))
    send(circuit, clock, Packet("_message_public", relay, {"_nick": "bob"}, "later"))
    assert [(p.body, p.routing["_counter"]) for p in casts] == [("early", "1"), ("later", "2")]


def test_dials_and_waiting_hosts_are_bounded() -> None:
    """Users name the hosts we dial: only so many at once, and so many waiting."""
    foreign, clock, alice, _, dialled = setup()
    results = [
        foreign.send(
            Packet(
                "_message_private",
                {"_source": alice.uniform, "_target": f"psyc://10.1.{i // 250}.{i % 250 + 1}/~x"},
            )
        )
        for i in range(F.MAX_QUEUES + 5)
    ]
    assert len(dialled) == F.MAX_DIALING
    assert results.count(False) == 5 and len(foreign.queues) == F.MAX_QUEUES
    foreign.dial_failed(dialled[0], "dial: refused")
    foreign.tick(clock())
    assert len(dialled) == F.MAX_DIALING + 1  # the next one, as a slot came free


def test_pings_are_answered_now_and_then() -> None:
    foreign, clock, _, _, _ = setup()
    circuit, wire = accepted(foreign, clock)
    wire.out.clear()
    circuit.data_received(b".\n", clock())
    assert bytes(wire.out) == b""  # just greeted
    clock.now += F.PONG_EVERY
    circuit.data_received(b".\n.\n", clock())
    assert bytes(wire.out) == b".\n"


def test_a_peer_that_keeps_forging_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    foreign, clock, alice, _, _ = setup()
    circuit, wire = accepted(foreign, clock)
    forged = Packet("_message_private", {"_source": f"psyc://{ME}/~dave", "_target": alice.uniform})
    for _ in range(F.REFUSED_MAX):
        send(circuit, clock, forged)
    assert wire.closed and alice.got == []
    assert caplog.text.count("refused _message_private") == F.REFUSED_LOGGED


def test_a_private_message_without_nick_target_names_its_recipient() -> None:
    from ircpsyc.ircd.client import render_message

    packet = Packet(
        "_message_private",
        {"_source": f"psyc://{PEER}/~bob", "_target": f"psyc://{ME}/~alice"},
        {"_prefix": f"psyc://{PEER}/~bob!bob@{PEER}"},
        "hi",
    )
    assert (
        render_message(packet, 0)
        == f":psyc://{PEER}/~bob!bob@{PEER} PRIVMSG alice :hi\r\n".encode()
    )


def test_psyceds_refusals_show_as_a_notice() -> None:
    foreign, clock, alice, _, _ = setup()
    circuit, _ = accepted(foreign, clock)
    refusal = Packet(
        "_failure_filter_strangers",
        {"_source": f"psyc://{PEER}/~bob", "_target": alice.uniform},
        {"_nick": "bob"},
        "[_nick] does not talk to strangers.",
    )
    send(circuit, clock, refusal)
    (got,) = alice.got
    assert got.method == "_message_private_notice"
    assert got.body == "bob does not talk to strangers."
    assert got.get("_nick_target") == "alice"


def test_operators_see_the_foreign_circuits() -> None:
    foreign, clock, _, _, _ = setup()
    accepted(foreign, clock)
    view = foreign.network.snapshot()["foreign"]
    (circuit,) = view["circuits"]
    assert circuit["peer"] == PEER and circuit["state"] == F.OPEN and circuit["syntax"] == "0.9"
    assert circuit["dialled"] is False and view["refused"] == 0


def test_kicks_to_a_foreign_place_name_the_person_and_are_answered() -> None:
    """psyced's `_request_kick` wants `_person`; it answers only its owners' kicks
    (`_status_place_banned`), so a kick nobody acts on gets our user an error."""
    foreign, clock, alice, _, _ = setup()
    circuit, wire = accepted(foreign, clock)
    place = f"psyc://{PEER}/@lounge"
    for nick, person in [(f"psyc://{PEER}/~bob", "bob"), ("carol", f"psyc://{ME}/~carol")]:
        wire.out.clear()
        kick = Packet(
            "_request_kick",
            {"_source": alice.uniform, "_target": place},
            {"_nick_target": nick, "_nick_place": "#" + place},
        )
        foreign.send(kick)
        assert wire.packets()[0].get("_person") == person
    clock.now += F.KICK_ANSWER - 1
    send(
        circuit, clock, Packet("_status_place_banned", {"_source": place, "_target": alice.uniform})
    )
    foreign.tick(clock())
    assert [p.method for p in alice.got if p.method.startswith("_error")] == []
    foreign.send(kick)
    clock.now += F.KICK_ANSWER + 1
    foreign.tick(clock())
    errors = [p for p in alice.got if p.method.startswith("_error")]
    assert [p.method for p in errors] == ["_error_unavailable_function_place_kick"]
    assert errors[0].get("_nick_place") == "#" + place and "owners" in errors[0].body


def test_persistent_assignments_hold_for_the_circuit_and_are_checked_each_time() -> None:
    """`=` in psyced's syntax keeps a variable for the circuit; each packet it fills
    in is checked like any other (a kept `_source` is no way around the host check)."""
    foreign, clock, alice, _, _ = setup()
    circuit, _ = accepted(foreign, clock)
    circuit.data_received(
        f"=_source\tpsyc://{PEER}/~bob\n=_target\t{alice.uniform}\n\n=_nick\tbob\n"
        "_message_private\nfirst\n.\n\n_message_private\nsecond\n.\n"
        f"=_source\tpsyc://{ME}/~dave\n\n_message_private\nFORGED\n.\n"
        "\n_message_private\nFORGED again\n.\n".encode(),
        clock(),
    )
    assert [p.body for p in alice.got] == ["first", "second"]
    assert all(p.source == f"psyc://{PEER}/~bob" for p in alice.got)
    assert foreign.refused == 2
