"""MUC nicknames as IRC nicks.

A MUC nickname may be any Unicode string; an IRC nick may not.  `irc_nick`
makes a valid one (accents dropped, other characters replaced by `_`, a
leading digit or dash prefixed), and `unique_nick` appends `_`, then a number,
until `taken` says no, so an XMPP user never takes an IRC user's nick.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_ALLOWED = re.compile(r"[A-Za-z0-9\[\]\\`_^{|}-]")
_FIRST = re.compile(r"[A-Za-z\[\]\\`_^{|}]")
FALLBACK = "xmpp"


def irc_nick(nick: str, nicklen: int) -> str:
    """A valid IRC nick that looks like MUC nickname `nick`."""
    decomposed = unicodedata.normalize("NFKD", nick.strip())
    out: list[str] = []
    replaced: list[bool] = []  # whether out[i] stands for characters we could not keep
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if _ALLOWED.fullmatch(char):
            out.append(char)
            replaced.append(False)
        elif not replaced or not replaced[-1]:
            out.append("_")
            replaced.append(True)
    while replaced and replaced[-1]:
        out.pop()
        replaced.pop()
    while replaced and replaced[0]:
        out.pop(0)
        replaced.pop(0)
    text = "".join(out) or FALLBACK
    if not _FIRST.fullmatch(text[0]):
        text = "_" + text
    return text[:nicklen]


def unique_nick(nick: str, nicklen: int, taken: Callable[[str], bool]) -> str:
    """`nick`, or `nick_`, `nick_2`, ... (cut to nicklen) for the first one not taken."""
    if not taken(nick):
        return nick
    for number in range(1, 1000):
        suffix = "_" if number == 1 else f"_{number}"
        candidate = nick[: max(1, nicklen - len(suffix))] + suffix
        if not taken(candidate):
            return candidate
    raise ValueError(f"no free nick like {nick!r}")
