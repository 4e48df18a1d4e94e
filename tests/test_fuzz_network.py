"""Property tests: nothing another server sends can crash a server or corrupt it.

Random and malformed packets (unknown methods below known prefixes, missing
variables, lists where strings are expected and the reverse, counters, times and
stamps that are not numbers or are huge or negative, ragged `_list_*` columns,
answers to requests never made, spoofed `_source` / `_context`) are handed to a
server exactly where a packet from a link enters, `Network.link_packet`, from

* the root of a server of the network (trusted: it may change state, but must
  not crash anything), and
* a foreign PSYC server linked for federation (not in [network] servers): the
  roster, the directory, the accounts, the K/D-lines and the channel members of
  the honest servers must be exactly what they were.

Afterwards the network still works: JOIN and PRIVMSG across servers, and a
NickServ account registered on one server and identified to on the other.

Regression tests for what the fuzzing found are at the end of the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from account_helpers import notices
from helpers import FakeClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netsim import Sim

from ircpsyc.psyc_backend.network import TOPOLOGY, rendezvous
from ircpsyc.psyc_backend.packet import Packet, Value
from ircpsyc.psyc_backend.uniform import casefold, normalize

A, B, F = "a.test", "b.test", "f.test"  # F: a foreign PSYC server, linked to A


def homed(server: str, prefix: str) -> str:
    """A channel name whose home in the network of A and B is `server`."""
    return next(
        f"{prefix}{i}"
        for i in range(1000)
        if rendezvous(casefold(f"{prefix}{i}"), (A, B)) == server
    )


ACHAN, BCHAN, NAMES = homed(A, "#fuzz"), homed(B, "#hist"), homed(B, "#names")

SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)

SERVICES = ["$roster", "$directory", "$history", "$awaylog", "$accounts", "$operators", "$info"]
METHODS = [
    "_notice_roster_enter",
    "_notice_roster_leave",
    "_notice_roster_nick",
    "_notice_roster_update",
    "_notice_roster_enter_x",
    "_request_roster",
    "_status_roster",
    "_status_roster_x",
    "_notice_directory_places",
    "_request_directory",
    "_status_directory",
    "_request_members",
    "_status_place_members",
    "_status_place_state",
    "_request_context_resync",
    "_request_context_netjoin",
    "_request_enter",
    "_request_leave",
    "_request_set_topic",
    "_request_set_mode",
    "_request_kick",
    "_echo_place_enter",
    "_echo_place_leave",
    "_notice_place_enter",
    "_notice_place_leave",
    "_notice_place_leave_netburp",
    "_notice_place_leave_kick",
    "_notice_place_topic",
    "_notice_place_mode",
    "_notice_place_nick",
    "_message_public",
    "_message_private",
    "_request_history",
    "_echo_history",
    "_failure_history",
    "_error_necessary_membership",
    "_request_awaylog",
    "_request_awaylog_store",
    "_request_awaylog_read",
    "_request_awaylog_clear",
    "_status_awaylog_store",
    "_failure_awaylog_store",
    "_failure_awaylog",
    "_echo_awaylog",
    "_status_awaylog_clear",
    "_request_account_register",
    "_request_account_password",
    "_request_account_enforce",
    "_request_account_cert_add",
    "_request_account_cert_remove",
    "_request_account_drop",
    "_request_account_restore",
    "_request_account_x",
    "_status_account_register",
    "_status_account_drop",
    "_error_account_register",
    "_notice_account_update",
    "_notice_account_drop",
    "_request_accounts",
    "_status_accounts",
    "_status_accounts_unchanged",
    "_status_account_restore",
    "_notice_xline_add",
    "_notice_xline_remove",
    "_request_xlines",
    "_status_xlines",
    "_notice_wallops",
    "_notice_globops",
    "_request_kill",
    "_request_sajoin",
    "_request_sapart",
    "_request_sanick",
    "_status_kill",
    "_status_sajoin",
    "_status_sapart",
    "_status_sanick",
    "_error_unknown_name_user",
    "_error_unknown_name_place",
    "_error_place_target_membership",
    "_error_unavailable_nick",
    "_request_server_info",
    "_status_server_info",
    "_failure_server_info",
    "_notice_route_acknowledge",
    "_error_illegal_source",
    "_failure",
    "_notice",
    "_request",
    "_status",
]
VARS = [
    "_nick",
    "_nick_place",
    "_nick_target",
    "_nick_new",
    "_nick_old",
    "_user",
    "_host",
    "_realname",
    "_account",
    "_away",
    "_modes",
    "_signon",
    "_since",
    "_active",
    "_ip",
    "_uniform_new",
    "_uniform_requester",
    "_uniform_target",
    "_uniform_oper",
    "_prefix",
    "_reason",
    "_text",
    "_topic",
    "_topic_setter",
    "_topic_time",
    "_time",
    "_time_created",
    "_id",
    "_mode",
    "_counter",
    "_amount",
    "_amount_parts",
    "_part",
    "_selector",
    "_kind",
    "_account_awaylog",
    "_method_awaylog",
    "_nick_place_awaylog",
    "_index_awaylog",
    "_time_awaylog",
    "_flag_unread",
    "_flag_read",
    "_flag_secret",
    "_flag_enforce",
    "_flag_gone",
    "_password_hash",
    "_scram_salt",
    "_scram_iterations",
    "_scram_stored_key",
    "_scram_server_key",
    "_email",
    "_fingerprint",
    "_host_home",
    "_time_registered",
    "_time_updated",
    "_time_dropped",
    "_code",
    "_type",
    "_mask",
    "_setter",
    "_time_set",
    "_time_expire",
    "_server",
    "_stamp",
    "_remover",
    "_boot",
    "_sequence",
    "_filter_rank",
    "_command",
    "_version",
    "_description",
    "_flag_motd",
    "_admin_location",
    "_admin_name",
    "_admin_email",
]
LISTS = [
    "_list_members",
    "_list_members_nicks",
    "_list_members_modes",
    "_list_members_users",
    "_list_members_hosts",
    "_list_members_realnames",
    "_list_members_accounts",
    "_list_nick",
    "_list_user",
    "_list_host",
    "_list_account",
    "_list_modes",
    "_list_signon",
    "_list_since",
    "_list_active",
    "_list_ip",
    "_list_places",
    "_list_places_gone",
    "_list_amounts",
    "_list_topics",
    "_list_topic_setters",
    "_list_topic_times",
    "_list_created",
    "_list_references",
    "_list_time_registered",
    "_list_time_updated",
    "_list_host_home",
    "_list_password_hash",
    "_list_certs",
    "_list_flag_enforce",
    "_list_email",
    "_list_scram_iterations",
    "_list_dropped_account",
    "_list_dropped_time_registered",
    "_list_dropped_time_dropped",
    "_list_type",
    "_list_mask",
    "_list_reason",
    "_list_setter",
    "_list_time_set",
    "_list_time_expire",
    "_list_server",
    "_list_stamp",
    "_list_removed",
    "_list_remover",
    "_list_masks",
    "_list_masks_modes",
    "_list_masks_setters",
    "_list_masks_times",
    "_list_departed",
    "_list_departed_counters",
    "_list_netburped",
    "_list_parameters",
    "_list_servers",
    "_list_isupport",
    "_list_motd",
    "_list_info",
]
WORDS = [
    "",
    " ",
    "0",
    "1",
    "-1",
    "-99999999999999999999",
    "99999999999999999999",
    "9" * 400,
    "1e400",
    "1e-400",
    "nan",
    "inf",
    "-inf",
    "1.5",
    "0x10",
    "abc",
    "1 2",
    "ünïcødé ☃",
    "\u0663",  # an Arabic-Indic digit: isdigit() is true, int() takes it
    "²",  # isdigit() is true, int() refuses it
    "*",
    "*!*@*",
    "#fuzz",
    "#psyc://f.test/@room",
    "alice",
    "zed",
    "K",
    "D",
    "LATEST",
    "BEFORE",
    "BETWEEN",
    "VERSION",
    "MOTD",
    "TIME",
    "msgid=x",
    "timestamp=abc",
    "timestamp=99999999999999999999999",
    "timestamp=²",
    "psyc://a.test/~alice",
    "psyc://b.test/~bob",
    "psyc://f.test/~eve",
    "psyc://b.test/",
    "psyc://a.test/@fuzz",
    "psyc://",
    "~",
    "$",
    "@",
    "_message_private",
    "_message_public",
    "o",
    "+o",
    "ntk",
    "a.test",
    "b.test",
    "f.test",
]
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
word = st.one_of(st.sampled_from(WORDS), TEXT, st.integers(-(2**70), 2**70).map(str))
words = st.lists(word, max_size=4)


def uniforms(host: str) -> st.SearchStrategy[str]:
    """Uniforms on `host` (and some that are not quite uniforms)."""
    return st.sampled_from(
        [
            f"psyc://{host}/",
            *(f"psyc://{host}/{s}" for s in SERVICES),
            f"psyc://{host}/@fuzz",
            f"psyc://{host}/@room",
            f"psyc://{host}/~alice",
            f"psyc://{host}/~bob",
            f"psyc://{host}/~eve",
            f"psyc://{host}/~",
            f"psyc://{host}",
            f"psyc://{host}:x/~y",
            f"psyc://{host.upper()}/$ROSTER",
        ]
    )


# Where each family of methods naturally goes: (source, target, context) as
# templates over P (the sending server) and A (the receiving one); "cast" marks a
# context cast (`_route_servers`), "ROOM" the place A replicates from P.
SHAPES: list[tuple[str, tuple[str, str, str]]] = [
    ("_notice_roster", ("", "cast", "psyc://P/$roster")),
    ("_status_roster", ("", "psyc://A/", "psyc://P/$roster")),
    ("_request_roster", ("psyc://P/", "psyc://A/$roster", "")),
    ("_notice_directory", ("", "cast", "psyc://P/$directory")),
    ("_status_directory", ("", "psyc://A/", "psyc://P/$directory")),
    ("_request_directory", ("psyc://P/", "psyc://A/$directory", "")),
    ("_request_members", ("psyc://P/$directory", "psyc://A/$directory", "")),
    ("_status_place_members", ("psyc://P/$directory", "psyc://A/$directory", "")),
    ("_error_unknown_name_place", ("psyc://P/$directory", "psyc://A/$directory", "")),
    ("_status_place_state", ("", "psyc://A/", "ROOM")),
    ("_request_context", ("psyc://P/", "HOMED", "")),
    ("_request_enter", ("psyc://P/~eve", "HOMED", "")),
    ("_request_leave", ("psyc://P/~eve", "HOMED", "")),
    ("_request_set", ("psyc://P/~eve", "HOMED", "")),
    ("_request_kick", ("psyc://P/~eve", "HOMED", "")),
    ("_notice_place", ("", "cast", "ROOM")),
    ("_message_public", ("", "cast", "ROOM")),
    ("_echo_place", ("ROOM", "psyc://A/~alice", "ROOM")),
    ("_message_private", ("psyc://P/~eve", "psyc://A/~alice", "")),
    ("_history", ("psyc://P/$history", "psyc://A/$history", "")),
    ("_necessary", ("psyc://P/$history", "psyc://A/$history", "")),
    ("_awaylog", ("psyc://P/$awaylog", "psyc://A/$awaylog", "")),
    ("_accounts", ("psyc://P/$accounts", "psyc://A/$accounts", "")),
    ("_account", ("psyc://P/$accounts", "psyc://A/$accounts", "")),
    ("_notice_account", ("", "cast", "psyc://P/$accounts")),
    ("_xline", ("psyc://P/", "psyc://A/$operators", "")),
    ("_xlines", ("psyc://P/", "psyc://A/$operators", "")),
    ("_ops", ("psyc://P/", "psyc://A/$operators", "")),
    ("_kill", ("psyc://P/", "psyc://A/$operators", "")),
    ("_sa", ("psyc://P/", "psyc://A/$operators", "")),
    ("_unavailable", ("psyc://P/", "psyc://A/$operators", "")),
    ("_unknown_name_user", ("psyc://P/", "psyc://A/$operators", "")),
    ("_target_membership", ("psyc://P/", "psyc://A/$operators", "")),
    ("_server_info", ("psyc://P/", "psyc://A/$info", "")),
]


def natural(method: str) -> tuple[str, str, str] | None:
    """The longest-matching shape of `method` (by any `_part` of its name)."""
    best: tuple[int, tuple[str, str, str]] | None = None
    for key, shape in SHAPES:
        if key in method and (best is None or len(key) > best[0]):
            best = (len(key), shape)
    return best[1] if best is not None else None


@st.composite
def packets(draw: st.DrawFn, peer: str) -> Packet:
    """A packet as it could come from `peer`: mostly shaped as its method would be,
    in its own name; sometimes spoofed, misaddressed or shapeless."""
    hosts = st.sampled_from([peer] * 6 + [A, B, F, "x.test"])
    method = draw(
        st.one_of(
            st.sampled_from(METHODS),
            st.sampled_from(METHODS),
            st.sampled_from(METHODS).map(lambda m: m + "_x"),
            st.from_regex(r"\A_[a-z]{1,8}(_[a-z]{1,8}){0,3}\Z"),
        )
    )
    routing: dict[str, str] = {}
    shape = natural(method)
    if shape is not None and draw(st.integers(0, 9)) < 8:
        host = draw(hosts)
        room = "psyc://f.test/@room" if host == F else f"psyc://{host}/@{BCHAN[1:]}"

        def fill(template: str) -> str:
            if template in ("ROOM", "HOMED"):
                return room if template == "ROOM" else f"psyc://{A}/@{ACHAN[1:]}"
            return template.replace("P", host).replace("A", A)

        source, target, context = shape
        if source:
            routing["_source"] = fill(source)
        if target == "cast":
            routing["_route_servers"] = draw(st.sampled_from([A, A, f"{A} {B}", "", "zz.test"]))
        elif target:
            routing["_target"] = fill(target)
        if context:
            routing["_context"] = fill(context)
        if target == "cast" or draw(st.booleans()):
            routing["_source_relay"] = draw(
                st.sampled_from([f"psyc://{host}/~eve", f"psyc://{host}/~bob", ""])
            )
    else:
        kind = draw(st.sampled_from(["unicast", "cast", "root"]))
        if draw(st.booleans()) or kind != "cast":
            routing["_source"] = draw(st.one_of(hosts.flatmap(uniforms), word))
        if kind == "cast":
            routing["_context"] = draw(hosts.flatmap(uniforms))
            routing["_route_servers"] = draw(
                st.sampled_from([A, f"{A} {B}", f"{B} {A}", "", "zz.test", f"{A} {A}"])
            )
        elif kind == "root":
            routing["_target"] = f"psyc://{A}/"
            if draw(st.booleans()):
                routing["_context"] = draw(hosts.flatmap(uniforms))
        else:
            routing["_target"] = draw(st.one_of(uniforms(A), uniforms(A), word))
            if draw(st.booleans()):
                routing["_context"] = draw(hosts.flatmap(uniforms))
    if "_context" in routing and draw(st.integers(0, 3)) > 0:
        routing["_counter"] = draw(st.one_of(st.just("NEXT"), st.just("NEXT"), word))
    elif draw(st.booleans()):
        routing["_counter"] = draw(word)
    for name in draw(
        st.lists(
            st.sampled_from(
                ["_tag", "_tag", "_tag_relay", "_tag_relay", "_amount_hops", "_route_counter"]
            ),
            max_size=3,
        )
    ):
        routing[name] = draw(st.one_of(word, st.just("TAG"), hosts.flatmap(uniforms)))
    vars: dict[str, Value] = {}
    for name in draw(st.lists(st.sampled_from(VARS), max_size=10)):
        # Mostly strings; sometimes a list where a string is expected.
        vars[name] = draw(st.one_of(word, word, word, words))
    for name in draw(st.lists(st.sampled_from(LISTS), max_size=10)):
        # Ragged columns; sometimes a string where a list is expected.
        vars[name] = draw(st.one_of(words, words, words, word))
    body = draw(st.sampled_from(["", "hello", "ünïcødé"]))
    # A routing value ends at its line: no line feed ever comes from the wire.
    routing = {name: value.replace("\n", " ") for name, value in routing.items()}
    return Packet(method, routing, vars, body)


actions = st.lists(st.one_of(st.just("tick"), st.just("run")), max_size=2)


class Errors(logging.Handler):
    """Exceptions that a handler caught and logged (log.exception): bugs all the same."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


