"""Server link circuits, sans-IO: handshake, authentication, pings, acknowledgements,
resending after a broken link, duplicates, garbage, and the link configuration."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from netsim import SECRET, Sim

from ircpsyc.config import ConfigError, load
from ircpsyc.psyc_backend.link import (
    CLOSED,
    DOWN,
    INITIATOR,
    PROTOCOL,
    RESPONDER,
    UP,
    Circuit,
    LinkConfig,
    Links,
    Peer,
    Settings,
    admission_key,
    proof,
)
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.wire import Parser, render


class Handler:
    """Records what the links report."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.packets: list[Packet] = []

    def link_hello(self, peer: Peer) -> list[bytes]:
        return []

    def link_up(self, peer: Peer) -> None:
        self.events.append(("up", peer.name))

    def link_down(self, peer: Peer) -> None:
        self.events.append(("down", peer.name))

    def link_packet(self, peer: Peer, packet: Packet) -> None:
        self.packets.append(packet)


class End:
    """One side of a hand-driven connection: what it wrote, and whether it closed."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self, abort: bool) -> None:
        self.closed = True
        self.aborted = abort

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data


def links(me: str, peer: str, secret: str = SECRET) -> tuple[Links, Handler]:
    handler = Handler()
    return Links(me, "1000", [LinkConfig(peer, secret)], Settings(), handler), handler


def pair(
    secret_a: str = SECRET, secret_b: str = SECRET
) -> tuple[Circuit, End, Links, Handler, Circuit, End, Links, Handler]:
    la, ha = links("a.test", "b.test", secret_a)
    lb, hb = links("b.test", "a.test", secret_b)
    ea, eb = End(), End()
    ca = la.open(la.peers["b.test"], ea.write, ea.close, 0.0)
    cb = lb.open(None, eb.write, eb.close, 0.0)
    return ca, ea, la, ha, cb, eb, lb, hb


def shuttle(ca: Circuit, ea: End, cb: Circuit, eb: End, now: float = 0.0) -> None:
    for _ in range(10):
        da, db = ea.take(), eb.take()
        if not da and not db:
            return
        if da and not eb.closed:
            cb.data_received(da, now)
        if db and not ea.closed:
            ca.data_received(db, now)


def test_handshake_both_sides_send_empty_packet_then_notice() -> None:
    ca, ea, la, ha, cb, eb, _lb, hb = pair()
    first = bytes(ea.out)
    assert first.startswith(b"|\n")
    notice = Parser().feed(first)[1]
    assert notice.method == "_notice_circuit_established"
    assert notice.source == "psyc://a.test/"
    assert len(notice.get("_challenge")) == 32
    shuttle(ca, ea, cb, eb)
    assert ca.state == UP and cb.state == UP
    assert ha.events == [("up", "b.test")] and hb.events == [("up", "a.test")]
    assert la.peers["b.test"].state == UP


def test_proof_binds_role_both_nonces_and_both_names() -> None:
    args = ("n" * 32, "m" * 32, "psyc://a/", "psyc://b/", "1", "2")
    value = proof("secret", INITIATOR, *args)
    assert len(value) == 64
    assert value != proof("secret", RESPONDER, *args)  # the other direction
    assert value != proof("secret", INITIATOR, "m" * 32, "n" * 32, *args[2:])
    assert value != proof("secret", INITIATOR, *args[:2], "psyc://b/", "psyc://a/", *args[4:])
    assert value != proof("other", INITIATOR, *args)
    # Length-prefixed fields: moving a character from one field to the next shows.
    assert proof("s", INITIATOR, "ab", "c", "x", "y") != proof("s", INITIATOR, "a", "bc", "x", "y")


def test_wrong_secret_is_refused_with_error_and_closed() -> None:
    ca, ea, la, ha, cb, eb, lb, hb = pair(secret_b="another secret, not the same")
    shuttle(ca, ea, cb, eb)
    assert ca.state == CLOSED and cb.state == CLOSED
    assert ha.events == [] and hb.events == []
    assert la.peers["b.test"].stats.refused + lb.peers["a.test"].stats.refused >= 1
    assert "wrong proof" in la.peers["b.test"].last_error + lb.peers["a.test"].last_error


def test_unknown_server_is_refused() -> None:
    la, _ha = links("a.test", "b.test")
    end = End()
    circuit = la.open(None, end.write, end.close, 0.0)
    notice = Packet(
        "_notice_circuit_established",
        {"_source": "psyc://intruder.test/"},
        {"_challenge": "0" * 32, "_boot": "1", "_protocol": PROTOCOL},
    )
    circuit.data_received(b"|\n" + render(notice), 0.0)
    assert circuit.state == CLOSED
    errors = [p.method for p in Parser().feed(end.take())]
    assert "_error_illegal_source" in errors
    assert la.refused == {"intruder.test": 1}


def test_garbage_gets_error_syntax_and_the_link_closes() -> None:
    ca, ea, _la, ha, cb, eb, _lb, _hb = pair()
    shuttle(ca, ea, cb, eb)
    ea.take()
    ca.data_received(b"this is not PSYC\n\x00\x01|\n", 1.0)
    assert ca.state == CLOSED and ea.closed
    assert [p.method for p in Parser().feed(ea.take())] == ["_error_syntax"]
    assert ha.events[-1] == ("down", "b.test")


def test_data_before_authentication_is_refused() -> None:
    la, ha = links("a.test", "b.test")
    end = End()
    circuit = la.open(None, end.write, end.close, 0.0)
    circuit.data_received(b"|\n" + render(Packet("_message_public", {}, {}, "hi")), 0.0)
    assert circuit.state == CLOSED
    assert ha.packets == []


def test_pings_and_ping_timeout() -> None:
    ca, ea, _la, ha, cb, eb, _lb, _hb = pair()
    shuttle(ca, ea, cb, eb)
    ea.take()
    ca.tick(16.0)  # ping_interval 15
    assert ea.take() == b"|\n"
    ca.tick(61.0)  # nothing heard for ping_timeout 60
    assert ca.state == CLOSED
    assert ha.events[-1] == ("down", "b.test")


def test_acknowledged_packets_are_forgotten_unacknowledged_ones_resent() -> None:
    ca, ea, la, _ha, cb, eb, lb, hb = pair()
    shuttle(ca, ea, cb, eb)
    peer = la.peers["b.test"]
    for n in range(5):
        peer.queue(render(Packet("_message_public", {}, {"_n": str(n)}, "x")))
    assert len(peer.unacked) == 5
    shuttle(ca, ea, cb, eb)
    assert [p.get("_n") for p in hb.packets] == ["0", "1", "2", "3", "4"]
    cb.tick(1.0)  # b acknowledges what it has
    shuttle(ca, ea, cb, eb)
    assert len(peer.unacked) == 0
    # Three more, of which the link loses the last two on the wire.
    for n in range(5, 8):
        peer.queue(render(Packet("_message_public", {}, {"_n": str(n)}, "x")))
    data = ea.take()
    first_end = data.index(b"|\n") + 2
    cb.data_received(data[:first_end], 2.0)
    ca.lost("broken")
    cb.lost("broken")
    assert peer.state == DOWN and len(peer.unacked) == 3
    # A new circuit: b says it has 6 packets, a resends the other two.
    ea2, eb2 = End(), End()
    ca2 = la.open(peer, ea2.write, ea2.close, 3.0)
    cb2 = lb.open(None, eb2.write, eb2.close, 3.0)
    shuttle(ca2, ea2, cb2, eb2, 3.0)
    assert ca2.state == UP
    assert [p.get("_n") for p in hb.packets] == [str(n) for n in range(8)]
    assert peer.stats.resent == 2


def test_packets_queue_while_the_link_is_down() -> None:
    la, _ha = links("a.test", "b.test")
    lb, hb = links("b.test", "a.test")
    peer = la.peers["b.test"]
    for n in range(3):
        peer.queue(render(Packet("_notice_test", {}, {"_n": str(n)})))
    assert peer.state == DOWN and len(peer.unacked) == 3
    ea, eb = End(), End()
    ca = la.open(peer, ea.write, ea.close, 0.0)
    cb = lb.open(None, eb.write, eb.close, 0.0)
    shuttle(ca, ea, cb, eb)
    assert [p.get("_n") for p in hb.packets] == ["0", "1", "2"]


def test_queue_is_bounded() -> None:
    handler = Handler()
    la = Links("a.test", "1", [LinkConfig("b.test", SECRET)], Settings(queue_max=3), handler)
    peer = la.peers["b.test"]
    for n in range(10):
        peer.queue(render(Packet("_notice_test", {}, {"_n": str(n)})))
    assert len(peer.unacked) == 3
    assert peer.stats.dropped == 7


def test_restarted_peer_gets_the_queue_renumbered() -> None:
    ca, ea, la, _ha, cb, eb, _lb, _hb = pair()
    shuttle(ca, ea, cb, eb)
    peer = la.peers["b.test"]
    peer.queue(render(Packet("_notice_test", {}, {"_n": "0"})))
    shuttle(ca, ea, cb, eb)
    cb.tick(1.0)
    shuttle(ca, ea, cb, eb)
    ca.lost("x")
    cb.lost("x")
    peer.queue(render(Packet("_notice_test", {}, {"_n": "1"})))
    # b restarts: a new Links with a new boot, counting from zero.
    hb2 = Handler()
    lb2 = Links("b.test", "2000", [LinkConfig("a.test", SECRET)], Settings(), hb2)
    ea2, eb2 = End(), End()
    ca2 = la.open(peer, ea2.write, ea2.close, 2.0)
    cb2 = lb2.open(None, eb2.write, eb2.close, 2.0)
    shuttle(ca2, ea2, cb2, eb2, 2.0)
    assert [p.get("_n") for p in hb2.packets] == ["1"]
    assert lb2.peers["a.test"].received == 1


def test_duplicate_circuit_keeps_the_one_dialled_by_the_lower_name() -> None:
    la, _ha = links("a.test", "b.test")
    lb, _hb = links("b.test", "a.test")
    pa = la.peers["b.test"]
    pb = lb.peers["a.test"]
    # Both dial at once: a->b (preferred: a < b) and b->a.
    e1a, e1b, e2a, e2b = End(), End(), End(), End()
    c1a = la.open(pa, e1a.write, e1a.close, 0.0)  # a dialled
    c2b = lb.open(pb, e2b.write, e2b.close, 0.0)  # b dialled
    c1b = lb.open(None, e1b.write, e1b.close, 0.0)
    c2a = la.open(None, e2a.write, e2a.close, 0.0)
    for _ in range(6):
        shuttle(c1a, e1a, c1b, e1b)
        shuttle(c2a, e2a, c2b, e2b)
    assert pa.circuit is c1a and pb.circuit is c1b
    assert c1a.state == UP and c2a.state == CLOSED


def test_sim_link_counters_and_state() -> None:
    sim = Sim(["a.test", "b.test"], [("a.test", "b.test")])
    sim.link_all()
    a = sim["a.test"].peer("b.test")
    b = sim["b.test"].peer("a.test")
    assert a.state == UP and b.state == UP
    snap = a.snapshot(sim.now)
    assert snap["name"] == "b.test" and snap["state"] == "up"
    assert snap["bytes_out"] > 0 and snap["bytes_in"] > 0
    sim.cut("a.test", "b.test")
    assert a.state == DOWN and b.state == DOWN


# --- configuration -----------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ircpsyc.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


LINKED = """
[server]
name = "a.example.org"
[listen]
psyc = "127.0.0.1:4404"
[network]
servers = ["a.example.org", "b.example.org", "c.example.org"]
split_grace = 3
[channels.pin]
"#ops" = "c.example.org"
[[links]]
name = "b.example.org"
address = "127.0.0.1:4405"
secret = "0123456789abcdef0123"
"""


def test_config_links_network_and_pins(tmp_path: Path) -> None:
    config = load(write(tmp_path, LINKED))
    assert config.listen.psyc == "127.0.0.1:4404"
    assert config.links[0].name == "b.example.org"
    assert config.links[0].tls is False and config.links[0].fingerprint == ""
    assert config.network.split_grace == 3.0
    assert config.channels.pin == {"#ops": "c.example.org"}
    assert load(None).channels.pin == {}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda t: t.replace('"0123456789abcdef0123"', '"short"'), "links[0].secret"),
        (lambda t: t.replace('name = "b.example.org"', 'name = "a.example.org"'), "links[0].name"),
        (lambda t: t.replace('= "c.example.org"\n', '= "z.example.org"\n'), "channels.pin.#ops"),
        (lambda t: t.replace('"#ops"', '"ops"'), "channels.pin"),
        (
            lambda t: t.replace('psyc = "127.0.0.1:4404"', "").replace(
                'address = "127.0.0.1:4405"\n', ""
            ),
            "links[0].address",
        ),
        (lambda t: t.replace('"a.example.org", "b', '"b'), "network.servers"),
    ],
)
def test_config_link_errors(tmp_path: Path, change: Callable[[str], str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, change(LINKED)))
    assert info.value.key == key


def test_default_network_servers_are_this_one_and_the_links(tmp_path: Path) -> None:
    from ircpsyc.config import network_servers

    config = load(write(tmp_path, LINKED))
    bare = dataclasses.replace(config, network=dataclasses.replace(config.network, servers=()))
    assert network_servers(bare) == ("a.example.org", "b.example.org")


# --- REHASH -------------------------------------------------------------------------


def _rehash(sim: Sim, name: str, secret: str = "") -> list[str]:
    config = sim.config(name)
    if secret:
        config = dataclasses.replace(
            config,
            links=tuple(dataclasses.replace(link, secret=secret) for link in config.links),
        )
    return sim[name].linking.reconfigure(config)


def test_rehash_adds_and_removes_links() -> None:
    sim = Sim(["a", "b", "c"], [("a", "b")])
    sim.link_all()
    assert sim["a"].network.reachable == {"a", "b"}
    sim.edges.append(("a", "c"))
    assert _rehash(sim, "a") == ["link c added"]
    assert _rehash(sim, "c") == ["link a added"]
    sim.connect("a", "c")
    sim.settle()
    assert sim["b"].network.reachable == {"a", "b", "c"}
    sim.edges.remove(("a", "b"))
    assert _rehash(sim, "a") == ["link b removed"]
    sim.settle()
    assert "b" not in sim["a"].network.links.peers
    assert sim["a"].network.reachable == {"a", "c"}
    assert sim["b"].network.reachable == {"b"}
    assert _rehash(sim, "a") == []  # nothing changed


def test_rehash_with_a_new_secret_authenticates_again() -> None:
    sim = Sim(["a", "b"], [("a", "b")])
    sim.link_all()
    changes = _rehash(sim, "a", secret="a new secret, 20+ characters")
    assert changes == ["link b credentials changed: it links again"]
    sim.settle()
    assert sim["a"].peer("b").state == DOWN
    sim.connect("a", "b")  # b still knows the old secret: refused
    assert sim["a"].peer("b").state == DOWN
    _rehash(sim, "b", secret="a new secret, 20+ characters")
    sim.connect("a", "b")
    sim.settle()
    assert sim["a"].peer("b").state == UP
    assert sim["a"].network.reachable == {"a", "b"}


def test_rehash_of_timers_and_the_warning_about_homes() -> None:
    sim = Sim(["a", "b"], [("a", "b")])
    config = sim.config("a")
    config = dataclasses.replace(
        config,
        network=dataclasses.replace(
            config.network, ping_interval=2.0, split_grace=1.0, servers=("a", "b", "z")
        ),
    )
    changes = sim["a"].linking.reconfigure(config)
    assert sim["a"].network.links.settings.ping_interval == 2.0
    assert sim["a"].peer("b").settings.ping_interval == 2.0
    assert sim["a"].network.split_grace == 1.0
    assert any("next restart" in change for change in changes)
    assert sim["a"].network.home_of("#x") in ("a", "b")  # homes stay until the restart


# --- attacks on the handshake (issue 18) --------------------------------------------


def packets_of(end: End) -> list[Packet]:
    return [p for p in Parser(max_name=128).feed(end.take()) if p.method]


def claim(me: str, peer: str, challenge: str, boot: str = "666") -> bytes:
    notice = Packet(
        "_notice_circuit_established",
        {"_source": f"psyc://{me}/", "_target": f"psyc://{peer}/"},
        {"_challenge": challenge, "_boot": boot, "_protocol": PROTOCOL},
    )
    return b"|\n" + render(notice)


def answer(me: str, peer: str, proof_text: str) -> bytes:
    return render(
        Packet(
            "_status_circuit_authentication",
            {"_source": f"psyc://{me}/", "_target": f"psyc://{peer}/"},
            {"_proof": proof_text, "_counter_received": "0"},
        )
    )


def test_reflection_between_two_servers_authenticates_nobody() -> None:
    """The attacker dials a and b, claims to be each to the other and hands each
    one's challenge and proof to the other: both stay responders, whose proofs are
    never an initiator's, and the real circuit is untouched."""
    ca, ea, la, ha, cb, eb, lb, hb = pair()
    shuttle(ca, ea, cb, eb)
    pa, pb = la.peers["b.test"], lb.peers["a.test"]
    state = (pa.circuit, pb.circuit, pa.boot, pb.boot, pa.received, pb.received)
    to_a, to_b = End(), End()
    xa = la.open(None, to_a.write, to_a.close, 1.0)  # the attacker, as b
    xb = lb.open(None, to_b.write, to_b.close, 1.0)  # the attacker, as a
    xb.data_received(claim("a.test", "b.test", "0123456789abcdef" * 2), 1.0)
    from_b = packets_of(to_b)[0]
    assert from_b.method == "_status_circuit_challenge"
    xa.data_received(claim("b.test", "a.test", from_b.get("_challenge")), 1.0)
    from_a = packets_of(to_a)[0]
    # Each got the other's responder proof, for the nonce it asked for.
    xa.data_received(answer("b.test", "a.test", from_b.get("_proof")), 1.0)
    xb.data_received(answer("a.test", "b.test", from_a.get("_proof")), 1.0)
    assert xa.state == CLOSED and xb.state == CLOSED
    assert "_error_circuit_authentication" in [p.method for p in packets_of(to_a)]
    assert xa.peer is None and xb.peer is None
    assert (pa.circuit, pb.circuit, pa.boot, pb.boot, pa.received, pb.received) == state
    assert ca.state == UP and cb.state == UP
    assert ha.events == [("up", "b.test")] and hb.events == [("up", "a.test")]
    assert la.auth_failures == 1 and lb.auth_failures == 1
    assert la.circuits == {ca} and lb.circuits == {cb}


