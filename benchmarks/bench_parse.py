"""Micro-benchmark of the incoming line parser: irctokens against `lines.parse`.

Run: `.venv/bin/python -m benchmarks.bench_parse` (a few seconds).

`Session.handle_line` parses every line a client sends.  irctokens' `tokenise`
first scans every character through a set for NUL, CR and LF and unescapes tag
values one character at a time; `ircpsyc.ircd.lines.parse` gives the same
`Line` (tests/test_lines_parse.py checks that against irctokens) and hands only
lines with NUL, CR or LF to irctokens.  Figures: best µs per line of 5 rounds.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from irctokens.line import Line, tokenise

from ircpsyc.ircd.lines import parse

LINES = {
    "PRIVMSG, no tags": "PRIVMSG bp123 :private benchmark message, some text to make it typical",
    "PRIVMSG, label and reply tags": (
        "@label=Zk3x;+draft/reply=0a1b2c3d4e5f PRIVMSG #chan :a channel line of a typical size"
    ),
    "TAGMSG, typing": "@+typing=active TAGMSG #chan",
    "tag with escapes": "@+example=a\\sb\\:c PRIVMSG nick :text",
    "PING": "PING :irc.example.org",
}
ROUNDS = 5
NUMBER = 100_000


def best(parser: Callable[[str], Line], text: str) -> float:
    times = timeit.repeat(lambda: parser(text), number=NUMBER, repeat=ROUNDS)
    return min(times) / NUMBER * 1e6


def main() -> None:
    print(f"µs per line (best of {ROUNDS} rounds of {NUMBER})")
    print(f"  {'line':34} {'irctokens':>10} {'parse':>8}")
    for label, text in LINES.items():
        print(f"  {label:34} {best(tokenise, text):10.2f} {best(parse, text):8.2f}")


if __name__ == "__main__":
    main()