def network() -> Sim:
    """A and B are a network (with services), F a foreign server linked to A.  alice is
    on A, bob on B, both in ACHAN (homed on A) and BCHAN (on B); bob in NAMES (on B);
    eve on F in its own #room, which alice entered."""
    sim = Sim([A, B, F], [(A, B), (A, F)], servers=[A, B], services=True)
    sim.link_all()
    alice = sim[A].client("alice", CAPS)
    bob = sim[B].client("bob", CAPS)
    eve = sim[F].client("eve")
    sim.do(alice, f"JOIN {ACHAN}")
    sim.do(bob, f"JOIN {ACHAN}")
    sim.do(eve, "JOIN #room")
    sim.do(alice, "JOIN #psyc://f.test/@room")
    sim.do(alice, "PRIVMSG NickServ :REGISTER secret-pw")
    sim.do(alice, f"JOIN {BCHAN}")
    sim.do(bob, f"JOIN {BCHAN}")
    sim.do(alice, f"PRIVMSG {BCHAN} :something to remember")
    sim.do(bob, f"JOIN {NAMES}")
    sim.settle()
    KEEP[id(sim)] = [alice, bob, eve]
    return sim


KEEP: dict[int, list[FakeClient]] = {}
CAPS = ["server-time", "message-tags", "account-tag", "away-notify", "chghost", "setname"]