def test_a_responder_never_proves_itself_over_a_replayed_or_reflected_nonce() -> None:
    """Whatever nonce a stranger sends, the responder's proof covers a fresh nonce of
    its own, and its role: it is never the proof any server expects from anybody."""
    _ca, ea, la, _ha, _cb, _eb, _lb, _hb = pair()
    to_a = End()
    xa = la.open(None, to_a.write, to_a.close, 0.0)
    mine = Parser().feed(bytes(ea.out))[1].get("_challenge")  # a's own initiator nonce
    xa.data_received(claim("b.test", "a.test", mine), 0.0)
    got = packets_of(to_a)[0]
    assert got.get("_challenge") != mine
    # Not what a, as initiator, would accept from b (nor what b would from a).
    expected_by_a = proof(
        SECRET, RESPONDER, mine, got.get("_challenge"), "psyc://a.test/", "psyc://b.test/"
    )
    assert got.get("_proof") != expected_by_a


def test_claims_before_authentication_change_nothing() -> None:
    ca, ea, _la, _ha, cb, eb, lb, hb = pair()
    shuttle(ca, ea, cb, eb)
    pb = lb.peers["a.test"]
    before = (pb.circuit, pb.boot, pb.received, pb.acked_sent, pb.last_error, pb.stats.refused)
    for n in range(50):
        end = End()
        stranger = lb.open(None, end.write, end.close, 1.0)
        stranger.data_received(claim("a.test", "b.test", f"{n:032x}", boot=str(n)), 1.0)
        assert stranger.state != UP and stranger.peer is None
        if n % 2:
            stranger.data_received(answer("a.test", "b.test", "0" * 64), 1.0)
        else:
            stranger.lost("gone")
        assert stranger.state == CLOSED
    assert (pb.circuit, pb.boot, pb.received, pb.acked_sent, pb.last_error, pb.stats.refused) == (
        before
    )
    assert cb.state == UP and hb.events == [("up", "a.test")]
    assert lb.circuits == {cb} and lb.unauthenticated == {}


