"""Formatting outgoing IRC lines and tags; parsing incoming ones (irctokens, with a
fast path for the lines without tags that most commands are)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

from irctokens.line import Line, tokenise

MAX_LINE = 512  # RFC 1459 line length, CR LF included, tags excluded

_TAG_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def escape_tag_value(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def format_tags(tags: dict[str, str]) -> str:
    return ";".join(f"{k}={escape_tag_value(v)}" if v else k for k, v in tags.items())


def server_time(ms: int | None = None) -> str:
    """IRCv3 server-time: UTC with millisecond precision."""
    if ms is None:
        ms = int(time.time() * 1000)
    second, milli = divmod(ms, 1000)
    return f"{_second_stamp(second)}{milli:03d}Z"


@lru_cache(maxsize=64)
def _second_stamp(second: int) -> str:
    """`2026-11-22T00:14:36.` for a second: strftime costs more than the rest of a
    tagged line, and the messages of one second share it."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def line(
    source: str | None, command: str, *params: str, tags: str = "", trailing: bool = False
) -> bytes:
    """One IRC line as bytes, CR LF terminated, cut to 512 bytes outside the tags.

    `trailing`: the last parameter is message text and always gets its ":", as other
    servers write it, so a client that counts the bytes of a line it will receive
    (to cut long messages) counts right."""
    # Built with f-strings rather than a list and a join: every line sent goes through here.
    if params:
        last = params[-1]
        if trailing or not last or " " in last or last[0] == ":":
            last = ":" + last
        if len(params) == 1:
            text = f"{command} {last}"
        else:
            text = f"{command} {' '.join(params[:-1])} {last}"
    else:
        text = command
    if source:
        text = f":{source} {text}"
    if "\r" in text or "\n" in text or "\0" in text:
        text = text.replace("\r", " ").replace("\n", " ").replace("\0", "")
    data = text.encode("utf-8", "replace")
    if len(data) > MAX_LINE - 2:
        data = data[: MAX_LINE - 2].decode("utf-8", "ignore").encode()
    if tags:
        return b"@" + tags.encode("utf-8", "replace") + b" " + data + b"\r\n"
    return data + b"\r\n"


def add_tag(data: bytes, tag: str) -> bytes:
    """Prepend one tag to an already formatted line (labels, batch ids)."""
    raw = tag.encode()
    if data.startswith(b"@"):
        return b"@" + raw + b";" + data[1:]
    return b"@" + raw + b" " + data


def parse(text: str) -> Line:
    """An incoming line as irctokens parses it.

    A line without tags, NUL, CR or LF (nearly every PRIVMSG) is split here: irctokens
    scans every character of every line for NUL, CR and LF through a set, which
    cost as much as the rest of the parse (benchmarks/README.md, issue 16).  The
    result is the same `Line`; an empty command raises ValueError, as there."""
    if text[:1] == "@" or "\r" in text or "\n" in text or "\0" in text:
        return tokenise(text)
    head, colon, trailing = text.partition(" :")
    params = head.split(" ")
    if "" in params:
        params = [p for p in params if p]
    source = None
    if params and params[0][:1] == ":":
        source = params.pop(0)[1:]
    if not params:
        raise ValueError("Cannot tokenise command-less line")
    command = params.pop(0).upper()
    if colon:
        params.append(trailing)
    return Line(None, source, command, params)