def tick(sim: Sim, seconds: float = 1.0) -> None:
    """Time passes (timers, resyncs, timeouts); the clients stay active."""
    sim.tick(seconds)
    for fake in KEEP.get(id(sim), []):
        sim.do(fake, "PING :keepalive")
        sim.lines(fake)


def next_counter(sim: Sim, context: str) -> str:
    """The counter that A expects next in `context` (to get casts past the gap check)."""
    linking = sim[A].linking
    host = context[7:].split("/", 1)[0]
    found: Any = None
    if context.endswith("/$roster"):
        found = linking.roster.replicas.get(host)
    elif context.endswith("/$directory"):
        found = linking.directory.replicas.get(host)
    elif context.endswith("/$accounts"):
        nickserv = sim[A].core.nickserv
        found = nickserv.sync.copies.get(host) if nickserv is not None else None
    else:
        found = linking.replicas.by_uniform.get(normalize(context))
    last = getattr(found, "last", None)
    return str(last + 1) if isinstance(last, int) else "1"


def pending_tag(sim: Sim, method: str = "") -> str:
    """The tag of a request A has just sent to B and waits for the answer to: alice asks
    for the history of a channel she is in, the names of one she is not in and B's
    TIME (the requests are still on the wire: the answer under test comes first)."""
    alice = KEEP[id(sim)][0]
    alice.send(f"CHATHISTORY LATEST {BCHAN} * 10")
    alice.send(f"NAMES {NAMES}")
    alice.send(f"TIME {B}")
    linking = sim[A].linking
    services: list[Any] = [linking.history, linking.directory, linking.awaylog, linking.netops]
    services.insert(0 if "_server_info" in method else 4, linking.info)
    for service in services:
        if service.requests.pending:
            return next(reversed(service.requests.pending))
    return "tag-never-made"