def test_pre_auth_packets_are_small_and_the_limit_rises_once_authenticated() -> None:
    la, _ha = links("a.test", "b.test")
    end = End()
    circuit = la.open(None, end.write, end.close, 0.0, admitted="10.0.0.1")
    big = Packet("_notice_circuit_established", {"_source": "psyc://b.test/"}, {}, "x" * 5000)
    circuit.data_received(b"|\n" + render(big), 0.0)
    assert circuit.state == CLOSED
    assert "_error_syntax" in [p.method for p in packets_of(end)]
    assert la.circuits == set() and la.unauthenticated == {}
    # Pings alone are not a way to stay and send forever either.
    end = End()
    circuit = la.open(None, end.write, end.close, 0.0, admitted="10.0.0.1")
    for _ in range(20000):
        circuit.data_received(b"|\n", 0.0)
        if circuit.state == CLOSED:
            break
    assert circuit.state == CLOSED
    # Once up, a full channel state fits.
    ca, ea, la, _ha, cb, eb, _lb, hb = pair()
    shuttle(ca, ea, cb, eb)
    la.peers["b.test"].queue(render(Packet("_status_place_state", {}, {}, "y" * (1 << 20))))
    shuttle(ca, ea, cb, eb)
    assert cb.state == UP and len(hb.packets[-1].body) == 1 << 20


