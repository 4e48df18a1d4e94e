"""Text between IRC and XMPP: formatting, actions and line splitting.

IRC text may hold control characters (bold, colours, CTCP) that XML 1.0 forbids:
one of them in a stanza makes the XMPP server drop the whole component link.
`to_xmpp` strips them (and turns a CTCP ACTION into `/me`, XEP-0245);
`to_irc` turns `/me` back into an ACTION and splits multi-line bodies into
lines that fit an IRC message.
"""

from __future__ import annotations

import re

# mIRC colours (\x03 with optional fg[,bg]), hex colours (\x04), and single codes.
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
# Anything else XML 1.0 does not allow (C0 controls but tab and line breaks, and
# the non-characters), including lone surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

ACTION_PREFIX = "\x01ACTION "
MAX_LINE_BYTES = 400  # leaves room for the prefix and target in a 512-byte IRC line


def xml_safe(text: str) -> str:
    """Drop what XML 1.0 cannot carry."""
    return _NOT_XML.sub("", text)


def strip_formatting(text: str) -> str:
    return xml_safe(_FORMATTING.sub("", text))


def to_xmpp(body: str) -> str | None:
    """An IRC message body as XMPP text; None for a CTCP that is not an ACTION."""
    if body.startswith("\x01"):
        inner = body.strip("\x01")
        if inner.startswith("ACTION"):
            return "/me " + strip_formatting(inner[6:].lstrip(" "))
        return None
    return strip_formatting(body)


def to_irc(body: str, max_bytes: int = MAX_LINE_BYTES) -> list[str]:
    """An XMPP body as IRC message bodies: one per line, long lines split, `/me` as ACTION."""
    out: list[str] = []
    for raw in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.replace("\0", "")
        if not line.strip():
            continue
        action = line.startswith("/me ")
        if action:
            line = line[4:]
        for part in split_bytes(line, max_bytes):
            out.append(f"{ACTION_PREFIX}{part}\x01" if action else part)
    return out


def split_bytes(text: str, max_bytes: int) -> list[str]:
    """Cut text into pieces of at most `max_bytes` UTF-8 bytes, at spaces where possible."""
    pieces: list[str] = []
    while len(text.encode()) > max_bytes:
        cut = text.encode()[:max_bytes].decode("utf-8", "ignore")
        space = cut.rfind(" ")
        if space > len(cut) // 2:
            cut = cut[:space]
        pieces.append(cut)
        text = text[len(cut) :].lstrip(" ")
    if text:
        pieces.append(text)
    return pieces