def inject(sim: Sim, peer: str, packet: Packet) -> None:
    """`packet` arrives at A on its link from `peer`, then everything it causes runs."""
    if packet.routing.get("_counter") == "NEXT":
        packet.routing["_counter"] = next_counter(sim, packet.context)
    if packet.routing.get("_tag_relay") == "TAG":  # an answer to a request A made
        packet.routing["_tag_relay"] = pending_tag(sim, packet.method)
    sim[A].network.link_packet(sim[A].peer(peer), packet)
    sim.run()


def honest_state(sim: Sim) -> dict[str, Any]:
    """What a foreign server must not be able to change on A and B."""
    out: dict[str, Any] = {}
    for name in (A, B):
        server = sim[name]
        linking = server.linking
        roster = {
            host: sorted(
                (key, p.nick, p.user, p.host, p.account, p.away, "".join(sorted(p.modes)))
                for key, p in replica.persons.items()
            )
            for host, replica in linking.roster.replicas.items()
        }
        directory = {
            host: sorted(replica.places) for host, replica in linking.directory.replicas.items()
        }
        accounts = server.accounts
        assert accounts is not None
        table = sorted((a.folded, a.password_hash, a.home, a.enforce) for a in accounts)
        xlines = repr(server.core.moderation.xlines.versions())
        members = {
            view.folded: sorted(k for k in view.members if "f.test" not in k)
            for view in server.places.views()
            if "f.test" not in view.uniform
        }
        clients = sorted(server.core.clients)
        out[name] = (
            roster,
            directory,
            table,
            xlines,
            members,
            clients,
            sorted(linking.network.reachable & {A, B}),  # F may cut only itself off
        )
    return out


