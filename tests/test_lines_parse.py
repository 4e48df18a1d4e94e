"""`lines.parse`, the fast path of the incoming line parser, against irctokens."""

from __future__ import annotations

import itertools

import pytest
from irctokens.line import tokenise

from ircpsyc.ircd.lines import parse

SAMPLES = [
    "PRIVMSG nick :hello there",
    "PRIVMSG  nick   :two spaces, then  three",
    ":source!u@h PRIVMSG #chan :text with : colons :",
    "privmsg x ::starts with a colon",
    "JOIN #a,#b key",
    "PING",
    "USER u 0 * :Real Name",
    "CMD :",
    "CMD a :",
    "a  b   ",
    "x\ty z",
    ":s PING",
    "@label=1;+typing=active TAGMSG nick",
    "@a=b\\sc PRIVMSG x :y",
    "PRIVMSG a :b\rc",
    "PRIVMSG a :b\nc",
    "PRIVMSG a :b\0c",
    "NICK ñandú",
]
BROKEN = [":", ": x", "  :x", ":s", ":s  ", "@tags", " "]


def shape(text: str) -> object:
    try:
        msg = parse(text)
    except (ValueError, IndexError):
        return "error"
    return (msg.tags, msg.source, msg.command, msg.params)


def reference(text: str) -> object:
    try:
        msg = tokenise(text)
    except (ValueError, IndexError):
        return "error"
    return (msg.tags, msg.source, msg.command, msg.params)


@pytest.mark.parametrize("text", SAMPLES + BROKEN)
def test_parse_is_irctokens(text: str) -> None:
    assert shape(text) == reference(text)


def test_parse_is_irctokens_for_every_short_line() -> None:
    # Every line of up to five characters from the ones that matter to the parser.
    alphabet = " :@a\t\r"
    checked = 0
    for n in range(1, 6):
        for chars in itertools.product(alphabet, repeat=n):
            text = "".join(chars)
            assert shape(text) == reference(text), repr(text)
            checked += 1
    assert checked > 9000


def test_tags_parse_as_irctokens_does_for_every_short_line() -> None:
    # Tags, their escapes (known, unknown, a lone backslash at the end) and
    # empty keys and values, in every combination of up to six characters.
    alphabet = "@=;\\s :"
    checked = 0
    for n in range(1, 7):
        for chars in itertools.product(alphabet, repeat=n):
            text = "@" + "".join(chars) + " CMD p"
            assert shape(text) == reference(text), repr(text)
            checked += 1
    assert checked > 100_000


def test_tag_values_are_unescaped() -> None:
    msg = parse("@label=a\\sb;+draft/reply=x\\:y\\s\\\\z;k;e= PRIVMSG nick :hi")
    assert msg.tags == {"label": "a b", "+draft/reply": "x;y \\z", "k": "", "e": ""}
    assert (msg.command, msg.params) == ("PRIVMSG", ["nick", "hi"])


def test_a_line_without_a_command_is_refused() -> None:
    with pytest.raises(ValueError):
        parse(":only.a.source")
