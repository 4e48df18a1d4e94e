"""Pure parsing of channel and user mode strings, and ban-mask matching.

Parsing turns `+ov-k nick nick key` into typed changes; applying them (with the
permission checks) is the place's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ircpsyc.psyc_backend.uniform import casefold

# Member ranks, highest first: mode letter -> prefix symbol.  What each rank may
# do is the place's table (ircpsyc.channels.place, "Who may do what").
RANKS: dict[str, str] = {"q": "~", "a": "&", "o": "@", "h": "%", "v": "+"}
RANK_ORDER = "qaohv"
FOUNDER, ADMIN, OP, HALFOP, VOICE = range(5)  # indexes into RANK_ORDER
NO_RANK = len(RANK_ORDER)
RANK_NAMES = ("founder", "admin", "op", "halfop", "voice")
LIST_MODES = "beI"  # CHANMODES type A
PARAM_MODES = "k"  # type B: parameter to set and to unset
SET_PARAM_MODES = "fl"  # type C: parameter only to set
FLAG_MODES = "CMRcimnprst"  # type D
CHANMODES = f"{LIST_MODES},{PARAM_MODES},{SET_PARAM_MODES},{FLAG_MODES}"
PREFIX = f"({RANK_ORDER}){''.join(RANKS[m] for m in RANK_ORDER)}"
STATUSMSG = "".join(RANKS[m] for m in RANK_ORDER)
USER_MODES = "iowsBx"  # x: cloaked host (ircpsyc.ircd.cloak)


@dataclass(frozen=True, slots=True)
class ModeChange:
    """One parsed change; `param` is None for a list query (`MODE #c +b`)."""

    adding: bool
    mode: str
    param: str | None = None


@dataclass(slots=True)
class ParsedModes:
    changes: list[ModeChange]
    unknown: list[str]


def parse_channel_modes(modestring: str, params: list[str]) -> ParsedModes:
    """Parse a channel mode string and its parameters (RFC 2812 3.2.3, CHANMODES)."""
    changes: list[ModeChange] = []
    unknown: list[str] = []
    args = iter(params)
    adding = True
    for char in modestring:
        if char == "+":
            adding = True
        elif char == "-":
            adding = False
        elif char in LIST_MODES:
            changes.append(ModeChange(adding, char, next(args, None)))
        elif char in RANKS or char in PARAM_MODES:
            param = next(args, None)
            if param is not None:
                changes.append(ModeChange(adding, char, param))
            elif char in RANKS or adding:
                # Missing parameter: report as a change without one; the place answers 461/696.
                changes.append(ModeChange(adding, char, None))
            else:
                changes.append(ModeChange(adding, char, "*"))
        elif char in SET_PARAM_MODES:
            if adding:
                changes.append(ModeChange(adding, char, next(args, None)))
            else:
                changes.append(ModeChange(adding, char, None))
        elif char in FLAG_MODES:
            changes.append(ModeChange(adding, char, None))
        else:
            unknown.append(char)
    return ParsedModes(changes, unknown)


def parse_user_modes(modestring: str) -> tuple[list[tuple[bool, str]], list[str]]:
    """Parse `+iw-o` into (adding, letter) pairs and unknown letters."""
    changes: list[tuple[bool, str]] = []
    unknown: list[str] = []
    adding = True
    for char in modestring:
        if char == "+":
            adding = True
        elif char == "-":
            adding = False
        elif char in USER_MODES:
            changes.append((adding, char))
        else:
            unknown.append(char)
    return changes, unknown


def render_changes(changes: list[ModeChange]) -> tuple[str, list[str]]:
    """Render applied changes back to `+o-v` and its parameter list."""
    out: list[str] = []
    params: list[str] = []
    sign = ""
    for change in changes:
        want = "+" if change.adding else "-"
        if want != sign:
            out.append(want)
            sign = want
        out.append(change.mode)
        if change.param is not None:
            params.append(change.param)
    return "".join(out), params


def normalize_mask(mask: str) -> str:
    """Complete a partial ban mask: `nick` -> `nick!*@*`, `user@host` -> `*!user@host`."""
    mask = mask.strip()
    if not mask:
        return "*!*@*"
    if "!" not in mask and "@" not in mask:
        return f"{mask}!*@*"
    if "!" not in mask:
        return f"*!{mask}"
    if "@" not in mask:
        return f"{mask}@*"
    return mask


# Distinct masks whose compiled matcher is kept (WHO, LIST, ban lists, K-lines).
MASK_CACHE = 4096


def _literal(segment: str) -> str:
    """A star-free piece of a mask as a regex: `?` is any one character."""
    return "".join("." if c == "?" else re.escape(c) for c in segment)


@lru_cache(maxsize=MASK_CACHE)
def compile_mask(mask: str) -> re.Pattern[str]:
    """The casefolded mask as a regex that never backtracks into a matched star.

    A glob `H*M1*M2*T` matches when H starts the subject, T ends it and each
    middle piece occurs, in order, in between; taking the leftmost occurrence of
    every middle piece is always right (a later one leaves less room for the
    rest), so each `*M` is an atomic group `(?>.*?M)`: once M is found the
    engine never comes back to try it further right.  The plain translation
    (`.*M1.*M2`) retries every split of the subject among the stars, which is
    exponential in their number: `*a*a*a*a*a*a*a*ab` against a run of `a`s
    froze the server.  Here each piece is searched for once: at most
    len(mask) * len(subject) steps (`mask_steps` counts them).
    """
    pieces = casefold(mask).split("*")
    if len(pieces) == 1:
        return re.compile(_literal(pieces[0]), re.DOTALL)
    middle = "".join(f"(?>.*?{_literal(piece)})" for piece in pieces[1:-1] if piece)
    return re.compile(f"{_literal(pieces[0])}{middle}.*{_literal(pieces[-1])}", re.DOTALL)


def mask_match(mask: str, subject: str) -> bool:
    """Glob-match `*` and `?` case-insensitively under the server's casemapping."""
    return compile_mask(mask).fullmatch(casefold(subject)) is not None


def mask_steps(mask: str, subject: str) -> tuple[bool, int]:
    """The algorithm `compile_mask` encodes, in Python: (matched, characters compared).

    For tests and benchmarks: it shows the work is bounded by
    len(mask) * len(subject) however the stars are placed.
    """
    pieces = casefold(mask).split("*")
    text = casefold(subject)
    steps = 0

    def piece_at(piece: str, at: int) -> bool:
        nonlocal steps
        for offset, char in enumerate(piece):
            steps += 1
            if char != "?" and char != text[at + offset]:
                return False
        return True

    head, tail = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return len(text) == len(head) and piece_at(head, 0), steps
    end = len(text) - len(tail)  # where the tail must start
    if end < len(head) or not piece_at(head, 0):
        return False, steps
    pos = len(head)
    for piece in pieces[1:-1]:
        # Leftmost occurrence at or after pos that ends before the tail; no going back.
        found = next((at for at in range(pos, end - len(piece) + 1) if piece_at(piece, at)), -1)
        if found < 0:
            return False, steps
        pos = found + len(piece)
    return piece_at(tail, end), steps
