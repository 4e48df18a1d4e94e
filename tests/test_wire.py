"""Tests for the PSYC 1.0 wire codec (ircpsyc.psyc_backend.wire)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ircpsyc.psyc_backend.packet import Modifier, Packet, Value
from ircpsyc.psyc_backend.wire import (
    LONG_VALUE,
    MAX_NAME_LIMIT,
    PacketError,
    Parser,
    is_list_name,
    parse_list,
    parse_one,
    render,
    render_list,
)

PACKETS = Path(__file__).parent / "psyc_packets"
VALID = sorted(p for p in PACKETS.glob("*.psyc") if not p.name.startswith("err-"))
INVALID = sorted(PACKETS.glob("err-*.psyc"))

# Fixtures already in our canonical form: rendering what we parsed gives the same bytes.
CANONICAL = [
    "00-empty.psyc",
    "00-length-body-only.psyc",
    "00-length-no-data.psyc",
    "00-length-no-entity.psyc",
    "00-no-content.psyc",
    "01-length.psyc",
    "10-message-public.psyc",
]

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_all(parser: Parser, chunks: list[bytes]) -> list[Packet]:
    out: list[Packet] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def roundtrip(packet: Packet) -> Packet:
    return parse_one(render(packet))


# ------------------------------------------------------------------ fixtures


def test_fixtures_present() -> None:
    assert len(VALID) >= 28
    assert len(INVALID) >= 3


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_parses_and_roundtrips(path: Path) -> None:
    data = path.read_bytes()
    packet = parse_one(data)
    assert roundtrip(packet) == packet
    # Byte by byte gives the same packet as all at once.
    parser = Parser()
    assert feed_all(parser, [data[i : i + 1] for i in range(len(data))]) == [packet]
    assert parser.buffered == 0


@pytest.mark.parametrize("name", CANONICAL)
def test_canonical_fixture_renders_identically(name: str) -> None:
    data = (PACKETS / name).read_bytes()
    assert render(parse_one(data)) == data


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_raises(path: Path) -> None:
    data = path.read_bytes()
    with pytest.raises(PacketError):
        parse_one(data)
    # Every err-* fixture is a syntax error, not a truncation: feed raises too,
    # whole or byte by byte.
    with pytest.raises(PacketError):
        Parser().feed(data)
    parser = Parser()
    with pytest.raises(PacketError):
        for i in range(len(data)):
            parser.feed(data[i : i + 1])


def test_fixture_contents() -> None:
    p = parse_one((PACKETS / "01.psyc").read_bytes())
    assert p.method == "_message_foo_bar"
    assert p.routing == {
        "_source": "psyc://foo/~bar",
        "_target": "psyc://bar/~baz",
        "_tag": "sch1828hu3r2cm",
    }
    assert p.vars == {"_foo": "bar baz", "_abc_def": "foo bar\nbaz", "_foo_bar": "yay"}
    assert p.body == "ohai there!\n\\o/"
    assert parse_one((PACKETS / "01-length.psyc").read_bytes()) == p

    utf8 = parse_one((PACKETS / "01-utf8.psyc").read_bytes())
    assert utf8.vars["_abc_def"] == "fóö bär\nbáz"

    assert parse_one((PACKETS / "00-empty.psyc").read_bytes()) == Packet("")

    reset = parse_one((PACKETS / "00-state-reset.psyc").read_bytes())
    assert reset.state_op == "="
    assert reset.method == ""
    assert reset.modifiers == [Modifier("=", "_foo", "bar"), Modifier("=", "_baz", "qux")]
    assert parse_one((PACKETS / "00-state-resync.psyc").read_bytes()).state_op == "?"

    circuit = parse_one((PACKETS / "04-circuit.psyc").read_bytes())
    assert circuit.method == "_request_features"
    # Routing values stay strings, even list-typed ones.
    assert circuit.routing == {"_list_understand_modules": "| _state| _fragments| _context"}

    private = parse_one((PACKETS / "05-message-private.psyc").read_bytes())
    assert private.source == "psyc://test.psyc.eu/~foo"
    assert private.get("_foo") == "bar"
    assert private.body == "OHAI"

    leave = parse_one((PACKETS / "08-context-leave.psyc").read_bytes())
    assert leave.vars["_bin"] == '"1\n3\n"'
    assert leave.method == "_notice_context_leave"

    enter = parse_one((PACKETS / "08-context-enter.psyc").read_bytes())
    assert enter.target == "psyc://p5B084547.dip.t-dialin.net/@test"


def test_fixture_lists() -> None:
    p = parse_one((PACKETS / "02-list.psyc").read_bytes())
    lists = [(m.name, m.value) for m in p.modifiers]
    assert ("_list_members", ["psyc://example.net/~alice", "psyc://example.org/~bob"]) in lists
    assert ("_list_topic", ["democracy", "now"]) in lists
    assert ("_list_c", ["foo", "bar", "foobar", "baz", "234", "1234"]) in lists
    assert ("_list_foo", ["foo", "blue", "bar"]) in lists
    assert ("_list_bar", ["foo", "blue", "bar", "\nfoo|bar"]) in lists
    # An overrunning last element keeps what is there (libpsyc does the same).
    assert ("_list_xxx", ["", "", "", "abc"]) in lists

    q = parse_one((PACKETS / "11-list-length.psyc").read_bytes())
    assert q.vars == {"_list_nicks": ["alice", "b|ob", ""]}
    assert q.body == "hi\n"


def test_fixture_dicts_kept_raw() -> None:
    p = parse_one((PACKETS / "03-dict.psyc").read_bytes())
    assert p.method == "_test_dict"
    values = {m.name: m.value for m in p.modifiers}
    assert values["_dict_owners"] == "{psyc://example.net/~alice}{psyc://example.org/~bob}"
    assert all(isinstance(v, str) for v in values.values())


def test_routing_operators_read_as_set() -> None:
    p = parse_one((PACKETS / "12-routing-opers.psyc").read_bytes())
    assert p.routing == {
        "_source": "psyc://a/~b",
        "_target": "psyc://c/~d",
        "_tag": "x",
        "_context": "psyc://c/@e",
    }


# ------------------------------------------------------------ render shapes


def test_render_typical_packet() -> None:
    p = Packet(
        "_message_public",
        routing={"_context": "psyc://h/@p", "_source_relay": "psyc://h/~a"},
        vars={"_nick": "a"},
        body="hi",
    )
    content = b":_nick\ta\n_message_public\nhi\n"
    expected = (
        b":_context\tpsyc://h/@p\n:_source_relay\tpsyc://h/~a\n"
        + b"%d\n" % len(content)
        + content
        + b"|\n"
    )
    assert render(p) == expected
    assert parse_one(expected) == p


def test_render_empty_and_routing_only() -> None:
    assert render(Packet("")) == b"|\n"
    assert render(Packet("", routing={"_source": "x"})) == b":_source\tx\n|\n"
    assert parse_one(b":_source\tx\n0\n|\n") == Packet("", routing={"_source": "x"})
    assert parse_one(b":_source\tx\n\n|\n") == Packet("", routing={"_source": "x"})


def test_render_state_ops() -> None:
    assert render(Packet("", state_op="?")) == b"2\n?\n|\n"
    p = Packet("", modifiers=[Modifier("=", "_a", "b")], state_op="=")
    assert render(p) == b"8\n=\n=_a\tb\n|\n"
    assert roundtrip(p) == p


def test_render_binary_values() -> None:
    p = Packet("_m", vars={"_text": "a\nb"})
    assert render(p) == b"16\n:_text 3\ta\nb\n_m\n|\n"
    long = "x" * (LONG_VALUE + 1)
    data = render(Packet("_m", vars={"_long": long}))
    assert b":_long %d\t" % len(long) in data
    short = "x" * LONG_VALUE
    assert b":_short\t" in render(Packet("_m", vars={"_short": short}))
    # Byte lengths, not character lengths.
    assert b":_u 5\t\xc3\xa4\n\xc3\xb6" in render(Packet("_m", vars={"_u": "ä\nö"}))


def test_render_lists() -> None:
    assert render_list([]) == ""
    assert render_list([""]) == "|"
    assert render_list(["a", "b c", "x|y", "1\n2", ""]) == "| a| b c|3 x|y|3 1\n2|"
    assert render_list(["ä|"]) == "|3 ä|"
    p = Packet("_m", vars={"_list_members": ["psyc://a/~b", "psyc://c/~d"]})
    assert b":_list_members\t| psyc://a/~b| psyc://c/~d\n" in render(p)
    assert roundtrip(p) == p


def test_render_mistyped_values_follow_accessors() -> None:
    # A string under a list name travels as one element, a list under another
    # name as the words `Packet.get` would give: what the receiver reads through
    # get()/get_list() is what the sender meant.
    p = Packet("_m", vars={"_list_x": "solo", "_nick": ["a", "b"]})
    q = roundtrip(p)
    assert q.vars == {"_list_x": ["solo"], "_nick": "a b"}
    assert q.get_list("_list_x") == p.get_list("_list_x")
    assert q.get("_nick") == p.get("_nick")


@pytest.mark.parametrize(
    "packet",
    [
        Packet("_m", routing={"_source": "a\nb"}),
        Packet("_m", routing={"source": "a"}),
        Packet("_m", routing={"_sou rce": "a"}),
        Packet("_m", routing={"": "a"}),
        Packet("_m", vars={"_a b": "x"}),
        Packet("_m", vars={"": "x"}),
        Packet("_bad method"),
        Packet("_m\n"),
        Packet("", body="orphan body"),
        Packet("_m", state_op=":"),
        Packet("_m", modifiers=[Modifier("*", "_a", "b")]),
        Packet("_m", modifiers=[Modifier("==", "_a", "b")]),
        Packet("_m", body="\ud800"),
        Packet("_m", routing={"_source": "\ud800"}),
    ],
)
def test_render_refuses(packet: Packet) -> None:
    with pytest.raises(PacketError) as info:
        render(packet)
    assert info.value.reason


# --------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "packet",
    [
        Packet(""),
        Packet("", routing={"_source": "psyc://a/~b", "_target": "psyc://c/~d"}),
        Packet("_message_private", body="OHAI"),
        Packet("_notice_place_enter", vars={"_nick": "bob"}),
        Packet("_m", vars={"_x": ""}),
        Packet("_m", body="\n|\n"),
        Packet("_m", body="|"),
        Packet("_m", body="\n"),
        Packet("_m", body="\n\n|\n|\n\n"),
        Packet("_m", body="line1\nline2\n"),
        Packet("_m", body="ünïcödé ☃ 𝄞"),
        Packet("_m", body="\udcff\udc80 raw bytes"),
        Packet("_m", vars={"_v": "|\n|\n"}),
        Packet("_m", vars={"_v": "\t:_x\tinjected\n"}),
        Packet("_m", routing={"_tag": "\t|:="}),
        Packet(
            "_m",
            modifiers=[
                Modifier("=", "_a", "1"),
                Modifier("+", "_list_b", ["x", "y|z"]),
                Modifier("-", "_list_b", ["x"]),
                Modifier("?", "_c", ""),
                Modifier("@", "_d", "multi\nline"),
                Modifier("!", "_e", "bang"),
            ],
        ),
        Packet("", vars={"_only": "vars"}),
        Packet("", state_op="="),
        Packet("", state_op="?", routing={"_context": "psyc://h/@p"}),
        Packet("_m", state_op="=", modifiers=[Modifier("=", "_topic", "new\ntopic")]),
        Packet("_m", vars={"_list_e": []}),
        Packet("_m", vars={"_list_e": [""]}),
        Packet("_m", vars={"_list_e": ["", "", ""]}),
        Packet("_m", vars={"_list": ["12 ", " lead", "=x", "|", "\n", "3 abc", "ä"]}),
        Packet("_m", vars={"_listx": "| not a list"}),
        Packet("_", body="x"),
        Packet("_m", vars={"_big": "y" * 5000}, body="z" * 5000),
    ],
)
def test_roundtrip_shapes(packet: Packet) -> None:
    assert roundtrip(packet) == packet


def test_body_terminator_inside_framed_body() -> None:
    # With a length the body is read by count, so a "|" line inside it is data.
    p = Packet("_message_public", body="before\n|\nafter")
    data = render(p) + render(Packet("_ping"))
    assert Parser().feed(data) == [p, Packet("_ping")]


def test_unframed_body() -> None:
    assert parse_one(b"\n_m\nabc\n|\n").body == "abc"
    assert parse_one(b"\n_m\n|\n").body == ""
    assert parse_one(b"\n_m\n\n|\n").body == ""
    assert parse_one(b"\n_m\n\n\n|\n").body == "\n"
    # Without a length the first LF "|" LF ends the body.
    got = Parser().feed(b"\n_m\na\n|\n\n_n\nb\n|\n")
    assert [p.body for p in got] == ["a", "b"]


# ------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "data",
    [
        b"@_source\tx\n|\n",
        b"!_source\tx\n|\n",
        b":_source 1\tx\n|\n",
        b":source\tx\n|\n",
        b":\tx\n|\n",
        b":_source x\n|\n",
        b"x\n|\n",
        b"|x",
        b"12a\n",
        b"\n:\n_m\n|\n",
        b"\n+\n_m\n|\n",
        b"\n_m x\n|\n",
        b"\n:_a 2\tabc\n_m\n|\n",
        b"\n:_a \tabc\n_m\n|\n",
        b"\n:_a 2 ab\n_m\n|\n",
        b"\n:_list_a\tfoo|bar\n_m\n|\n",
        b"\n:_list_a\t|=\n_m\n|\n",
        b"\n:_list_a\t|=_t?x\n_m\n|\n",
        b"\n:_list_a\t|x\n_m\n|\n",
        b"\n:_list_a\t|2|\n_m\n|\n",
        b"\n:_list_a\t|2 ab#\n_m\n|\n",
        b"2\n_m\n|\n",
        b"4\n_m\nx\n|\n",
        b"6\n_m\nx\n|\n|\n",
        b"\n_m\n|\n\n",
        b"\n_m\n|\n|x",
    ],
)
def test_parse_errors(data: bytes) -> None:
    with pytest.raises(PacketError):
        parse_one(data)


def test_parse_lists_directly() -> None:
    assert parse_list(b"") == []
    assert parse_list(b"_type") == []
    assert parse_list(b"|") == [""]
    assert parse_list(b"_uniform| a| b") == ["a", "b"]
    assert parse_list(b"|=_color:4 blue|=_nick bar|=_x|=_y:|0 ") == ["blue", "bar", "", "", ""]
    assert parse_list(b"|3 a|b| c") == ["a|b", "c"]
    assert parse_list(b"|5 abc") == ["abc"]
    assert is_list_name("_list") and is_list_name("_list_members")
    assert not is_list_name("_listing") and not is_list_name("_lis")


def test_parse_one_refuses_zero_or_many() -> None:
    with pytest.raises(PacketError, match="incomplete"):
        parse_one(b"")
    with pytest.raises(PacketError, match="incomplete"):
        parse_one(b":_source\tx\n")
    with pytest.raises(PacketError, match="expected one"):
        parse_one(b"|\n|\n")
    with pytest.raises(PacketError, match="trailing"):
        parse_one(b"|\n:_a")


def test_pings_and_partial_feeds() -> None:
    parser = Parser()
    assert parser.feed(b"|\n|") == [Packet("")]
    assert parser.buffered == 1
    assert parser.feed(b"\n") == [Packet("")]
    assert parser.feed(b"") == []
    assert parser.buffered == 0


def test_error_keeps_earlier_packets_and_parser_stays_failed() -> None:
    parser = Parser()
    good = render(Packet("_message_private", body="hi"))
    with pytest.raises(PacketError) as info:
        parser.feed(good + b"garbage\n")
    assert info.value.packets == [Packet("_message_private", body="hi")]
    with pytest.raises(PacketError, match="failed earlier"):
        parser.feed(good)


def test_never_scans_framed_body() -> None:
    # The body arrives in pieces; the parser waits for the counted bytes and does
    # not take the "|" line inside the body for the end.
    p = Packet("_m", body="a\n|\n" * 1000)
    data = render(p)
    parser = Parser()
    got: list[Packet] = []
    for i in range(0, len(data), 7):
        got.extend(parser.feed(data[i : i + 7]))
    assert got == [p]


# -------------------------------------------------------------------- limits


def test_limit_endless_routing_value() -> None:
    parser = Parser(max_packet=1 << 20)
    parser.feed(b":_source\t")
    chunk = b"x" * 65536
    fed = 0
    with pytest.raises(PacketError, match="larger"):
        for _ in range(10 * 16):  # 10 MB if nothing stops it
            parser.feed(chunk)
            fed += len(chunk)
    assert fed <= (1 << 20)


def test_limit_endless_unframed_body() -> None:
    parser = Parser(max_packet=100_000)
    parser.feed(b"\n_message\n")
    with pytest.raises(PacketError, match="larger"):
        for _ in range(1000):
            parser.feed(b"y" * 1000)


def test_limit_endless_entity_value() -> None:
    parser = Parser(max_packet=100_000)
    parser.feed(b"\n:_a\t")
    with pytest.raises(PacketError, match="larger"):
        for _ in range(1000):
            parser.feed(b"y" * 1000)


def test_limit_whole_stream_in_one_feed() -> None:
    with pytest.raises(PacketError, match="larger"):
        Parser(max_packet=1 << 20).feed(b":_source\t" + b"x" * (10 << 20))


def test_limit_name_length() -> None:
    with pytest.raises(PacketError, match="longer"):
        Parser(max_name=64).feed(b":_" + b"a" * 100)
    with pytest.raises(PacketError, match="longer"):
        Parser(max_name=64).feed(b"\n:_" + b"a" * 100)
    with pytest.raises(PacketError, match="longer"):
        Parser(max_name=64).feed(b"\n_" + b"a" * 100)
    assert parse_one(b"\n:_" + b"a" * 63 + b"\tx\n|\n").vars == {"_" + "a" * 63: "x"}
    # A huge name in one feed is refused without scanning all of it.
    for prefix in (b":_", b"\n:_", b"\n_"):
        with pytest.raises(PacketError, match="longer"):
            Parser().feed(prefix + b"a" * (4 << 20) + b"\t\n")
    with pytest.raises(ValueError):
        Parser(max_name=MAX_NAME_LIMIT + 1)
    assert parse_one(b"\n:_" + b"a" * 255 + b"\tx\n|\n", max_name=MAX_NAME_LIMIT).vars


def test_limit_announced_lengths() -> None:
    with pytest.raises(PacketError, match="larger"):
        Parser(max_packet=1000).feed(b"5000\n")
    with pytest.raises(PacketError):
        Parser().feed(b"99999999999999\n")
    with pytest.raises(PacketError, match="larger"):
        Parser(max_packet=1000).feed(b"\n:_a 5000\t")
    with pytest.raises(PacketError):
        Parser().feed(b"\n:_a 99999999999999\t")


def test_limit_line_counts() -> None:
    routing = b"".join(b":_v%d\tx\n" % i for i in range(11))
    with pytest.raises(PacketError, match="routing"):
        Parser(max_routing_lines=10).feed(routing)
    assert len(parse_one(routing[: -len(b":_v10\tx\n")] + b"|\n").routing) == 10
    mods = b"".join(b"=_v\t%d\n" % i for i in range(11))
    with pytest.raises(PacketError, match="variables"):
        Parser(max_modifiers=10).feed(b"\n" + mods)
    with pytest.raises(PacketError, match="variables"):
        Parser(max_modifiers=10).feed(b"%d\n" % len(mods) + mods + b"|\n")


# ---------------------------------------------------------------- hypothesis

keywords = st.from_regex(r"_[a-z0-9_]{0,12}", fullmatch=True)
list_names = st.from_regex(r"_list(_[a-z]{1,6})?", fullmatch=True)
names = st.one_of(keywords, list_names)
raw_text = st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="|\n:=_ \t0123456789abc", max_size=40),
    raw_text,
    st.text(min_size=LONG_VALUE - 2, max_size=LONG_VALUE + 10),
)
line_texts = texts.map(lambda s: s.replace("\n", " "))


def values_for(name: str) -> st.SearchStrategy[Value]:
    if is_list_name(name):
        return st.lists(texts, max_size=5)
    return texts


@st.composite
def entity(draw: st.DrawFn) -> tuple[str, Value]:
    name = draw(names)
    return name, draw(values_for(name))


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    routing = draw(st.dictionaries(keywords, line_texts, max_size=4))
    entity_vars = dict(draw(st.lists(entity(), max_size=4)))
    mods = [
        Modifier(draw(st.sampled_from("=+-?@!")), name, value)
        for name, value in draw(st.lists(entity(), max_size=3))
    ]
    method = draw(st.one_of(st.just(""), keywords))
    body = draw(texts) if method else ""
    state_op = draw(st.sampled_from(["", "=", "?"]))
    return Packet(method, routing, entity_vars, body, mods, state_op)


@FAST
@given(packets())
def test_hyp_roundtrip(packet: Packet) -> None:
    assert roundtrip(packet) == packet


@FAST
@given(st.lists(texts, max_size=8))
def test_hyp_list_roundtrip(items: list[str]) -> None:
    assert parse_list(render_list(items).encode("utf-8", "surrogateescape")) == items


@settings(FAST, max_examples=60)
@given(st.lists(packets(), min_size=1, max_size=5), st.data())
def test_hyp_stream_split_anywhere(items: list[Packet], data: st.DataObject) -> None:
    stream = b"".join(render(p) for p in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    parser = Parser()
    assert feed_all(parser, chunks) == items
    assert parser.buffered == 0


# Bytes that look like PSYC, so fuzzing gets past the first line.
psycish = st.lists(
    st.sampled_from(
        [
            b":_a\t",
            b"=_list_x\t",
            b":_b 3\t",
            b"\n",
            b"|",
            b"|\n",
            b"\n|\n",
            b"12",
            b"0",
            b" ",
            b"\t",
            b"_m",
            b"=",
            b"?",
            b"@",
            b"x",
            b"\xff",
            b"| a",
            b"|3 ",
        ]
    ),
    max_size=30,
).map(b"".join)


def outcome(chunks: list[bytes]) -> tuple[list[Packet], bool]:
    parser = Parser(max_packet=300, max_name=8, max_routing_lines=4, max_modifiers=4)
    got: list[Packet] = []
    try:
        for chunk in chunks:
            got.extend(parser.feed(chunk))
    except PacketError as exc:
        return got + exc.packets, True
    return got, False


@FAST
@given(st.one_of(st.binary(max_size=200), psycish), st.data())
def test_hyp_garbage_only_packet_error(blob: bytes, data: st.DataObject) -> None:
    whole = outcome([blob])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=6)))
    chunks = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]
    # Any split gives the same packets and the same verdict as one feed.
    assert outcome(chunks) == whole
    try:
        parse_one(blob)
    except PacketError:
        pass


@FAST
@given(packets(), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_hyp_mutated_packets(packet: Packet, where: int, junk: bytes) -> None:
    data = render(packet)
    at = where % (len(data) + 1)
    for mutated in (data[:at] + junk + data[at:], data[:at] + data[at + 1 :]):
        try:
            Parser().feed(mutated)
        except PacketError:
            pass


@FAST
@given(packets(), st.integers(2, 400))
def test_hyp_size_limit_exact(packet: Packet, limit: int) -> None:
    data = render(packet)
    parser = Parser(max_packet=limit)
    if len(data) > limit:
        with pytest.raises(PacketError, match="larger"):
            parser.feed(data)
    else:
        assert parser.feed(data) == [packet]
