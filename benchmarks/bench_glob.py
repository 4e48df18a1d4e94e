"""Micro-benchmark of glob matchers for client-supplied masks (WHO, LIST, bans, K-lines).

Run: `.venv/bin/python -m benchmarks.bench_glob` (takes about half a minute).

Candidates, each with its compiled form cached per mask as in the server:

* `old regex`: `*` -> `.*` (what ircpsyc used): fast, but exponential in the
  number of stars when the subject almost matches;
* `two-pointer`: the classic loop that backtracks only to the last star,
  O(len(mask) * len(subject)), in pure Python;
* `pieces + find`: the mask split at its stars, each piece looked for with
  `str.find` (a regex for pieces with `?`), leftmost first, in Python;
* `atomic regex`: `ircpsyc.channels.modes.compile_mask`, one regex whose middle
  stars are atomic groups `(?>.*?piece)` (the same leftmost-first search, done
  by the regex engine): what the server uses.

Typical cases are per-call µs (subject casefolded in every call, as the server
does); adversarial cases are `"*a" * n + "b"` against `"nick!user@" + "a" * 60`
(the WHO that froze the server) and a longer one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import lru_cache

from ircpsyc.channels.modes import mask_match
from ircpsyc.psyc_backend.uniform import casefold

SECONDS_PER_CASE = 0.1
ROUNDS = 5  # the machine is shared: the best of a few rounds
OLD_STARS = (4, 5, 6)  # 7 takes seconds, 8 about twenty
NEW_STARS = (6, 12, 40)

Matcher = Callable[[str, str], bool]


@lru_cache(maxsize=4096)
def _old_regex(mask: str) -> re.Pattern[str]:
    pattern = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in casefold(mask)
    )
    return re.compile(pattern, re.DOTALL)


def old_regex(mask: str, subject: str) -> bool:
    return _old_regex(mask).fullmatch(casefold(subject)) is not None


@lru_cache(maxsize=4096)
def _folded(mask: str) -> str:
    return casefold(mask)


def two_pointer(mask: str, subject: str) -> bool:
    pattern, text = _folded(mask), casefold(subject)
    i = j = 0
    star, mark = -1, 0
    n, m = len(text), len(pattern)
    while i < n:
        if j < m and (pattern[j] == "?" or pattern[j] == text[i]):
            i += 1
            j += 1
        elif j < m and pattern[j] == "*":
            star, mark = j, i
            j += 1
        elif star >= 0:
            j = star + 1
            mark += 1
            i = mark
        else:
            return False
    while j < m and pattern[j] == "*":
        j += 1
    return j == m


Piece = str | re.Pattern[str]


def _piece(text: str) -> Piece:
    if "?" not in text:
        return text
    return re.compile("".join("." if c == "?" else re.escape(c) for c in text), re.DOTALL)


@lru_cache(maxsize=4096)
def _pieces(mask: str) -> tuple[list[Piece], int]:
    parts = casefold(mask).split("*")
    return [_piece(p) for p in parts], sum(map(len, parts))


def _at(piece: Piece, text: str, at: int) -> bool:
    if isinstance(piece, str):
        return text.startswith(piece, at)
    return piece.match(text, at) is not None


def pieces_find(mask: str, subject: str) -> bool:
    pieces, minimum = _pieces(mask)
    text = casefold(subject)
    if len(pieces) == 1:
        only = pieces[0]
        return text == only if isinstance(only, str) else only.fullmatch(text) is not None
    if len(text) < minimum:
        return False
    head, tail = pieces[0], pieces[-1]
    pos = len(head) if isinstance(head, str) else len(head.pattern.replace("\\", ""))
    end = len(text) - (len(tail) if isinstance(tail, str) else len(tail.pattern.replace("\\", "")))
    if not _at(head, text, 0) or not _at(tail, text, end):
        return False
    for piece in pieces[1:-1]:
        if isinstance(piece, str):
            found = text.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        else:
            hit = piece.search(text, pos, end)
            if hit is None:
                return False
            pos = hit.end()
    return True


CANDIDATES: dict[str, Matcher] = {
    "old regex": old_regex,
    "two-pointer": two_pointer,
    "pieces + find": pieces_find,
    "atomic regex": mask_match,
}

SUBJECT = "alice!~al@host-12.users.example.org"
TYPICAL = [
    ("*!*@*.example.org", SUBJECT),  # a ban or K-line on a domain
    ("nick!*@*", "nick!user@host"),  # a ban on a nick
    ("*!*@192.0.2.*", "bob!b@192.0.2.77"),
    ("*bob*", SUBJECT),  # WHO / LIST search, no match
    ("#chan*", "#channel"),  # LIST mask
    ("a?c*!*@*", "abc!x@y"),
    ("*", SUBJECT),
    ("Alice", "alice"),  # WHO on a nick
]


def per_call(match: Matcher, mask: str, subject: str) -> float:
    """µs per call with the mask's compiled form cached, over SECONDS_PER_CASE."""
    match(mask, subject)  # warm the cache
    done = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < SECONDS_PER_CASE:
        for _ in range(100):
            match(mask, subject)
        done += 100
        elapsed = time.perf_counter() - start
    return elapsed / done * 1e6


def typical_table() -> dict[str, list[float]]:
    """Per candidate, µs per call of each typical case: the best of ROUNDS rounds,
    the candidates taking turns within a round (so a busy moment hits them all)."""
    best = {name: [float("inf")] * len(TYPICAL) for name in CANDIDATES}
    for _ in range(ROUNDS):
        for index, (mask, subject) in enumerate(TYPICAL):
            for name, match in CANDIDATES.items():
                best[name][index] = min(best[name][index], per_call(match, mask, subject))
    return best


def first_and_cached(match: Matcher, mask: str, subject: str) -> str:
    """µs of the first call (compiling the mask) / µs of a later call."""
    start = time.perf_counter()
    match(mask, subject)
    first = (time.perf_counter() - start) * 1e6
    start = time.perf_counter()
    match(mask, subject)
    again = (time.perf_counter() - start) * 1e6
    return f"{first:,.0f}/{again:,.0f}"


def main() -> None:
    for mask, subject in TYPICAL:
        expected = old_regex(mask, subject)
        for name, match in CANDIDATES.items():
            assert match(mask, subject) is expected, (name, mask, subject)
    print("typical masks, µs per call (mean over the 8 cases, then each case):")
    print(f"{'':14s} {'mean':>6s} " + " ".join(f"{m[:10]:>10s}" for m, _ in TYPICAL))
    for name, each in typical_table().items():
        print(f"{name:14s} {sum(each) / len(each):6.2f} " + " ".join(f"{t:10.2f}" for t in each))
    print()
    print('adversarial: "*a" * n + "b" against "nick!user@" + "a" * 60,')
    print("µs of the first call (compiling the mask) / of a later call")
    for name, match in CANDIDATES.items():
        stars = OLD_STARS if name == "old regex" else NEW_STARS
        subject = "nick!user@" + "a" * 60
        cells = [f"n={n}: {first_and_cached(match, '*a' * n + 'b', subject)}" for n in stars]
        print(f"{name:14s} " + "  ".join(cells))
    long_mask, long_subject = "*a" * 100 + "b", "a" * 10_000
    print()
    print('adversarial, long: "*a" * 100 + "b" against "a" * 10,000, µs first/later')
    for name, match in CANDIDATES.items():
        if name != "old regex":
            print(f"{name:14s} {first_and_cached(match, long_mask, long_subject)}")


if __name__ == "__main__":
    main()
