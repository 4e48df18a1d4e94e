"""Formatting outgoing IRC lines and tags (the parsing side is irctokens)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

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
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def line(source: str | None, command: str, *params: str, tags: str = "") -> bytes:
    """One IRC line as bytes, CR LF terminated, cut to 512 bytes outside the tags."""
    parts = []
    if source:
        parts.append(":" + source)
    parts.append(command)
    if params:
        *middle, last = params
        parts.extend(middle)
        if not last or " " in last or last[0] == ":":
            last = ":" + last
        parts.append(last)
    text = " ".join(parts)
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
