"""Property tests: random input never crashes a session and keeps the server consistent.

Each example builds a small server (three registered clients in two channels, an
operator among them, and one unregistered connection), feeds it a random
sequence of lines and clock ticks, then checks the invariants of
`World.check_consistency` and that no handler failed (the dispatcher turns a
handler exception into `FAIL <cmd> INTERNAL_ERROR`, which must never happen).
"""

from __future__ import annotations

import os

from helpers import FakeClient, World, parse_output
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ircpsyc.ircd.core import COMMANDS

SETTINGS = settings(
    # FUZZ_EXAMPLES=2000 for a longer hunt; the default keeps the file well under 30 s.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)

NAMES = ["alice", "bob", "carol", "dave", "Alice", "BOB", "nobody", "irc.localhost"]
CHANNELS = ["#chan", "#other", "#CHAN", "#new", "#chan,#other", "@#chan", "+#chan", "0"]
WORDS = [
    "*",
    "+o",
    "-o",
    "+v",
    "+b",
    "-b",
    "+ntk",
    "+l",
    "-l",
    "+i",
    "+e",
    "+I",
    "+mspil",
    "b",
    "key",
    "5",
    "-1",
    "LS",
    "302",
    "REQ",
    "END",
    "LIST",
    "%tcuhnfar,1",
    "u",
    "m",
    "o",
    "+",
    "-",
    "C",
    "S",
    "L",
    "*!*@*",
    "alice,bob",
]

SAFE = st.characters(blacklist_characters="\r\n\x00 ", blacklist_categories=("Cs",))
middle = st.one_of(
    st.sampled_from(NAMES + CHANNELS + WORDS),
    st.text(alphabet=SAFE, min_size=1, max_size=12).filter(lambda s: not s.startswith(":")),
)
trailing = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=40,
)
commands = st.sampled_from([*sorted(COMMANDS), "FOO", "privmsg", "join"])
tags = st.sampled_from(
    [
        "",
        "@label=L ",
        "@+draft/react=x ",
        "@label=x;+typing=active ",
        "@time=2020-01-01T00:00:00.000Z ",
        "@+a=" + "b" * 5000 + " ",
    ]
)


@st.composite
def irc_line(draw: st.DrawFn) -> str:
    parts = [draw(tags) + draw(commands)]
    parts.extend(draw(st.lists(middle, max_size=4)))
    text = " ".join(parts)
    last = draw(st.one_of(st.none(), trailing))
    if last is not None:
        text += " :" + last
    return text


# An action: (who, line) with who an index into the sessions, or (-1, seconds) to tick.
actions = st.one_of(
    st.tuples(st.integers(0, 3), irc_line()),
    st.tuples(st.just(-1), st.sampled_from([1.0, 31.0, 121.0, 61.0])),
)
raw_actions = st.tuples(
    st.integers(0, 3), st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))
)


def build() -> tuple[World, list[FakeClient]]:
    world = World()
    alice = world.client(
        "alice", caps=["labeled-response", "batch", "echo-message", "message-tags", "server-time"]
    )
    bob = world.client("bob", caps=["multi-prefix", "extended-join", "away-notify"])
    carol = world.client("carol")
    alice.client.modes = alice.client.modes | {"o"}  # an operator without spending time on argon2
    world.channel("#chan", alice, bob, carol)
    world.channel("#other", bob, carol)
    pending = world.connect()
    pending.send("NICK dave")
    world.check_consistency()
    return world, [alice, bob, carol, pending]


def run(world: World, fakes: list[FakeClient], steps: list[tuple[int, object]]) -> None:
    for who, what in steps:
        if who < 0:
            assert isinstance(what, float)
            world.advance(what)
            world.core.tick(world.now)
        else:
            fake = fakes[who]
            if fake.closed:
                continue
            assert isinstance(what, str | bytes)
            fake.send(what)
        world.check_consistency()
    for fake in fakes:
        for line in parse_output(fake.raw):
            assert not (line.command == "FAIL" and "INTERNAL_ERROR" in line.params), line.format()


@SETTINGS
@given(st.lists(actions, min_size=1, max_size=15))
def test_random_command_lines_keep_the_server_consistent(
    steps: list[tuple[int, object]],
) -> None:
    world, fakes = build()
    run(world, fakes, steps)


@SETTINGS
@given(st.lists(raw_actions, min_size=1, max_size=8))
def test_random_bytes_never_raise(steps: list[tuple[int, object]]) -> None:
    world, fakes = build()
    run(world, fakes, steps)


@SETTINGS
@given(st.lists(st.tuples(st.just(3), irc_line()), min_size=1, max_size=10))
def test_unregistered_connection_random_lines(steps: list[tuple[int, object]]) -> None:
    world, fakes = build()
    run(world, fakes, steps)
    pending = fakes[3]
    # Whatever it sent, an unregistered connection never got into a channel.
    if not pending.session.registered:
        assert pending.session.client is None