def test_unauthenticated_circuits_are_limited_per_address_and_in_all() -> None:
    handler = Handler()
    settings = Settings(pre_auth_per_address=2, pre_auth_total=3)
    la = Links("a.test", "1", [LinkConfig("b.test", SECRET)], settings, handler)
    assert la.admit("10.0.0.1") and la.admit("10.0.0.1")
    assert not la.admit("10.0.0.1")  # the address is full
    assert la.admit("10.0.0.2")
    assert not la.admit("10.0.0.3")  # everybody is full
    assert la.turned_away == 2
    ends = [End() for _ in range(3)]
    hosts = ["10.0.0.1", "10.0.0.1", "10.0.0.2"]
    circuits = [
        la.open(None, e.write, e.close, 0.0, admitted=h) for e, h in zip(ends, hosts, strict=True)
    ]
    circuits[0].lost("gone")
    assert la.admit("10.0.0.3")  # a slot came back when a circuit went
    la.release("10.0.0.3")
    # The handshake timeout closes the silent ones, at the tick.
    la.tick(5.0)
    assert all(c.state != CLOSED for c in circuits[1:])
    la.tick(settings.handshake_timeout + 0.1)
    assert all(c.state == CLOSED for c in circuits) and all(e.aborted for e in ends[1:])
    assert la.circuits == set() and la.unauthenticated == {} and la.unauthenticated_total == 0


