"""Formatting outgoing IRC lines and tags; parsing incoming ones (the same `Line` as
irctokens, which is kept for the rare lines holding NUL, CR or LF)."""

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
    return _second_stamp(second) + _MILLIS[milli]


# `000Z` to `999Z`: a list index costs a fraction of a `:03d` format (every tagged line).
_MILLIS = [f"{milli:03d}Z" for milli in range(1000)]


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
        elif len(params) == 2:  # a message: target and text
            text = f"{command} {params[0]} {last}"
        else:
            text = f"{command} {' '.join(params[:-1])} {last}"
    else:
        text = command
    if source:
        text = f":{source} {text}"
    return _finished(text, tags)


def _finished(text: str, tags: str) -> bytes:
    """A line's text as sent: CR, LF and NUL out, UTF-8, cut to 512 bytes with its
    CR LF (a cut never splits a character), after its tags."""
    if "\r" in text or "\n" in text or "\0" in text:
        text = text.replace("\r", " ").replace("\n", " ").replace("\0", "")
    data = text.encode("utf-8", "replace")
    if len(data) > MAX_LINE - 2:
        data = data[: MAX_LINE - 2].decode("utf-8", "ignore").encode()
    if tags:
        return b"@" + tags.encode("utf-8", "replace") + b" " + data + b"\r\n"
    return data + b"\r\n"


def message_line(source: str, verb: str, target: str, text: str, tags: str = "") -> bytes:
    """`line(source, verb, target, text, tags=tags, trailing=True)`, the same bytes:
    a PRIVMSG or NOTICE, the commonest line sent, made in one f-string (two fewer
    copies of the line, no tuple of parameters)."""
    out = f":{source} {verb} {target} :{text}" if source else f"{verb} {target} :{text}"
    return _finished(out, tags)


def add_tag(data: bytes, tag: str) -> bytes:
    """Prepend one tag to an already formatted line (labels, batch ids)."""
    raw = tag.encode()
    if data.startswith(b"@"):
        return b"@" + raw + b";" + data[1:]
    return b"@" + raw + b" " + data


def parse(text: str) -> Line:
    """An incoming line as irctokens parses it.

    A line without NUL, CR or LF (every line the session hands over) is split
    here: irctokens scans every character of every line for those through a set,
    and unescapes tag values a character at a time, which cost as much as the
    rest of the parse (benchmarks/README.md, issue 16).  The result is the same
    `Line`; a line without a command raises ValueError or IndexError, as there."""
    if "\r" in text or "\n" in text or "\0" in text:
        return tokenise(text)  # cut at the first of them, as irctokens does
    tags: dict[str, str] | None = None
    if text[:1] == "@":
        tags_s, _, text = text.partition(" ")
        tags = {}
        for part in tags_s[1:].split(";"):
            key, _, value = part.partition("=")
            tags[key] = unescape_tag_value(value) if "\\" in value else value
    head, colon, trailing = text.partition(" :")
    params = head.split(" ")
    if "" in params:
        params = [p for p in params if p]
    source = None
    if params[0][:1] == ":":
        source = params.pop(0)[1:]
    if not params:
        raise ValueError("Cannot tokenise command-less line")
    command = params.pop(0).upper()
    if colon:
        params.append(trailing)
    return Line(tags, source, command, params)


_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape_tag_value(value: str) -> str:
    """A tag value as the client meant it (IRCv3 message-tags; irctokens' rules: an
    unknown escape is the character itself, a lone backslash at the end is dropped)."""
    out = []
    i, n = 0, len(value)
    while i < n:
        char = value[i]
        if char == "\\":
            i += 1
            if i < n:
                escaped = value[i]
                out.append(_TAG_UNESCAPES.get(escaped, escaped))
        else:
            out.append(char)
        i += 1
    return "".join(out)
