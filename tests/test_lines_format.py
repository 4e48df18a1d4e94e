"""`lines.message_line`, the fast path of the outgoing message line, against `line`."""

from __future__ import annotations

import itertools

from ircpsyc.ircd.lines import MAX_LINE, line, message_line, server_time

SOURCES = ["nick!user@host", "", "irc.example"]
VERBS = ["PRIVMSG", "NOTICE"]
TARGETS = ["nick", "#chan", "@#chan", "*"]
TEXTS = [
    "hello there",
    "",
    ":starts with a colon",
    "with\rcarriage\nreturns\0and a NUL",
    "ñandú 🐦 and more",
    "x" * 600,  # cut to 510 bytes outside the tags
    "é" * 300,  # cut inside a two-byte character
]
TAGS = ["", "msgid=abc;time=2026-12-08T00:00:00.000Z", "+draft/reply=x\\sy"]


def test_message_line_is_line_with_a_trailing_text() -> None:
    checked = 0
    for source, verb, target, text, tags in itertools.product(SOURCES, VERBS, TARGETS, TEXTS, TAGS):
        expected = line(source, verb, target, text, tags=tags, trailing=True)
        assert message_line(source, verb, target, text, tags) == expected
        checked += 1
    assert checked == len(SOURCES) * len(VERBS) * len(TARGETS) * len(TEXTS) * len(TAGS)


def test_a_long_message_line_is_cut_to_the_limit() -> None:
    data = message_line("n!u@h", "PRIVMSG", "nick", "é" * 300, "msgid=1")
    body = data.split(b" ", 1)[1]  # the tags are outside the limit
    assert len(body) <= MAX_LINE
    assert body.endswith(b"\r\n")
    body.decode("utf-8")  # no half a character


def test_server_time_has_milliseconds_and_utc() -> None:
    assert server_time(0) == "1970-01-01T00:00:00.000Z"
    assert server_time(1_733_616_000_007) == "2024-12-08T00:00:00.007Z"
    assert server_time(1_733_616_059_999) == "2024-12-08T00:00:59.999Z"
    assert server_time(-1) == "1969-12-31T23:59:59.999Z"
    now = server_time()
    assert len(now) == len("2024-12-08T00:00:00.000Z") and now.endswith("Z")