def test_admission_counts_an_ipv6_site_as_one_address() -> None:
    assert admission_key("192.0.2.7") == "192.0.2.7"
    assert admission_key("2001:db8:1:2:aaaa::1") == admission_key("2001:db8:1:2:bbbb::9")
    assert admission_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert admission_key("2001:db8:1:3::1") != admission_key("2001:db8:1:2::1")
    assert admission_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert admission_key("fe80::1%eth0") == "fe80::/64"


def test_authenticated_circuit_leaves_the_admission_count() -> None:
    la, _ha = links("a.test", "b.test")
    lb, _hb = links("b.test", "a.test")
    ea, eb = End(), End()
    assert lb.admit("10.0.0.9")
    ca = la.open(la.peers["b.test"], ea.write, ea.close, 0.0)
    cb = lb.open(None, eb.write, eb.close, 0.0, admitted="10.0.0.9")
    assert lb.unauthenticated == {"10.0.0.9": 1}
    shuttle(ca, ea, cb, eb)
    assert cb.state == UP and lb.unauthenticated == {} and lb.unauthenticated_total == 0
    cb.lost("x")
    assert lb.unauthenticated_total == 0


def test_a_dialled_peer_that_fails_the_handshake_is_redialled_after_the_back_off() -> None:
    """Issue 15: a peer that accepts TCP but never authenticates was dialled again
    at every tick; now its back-off grows as for a refused connection."""
    handler = Handler()
    settings = Settings(reconnect_min=1.0, reconnect_max=8.0)
    la = Links("a.test", "1", [LinkConfig("b.test", SECRET, "127.0.0.1:1")], settings, handler)
    peer = la.peers["b.test"]
    now = 0.0
    dials = []
    for _ in range(400):  # 80 s in ticks of 0.2 s
        for due in la.tick(now):
            dials.append(now)
            end = End()
            circuit = la.open(due, end.write, end.close, now)
            assert peer.state == "handshake"
            circuit.data_received(b"|\nthis is no PSYC server\n", now)  # it answers garbage
            assert circuit.state == CLOSED and peer.dialled is None
        now += 0.2
    gaps = [b - a for a, b in itertools.pairwise(dials)]
    assert len(dials) < 20, dials
    assert gaps[0] >= 0.8 - 0.01 and max(gaps) >= 8 * 0.8 - 0.2
    assert peer.last_error and peer.circuit is None
    # One that accepts and stays silent: closed at the handshake timeout, then the back-off.
    due = la.tick(now + 100.0)
    assert due == [peer]
    end = End()
    circuit = la.open(peer, end.write, end.close, now + 100.0)
    assert la.tick(now + 105.0) == [] and circuit.state != CLOSED
    la.tick(now + 100.0 + settings.handshake_timeout + 0.1)
    assert circuit.state == CLOSED and peer.next_dial > now + 100.0 + settings.handshake_timeout