def still_works(sim: Sim, tag: str) -> None:
    """A channel, messages across servers and an account all work."""
    sim.tick(2.0)
    one = sim[A].client(f"one{tag}")
    two = sim[B].client(f"two{tag}")
    sim.do(one, f"JOIN #ok{tag}")
    sim.do(two, f"JOIN #ok{tag}")
    sim.settle()
    sim.lines(one)
    sim.lines(two)
    sim.do(one, f"PRIVMSG #ok{tag} :hello from a")
    assert "hello from a" in sim.texts(two)
    sim.do(two, f"PRIVMSG one{tag} :hello from b")
    assert "hello from b" in sim.texts(one)
    sim.do(one, "PRIVMSG NickServ :REGISTER other-pw")
    sim.settle()
    assert "900" in [m.command for m in sim.lines(one)]
    sim.tick(2.0)
    three = sim[B].client(f"three{tag}")
    sim.do(three, f"PRIVMSG NickServ :IDENTIFY one{tag} other-pw")
    got = sim.lines(three)
    assert "900" in [m.command for m in got], [m.format() for m in got] + [notices(got)]


def fuzz(peer: str, check: Callable[[Sim, dict[str, Any]], None]) -> Sim:
    sim = network()
    errors = Errors()
    logging.getLogger("ircpsyc").addHandler(errors)
    before = honest_state(sim)
    try:

        @SETTINGS
        @given(batch=st.lists(packets(peer), min_size=1, max_size=4), then=actions)
        def run(batch: list[Packet], then: list[str]) -> None:
            for packet in batch:
                inject(sim, peer, packet)
            for action in then:
                tick(sim) if action == "tick" else sim.run()
            assert not errors.records, [r.getMessage() for r in errors.records]
            check(sim, before)

        run()
    finally:
        logging.getLogger("ircpsyc").removeHandler(errors)
    return sim


