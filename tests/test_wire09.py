"""Tests for the PSYC 0.9 wire codec (ircpsyc.psyc_backend.wire09), psyced's syntax."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ircpsyc.psyc_backend.packet import Modifier, Packet, Value
from ircpsyc.psyc_backend.wire import PacketError, is_list_name
from ircpsyc.psyc_backend.wire09 import (
    OPENING,
    SYNTAX_09,
    SYNTAX_10,
    Parser09,
    detect_syntax,
    parse_one09,
    render09,
)

CAPTURED = Path(__file__).parent / "psyc09_packets"
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_all(parser: Parser09, chunks: list[bytes]) -> list[Packet]:
    out: list[Packet] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


# ------------------------------------------------------------ captured from psyced


def test_psyced_greeting_and_cast() -> None:
    data = (CAPTURED / "psyced-outbound.psyc09").read_bytes()
    got = Parser09().feed(data)
    assert [p.method for p in got] == [
        "",
        "_notice_circuit_established",
        "_status_circuit",
        "_message_public",
    ]
    hello = got[1]
    assert hello.source == "psyc://127.0.0.1:14404/"
    assert hello.body.startswith("Hello [_target_peer].\nCircuit to")
    cast = got[3]
    assert cast.routing == {
        "_source_relay": "psyc://127.0.0.2/~alice",
        "_context": "psyc://127.0.0.1:14404/@lounge",
    }
    assert cast.vars == {"_nick": "alice", "_nick_place": "Lounge"}
    assert cast.body == "hello there"
    # Byte by byte gives the same as all at once; each renders back to its own bytes.
    parser = Parser09()
    assert feed_all(parser, [data[i : i + 1] for i in range(len(data))]) == got
    assert parser.buffered == 0
    assert b"".join(render09(p) for p in got) == data


def test_psyced_echo_place_enter_with_tag_reply() -> None:
    data = (CAPTURED / "psyced-dialback.psyc09").read_bytes()
    echo = Parser09().feed(data)[-1]
    assert echo.method == "_echo_place_enter"
    assert echo.source == "psyc://127.0.0.1:14404/@lounge" and not echo.context
    assert echo.routing["_tag_relay"] == echo.routing["_tag"]  # `_tag_reply` on the wire
    assert echo.get_list("_list_members") == ["psyc://127.0.0.2/~alice"]
    assert echo.get_list("_list_members_nicks") == ["alice"]
    assert b"".join(render09(p) for p in Parser09().feed(data)) == data


# ------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("data", "syntax"),
    [(b".\n", SYNTAX_09), (b".\r\n", SYNTAX_09), (b"|\n:_source", SYNTAX_10), (b".", None)],
)
def test_detect_syntax(data: bytes, syntax: str | None) -> None:
    assert detect_syntax(data) == syntax


@pytest.mark.parametrize("data", [b"NICK x\r\n", b":_source\tpsyc://x/\n", b"..\n", b"G"])
def test_detect_syntax_refuses_other_first_lines(data: bytes) -> None:
    with pytest.raises(PacketError):
        detect_syntax(data)


# ---------------------------------------------------------------------- render


def test_render_shape() -> None:
    packet = Packet(
        "_message_public",
        {"_source": "psyc://h/~a", "_target": "psyc://p/@x", "_tag_relay": "7"},
        {"_nick": "a", "_list_members": ["x", "y\nz"], "_text": "two\nlines"},
        "hi\n.\nthere",
    )
    assert render09(packet) == (
        b":_source\tpsyc://h/~a\n:_target\tpsyc://p/@x\n:_tag_reply\t7\n"
        b"\n"
        b":_nick\ta\n:_list_members\tx\n:\ty\n\tz\n:_text\ttwo\n\tlines\n"
        b"_message_public\nhi\n .\nthere\n.\n"
    )
    back = parse_one09(render09(packet))
    assert back.body == "hi\n .\nthere"  # a lone "." line cannot be sent
    assert back.routing["_tag_relay"] == "7"


def test_render_ping_and_routing_only() -> None:
    assert render09(Packet("")) == OPENING
    assert render09(Packet("", {"_source": "psyc://h/"})) == b":_source\tpsyc://h/\n\n.\n"


@pytest.mark.parametrize(
    "packet",
    [
        Packet("bad method"),
        Packet("_m", {"source": "x"}),
        Packet("_m", {"_source": "a\nb"}),
        Packet("_m", vars={"bad name": "x"}),
        Packet("", body="body without method"),
        Packet("_m", modifiers=[Modifier("%", "_x", "1")]),
    ],
)
def test_render_refuses(packet: Packet) -> None:
    with pytest.raises(PacketError):
        render09(packet)


# ----------------------------------------------------------------------- parse


def test_routing_only_packet_without_empty_line_and_routing_lists() -> None:
    got = Parser09().feed(
        b".\n:_source\tpsyc://h/\n.\n:_understand_modules\t_context\n:\t_encrypt\n\n.\n"
    )
    assert got[1].routing == {"_source": "psyc://h/"}
    assert got[2].routing == {"_understand_modules": "_context _encrypt"}


def test_persistent_modifiers_and_continuations() -> None:
    got = parse_one09(b"\n=_list_x\ta\n+\tb\n\tc\n=_t\tone\n two\n_m\n.\n")
    assert got.modifiers == [
        Modifier("=", "_list_x", ["a", "b\nc"]),
        Modifier("=", "_t", "one\ntwo"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b":_source\tx\n_method\n.\n",  # no empty line after routing
        b"\n:_a\tx\n\n_m\n.\n",  # empty line among entity variables
        b"\n\tcontinued\n.\n",  # continuation with nothing before it
        b"\n:\telement\n.\n",  # list element with nothing before it
        b":_a\tx\n\tmore\n\n.\n",  # routing values are one line
        b"\n:_a\n.\n",  # no TAB
        b"\n:_a b\tx\n.\n",  # bad name
        b"\nnot a method\n.\n",
        b":source\tx\n\n.\n",  # routing names start with _
    ],
)
def test_parse_errors(data: bytes) -> None:
    with pytest.raises(PacketError):
        Parser09().feed(data)


def test_limits() -> None:
    parser = Parser09(max_packet=100)
    with pytest.raises(PacketError, match="larger"):
        parser.feed(b"\n:_a\t" + b"x" * 200)  # an endless line fails before its LF
    with pytest.raises(PacketError, match="failed earlier"):
        parser.feed(b".\n")
    with pytest.raises(PacketError, match="larger"):
        Parser09(max_packet=100).feed(b"\n_m\n" + b"line\n" * 30)
    with pytest.raises(PacketError, match="more than"):
        Parser09(max_routing_lines=3).feed(b":_a\t1\n" * 4)
    with pytest.raises(PacketError, match="more than"):
        Parser09(max_modifiers=3).feed(b"\n:_list\t1\n" + b":\t1\n" * 3)
    with pytest.raises(PacketError, match="longer"):
        Parser09(max_name=8).feed(b"\n:_" + b"a" * 20 + b"\tx\n")
    # Complete packets before the error are kept for the caller.
    try:
        Parser09().feed(b".\n\n_m\n.\n\n!!\n")
    except PacketError as exc:
        assert [p.method for p in exc.packets] == ["", "_m"]


# ------------------------------------------------------------------ hypothesis

keywords = st.from_regex(r"_[a-z0-9_]{0,12}", fullmatch=True)
list_names = st.from_regex(r"_list(_[a-z]{1,6})?", fullmatch=True)
names = st.one_of(keywords, list_names)
raw_text = st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))
texts = st.one_of(
    st.text(max_size=40), st.text(alphabet=".|\n:=_ \t0123abc", max_size=30), raw_text
)
line_texts = texts.map(lambda s: s.replace("\n", " "))
bodies = texts.filter(lambda s: "." not in s.split("\n"))


def values_for(name: str) -> st.SearchStrategy[Value]:
    if is_list_name(name):
        # [""] reads back as [] (see the module docstring).
        return st.lists(texts, max_size=5).filter(lambda v: v != [""])
    return texts


@st.composite
def entity(draw: st.DrawFn) -> tuple[str, Value]:
    name = draw(names)
    return name, draw(values_for(name))


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    routing = draw(
        st.dictionaries(keywords.filter(lambda k: k != "_tag_reply"), line_texts, max_size=4)
    )
    entity_vars = dict(draw(st.lists(entity(), max_size=4)))
    mods = [
        Modifier(draw(st.sampled_from("=+-?@!")), name, value)
        for name, value in draw(st.lists(entity(), max_size=3))
    ]
    method = draw(st.one_of(st.just(""), keywords))
    body = draw(bodies) if method else ""
    return Packet(method, routing, entity_vars, body, mods)


@FAST
@given(packets())
def test_hyp_roundtrip(packet: Packet) -> None:
    assert parse_one09(render09(packet)) == packet


@settings(FAST, max_examples=60)
@given(st.lists(packets(), min_size=1, max_size=5), st.data())
def test_hyp_stream_split_anywhere(items: list[Packet], data: st.DataObject) -> None:
    stream = OPENING + b"".join(render09(p) for p in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    parser = Parser09()
    assert feed_all(parser, chunks) == [Packet(""), *items]
    assert parser.buffered == 0


psycish = st.lists(
    st.sampled_from(
        [
            b".\n",
            b"\n",
            b":_a\tb\n",
            b":\tx\n",
            b"\tmore\n",
            b"_m\n",
            b"=_x\t",
            b"\r",
            b"\xff",
            b"+_list_a\tc\n",
            b"-_x\t\n",
            b"=_s\tv\n",
        ]
    ),
    max_size=30,
).map(b"".join)


@FAST
@given(st.one_of(st.binary(max_size=200), psycish), st.data(), st.booleans())
def test_hyp_garbage_only_packet_error(blob: bytes, data: st.DataObject, state: bool) -> None:
    parser = Parser09(max_packet=120, circuit_state=state)
    cut = data.draw(st.integers(0, len(blob)))
    try:
        for chunk in (blob[:cut], blob[cut:]):
            for packet in parser.feed(chunk):
                render09(packet)  # what parses also renders
    except PacketError:
        pass
    assert parser.buffered <= 120 + 1


@FAST
@given(packets(), st.integers(0, 400))
def test_hyp_size_limit(packet: Packet, limit: int) -> None:
    data = render09(packet)
    parser = Parser09(max_packet=max(limit, 1))
    if len(data) <= max(limit, 1):
        assert parser.feed(data) == [packet] or packet == Packet("")
    else:
        with pytest.raises(PacketError):
            parser.feed(data)


def test_circuit_state_persists_assignments_as_psyced_does() -> None:
    """psyced's `pvars` (parse.i): `=` keeps a variable for the rest of the circuit
    (routing or entity), `+` adds to a kept list, `-` takes from it or unsets it, and
    a packet's own `:` wins for that packet only."""
    parser = Parser09(circuit_state=True)
    packets = parser.feed(
        b".\n"
        b"=_source\tpsyc://h/~bob\n=_target\tpsyc://us/~alice\n\n"
        b"=_nick\tbob\n=_list_x\ta\n_message_private\none\n.\n"
        b"\n_message_private\ntwo\n.\n"
        b":_source\tpsyc://h/~carol\n\n:_nick\tcarol\n+_list_x\tb\n_message_private\nthree\n.\n"
        b"=_target\t\n\n-_nick\t\n-_list_x\ta\n_notice_x\n.\n"
    )
    one, two, three, four = (p for p in packets if p.method)
    for packet in (one, two):
        assert packet.routing == {"_source": "psyc://h/~bob", "_target": "psyc://us/~alice"}
        assert packet.vars == {"_nick": "bob", "_list_x": ["a"]} and not packet.modifiers
    assert two.body == "two"
    assert three.routing["_source"] == "psyc://h/~carol" and three.get("_nick") == "carol"
    assert three.vars["_list_x"] == ["a", "b"]
    assert four.routing == {"_source": "psyc://h/~bob"}  # `=_target` with no value unsets
    assert four.vars == {"_list_x": ["b"]}
    assert parser.state_vars == {"_list_x": ["b"]}


def test_circuit_state_is_bounded() -> None:
    parser = Parser09(circuit_state=True, max_modifiers=8)
    data = b"".join(b"\n=_v%d\tx\n_m\n.\n" % i for i in range(9))
    with pytest.raises(PacketError, match="kept for the circuit"):
        parser.feed(data)
    parser = Parser09(circuit_state=True, max_packet=100)  # and in bytes: one packet's
    data = b"".join(b"\n=_v%d\t%s\n_m\n.\n" % (i, b"x" * 60) for i in range(3))
    with pytest.raises(PacketError, match="exceed 100 bytes"):
        parser.feed(data)
