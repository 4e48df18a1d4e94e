"""The web client's files and the WebSocket framing, without a server."""

from __future__ import annotations

import re

from ircpsyc.web import pages
from ircpsyc.web.websocket import framed

PAGE_WEIGHT_LIMIT = 150_000  # bytes on first load, uncompressed (issue 14)


def test_page_weight_and_no_third_party_requests() -> None:
    files = pages.files()
    assert {"/", "/index.html", "/app.js", "/irc.js", "/format.js", "/style.css"} <= set(files)
    assert sum(len(body) for path, body in files.items() if path != "/") < PAGE_WEIGHT_LIMIT
    for path, body in files.items():
        text = body.decode()
        # Nothing is loaded from elsewhere: no absolute URL in a src, href, url() or import.
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path
        assert not re.search(r"""url\(\s*["']?(https?:)?//""", text), path
        assert not re.search(r"""from\s+["'](https?:)?//""", text), path
        if path.endswith(".js"):
            assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path
            assert "eval(" not in text and "new Function" not in text, path
    assert b"<script>" not in files["/index.html"]  # no inline script: the CSP forbids it


def test_frames_one_message_per_line() -> None:
    data = b"PING :a\r\n:srv PONG srv :b\r\n"
    out = framed(data, binary=False)
    assert out == b"\x81\x07PING :a\x81\x10:srv PONG srv :b"
    assert framed(data, binary=True) == b"\x82\x07PING :a\x82\x10:srv PONG srv :b"
    assert framed(data, binary=False) is out  # served from the cache the second time


def test_text_frames_are_always_utf8() -> None:
    out = framed(b"PRIVMSG x :caf\xe9\r\n", binary=False)
    assert out[2:].decode() == "PRIVMSG x :caf\ufffd"
    assert framed(b"PRIVMSG x :caf\xe9\r\n", binary=True)[2:] == b"PRIVMSG x :caf\xe9"