def test_fuzz_from_a_network_server_crashes_nothing() -> None:
    sim = fuzz(B, lambda sim, before: None)
    still_works(sim, "1")


def test_fuzz_from_a_foreign_server_changes_nothing_of_the_network() -> None:
    def unchanged(sim: Sim, before: dict[str, Any]) -> None:
        assert honest_state(sim) == before

    sim = fuzz(F, unchanged)
    still_works(sim, "2")


def test_fuzz_topology_adverts_from_a_foreign_server() -> None:
    """`_notice_circuit_topology` (link state) with any origin, boot and sequence."""
    sim = network()
    before = honest_state(sim)

    @SETTINGS
    @given(
        origin=st.sampled_from([F, A, B, "x.test", ""]),
        boot=word,
        seq=word,
        servers=st.one_of(words, word),
    )
    def run(origin: str, boot: str, seq: str, servers: Value) -> None:
        packet = Packet(
            TOPOLOGY,
            {"_source": f"psyc://{origin}/"},
            {"_boot": boot, "_sequence": seq, "_list_servers": servers},
        )
        inject(sim, F, packet)
        tick(sim)
        assert honest_state(sim) == before

    run()
    still_works(sim, "3")


# -- regressions: what the fuzzing found


def roster_enter(**vars: str) -> Packet:
    return Packet(
        "_notice_roster_enter",
        {
            "_context": f"psyc://{B}/$roster",
            "_route_servers": A,
            "_counter": "NEXT",
            "_source_relay": f"psyc://{B}/~zed",
        },
        {"_nick": "zed", **vars},
    )