def test_a_failed_handshake_is_logged_with_its_back_off(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 15: the failed handshakes of a dialled peer were silent."""
    settings = Settings(reconnect_min=1.0, reconnect_max=8.0)
    la = Links("a.test", "1", [LinkConfig("b.test", SECRET, "127.0.0.1:1")], settings, Handler())
    for now in (0.0, 10.0):
        (due,) = la.tick(now)
        end = End()
        circuit = la.open(due, end.write, end.close, now)
        circuit.data_received(b"|\nthis is no PSYC server\n", now)
    failures = [r.getMessage() for r in caplog.records if "handshake failed" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].startswith("link b.test: handshake failed: ")
    assert "next try in" in failures[0]


def test_a_responder_speaks_only_after_the_callers_first_line() -> None:
    """psyced takes a first line of `|` for a syntax error: we answer what calls."""
    la, _ = links("a.test", "b.test")
    end = End()
    circuit = la.open(None, end.write, end.close, 0.0)
    assert end.take() == b""
    circuit.data_received(b"|\n", 0.0)
    assert end.take() == b"|\n"


def responder(la: Links) -> tuple[Circuit, End]:
    """An accepted circuit of a server that also serves foreign PSYC servers."""
    end = End()
    circuit = la.open(None, end.write, end.close, 0.0)
    circuit.head = bytearray()
    return circuit, end


def test_a_foreign_psyc_10_caller_is_handed_over_with_everything_it_sent() -> None:
    """Who calls shows in its first packet: a PSYC 1.0 server without our link
    handshake gets no link (and no link powers), whatever it claims to be."""
    la, ha = links("a.test", "b.test")
    for claim in ("psyc://b.test/", "psyc://psyced.example/"):
        circuit, end = responder(la)
        hello = Packet("_notice_circuit_established", {"_source": claim}, {})
        message = Packet("_message_private", {"_source": claim + "~x"}, {}, "hi")
        sent = b"|\n" + render(hello) + render(message)
        circuit.data_received(sent[:5], 0.0)
        assert not circuit.foreign_call  # not yet a whole packet
        circuit.data_received(sent[5:], 0.0)
        assert circuit.foreign_call and bytes(circuit.head or b"") == sent
        assert ha.packets == [] and ha.events == [] and circuit.peer is None
        assert end.take() == b"|\n"  # our opening; the foreign circuit greets
    # Bytes that are not PSYC at all: a foreign circuit answers those too.
    circuit, end = responder(la)
    circuit.data_received(b"GET / HTTP/1.0\r\n\r\n", 0.0)
    assert circuit.foreign_call and circuit.state != CLOSED


def test_our_link_handshake_is_still_a_link_on_a_listener_serving_foreign_servers() -> None:
    ca, ea, _la, _ha, _cb, _eb, lb, hb = pair()
    cb, eb = responder(lb)
    shuttle(ca, ea, cb, eb)
    assert cb.head is None and not cb.foreign_call
    assert ca.state == UP and cb.state == UP
    assert hb.events == [("up", "a.test")]
    # A caller with our greeting but not the secret is refused by the handshake.
    la, _ = links("a.test", "b.test", "not the secret")
    lb, hb = links("b.test", "a.test")
    ea = End()
    ca = la.open(la.peers["b.test"], ea.write, ea.close, 0.0)
    cb, eb = responder(lb)
    shuttle(ca, ea, cb, eb)
    assert cb.state == CLOSED and not cb.foreign_call and hb.events == []