def test_malformed_amount_hops_drops_the_packet() -> None:
    sim = network()
    for hops in (" ", "x", "-5", "9" * 400):
        inject(
            sim,
            B,
            Packet(
                "_message_private",
                {
                    "_source": f"psyc://{B}/~bob",
                    "_target": f"psyc://{F}/~eve",
                    "_amount_hops": hops,
                },
                {"_nick": "bob"},
                "looping?",
            ),
        )
        inject(
            sim,
            B,
            Packet(
                "_notice_roster_enter",
                {
                    "_context": f"psyc://{B}/$roster",
                    "_route_servers": f"{A} zz.test",
                    "_amount_hops": hops,
                },
            ),
        )
    assert sim[A].network.unroutable == 4  # dropped, not forwarded
    assert "looping?" not in sim.texts(KEEP[id(sim)][2])
    still_works(sim, "h")


def test_route_counters_and_acknowledgements_that_are_not_numbers() -> None:
    sim = network()
    for stamp in ("b.²", "1.².²", f"1.{'9' * 5000}.1", "1.5.\u0663"):
        inject(
            sim,
            B,
            Packet(
                "_message_private",
                {
                    "_source": f"psyc://{B}/~bob",
                    "_target": f"psyc://{A}/~alice",
                    "_route_counter": stamp,
                },
                {},
                "hi",
            ),
        )
    inject(
        sim,
        B,
        Packet(
            "_notice_route_acknowledge",
            {"_source": f"psyc://{B}/", "_target": f"psyc://{A}/"},
            {"_boot": sim[A].network.boot, "_counter": "²"},
        ),
    )
    still_works(sim, "c")


def test_roster_times_out_of_range_are_unknown_times() -> None:
    sim = network()
    for value in ("9" * 400, "1e400", "nan", "-5", "²"):
        inject(sim, B, roster_enter(_signon=value, _active=value, _since=value))
        zed = sim[A].linking.roster.find("zed")
        assert zed is not None and zed.signon == 0.0 and zed.last_active == 0.0
    sim.do(KEEP[id(sim)][0], "WHOIS zed")
    assert "311" in [m.command for m in sim.lines(KEEP[id(sim)][0])]


def test_malformed_message_time_is_dropped_at_the_link() -> None:
    sim = network()
    alice = KEEP[id(sim)][0]
    for stamp in ("abc", "9" * 400, "-1", "²", "99999999999999999"):
        packet = Packet(
            "_message_private",
            {"_source": f"psyc://{B}/~bob", "_target": f"psyc://{A}/~alice"},
            {"_nick": "bob", "_time": stamp},
            "hi " + stamp,
        )
        inject(sim, B, packet)
        got = [m for m in sim.lines(alice) if m.command == "PRIVMSG"]
        assert got and got[-1].params[-1] == "hi " + stamp and "time" in got[-1].tags


def test_foreign_server_cannot_advertise_the_topology_of_ours() -> None:
    sim = network()
    before = honest_state(sim)
    boot = str(int(sim[A].network.boot) + 1)
    advert = Packet(
        TOPOLOGY,
        {"_source": f"psyc://{B}/"},
        {"_boot": boot, "_sequence": "999999", "_list_servers": []},
    )
    inject(sim, F, advert)
    tick(sim)
    assert honest_state(sim) == before
    assert B in sim[A].network.reachable


def test_history_request_with_malformed_timestamps_fails_cleanly() -> None:
    sim = network()
    answers: list[Packet] = []
    history_b = sim[B].router.lookup(f"psyc://{B}/$history")
    assert history_b is not None
    sim[B].router.register(_Recorder(answers), f"psyc://{B}/$history")
    for ref in ("timestamp=²", "timestamp=" + "9" * 5000, "timestamp=" + "9" * 25):
        for selector in ("BEFORE", "BETWEEN"):
            request = Packet(
                "_request_history",
                {
                    "_source": f"psyc://{B}/$history",
                    "_target": f"psyc://{A}/$history",
                    "_tag": "t",
                },
                {
                    "_nick_place": ACHAN,
                    "_uniform_requester": f"psyc://{B}/~bob",
                    "_selector": selector,
                    "_list_references": [ref, ref],
                    "_amount": "10",
                },
            )
            inject(sim, B, request)
    assert answers and all(p.method == "_failure_history" for p in answers)
    sim[B].router.register(history_b, f"psyc://{B}/$history")
    still_works(sim, "t")


class _Recorder:
    def __init__(self, into: list[Packet]) -> None:
        self.into = into
        self.uniform = ""

    def receive(self, packet: Packet) -> None:
        self.into.append(packet)
