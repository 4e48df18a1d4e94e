"""The glob matcher behind every client-supplied mask (WHO, LIST, bans, K-lines).

It used to translate a mask into `.*` per star, which backtracks exponentially in
the number of stars; the new one must agree with it everywhere and do at most
len(mask) * len(subject) steps.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ircpsyc.channels.modes import compile_mask, mask_match, mask_steps
from ircpsyc.psyc_backend.uniform import casefold

# Wildcards, letters in both cases and every rfc1459 casemapping pair.
ALPHABET = "ab*?AB[]{}\\|~^!@."


def old_mask_match(mask: str, subject: str) -> bool:
    """The matcher as it was (kept here only to compare against): exponential."""
    pattern = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in casefold(mask)
    )
    return re.fullmatch(pattern, casefold(subject), re.DOTALL) is not None


@given(
    st.text(alphabet=ALPHABET, max_size=10),
    st.text(alphabet=ALPHABET.replace("*", "").replace("?", "") + "*?", max_size=14),
)
def test_same_answers_as_the_old_matcher(mask: str, subject: str) -> None:
    expected = old_mask_match(mask, subject)
    assert mask_match(mask, subject) is expected
    matched, steps = mask_steps(mask, subject)
    assert matched is expected
    assert steps <= len(mask) * len(subject)


@given(st.text(alphabet="ab?*", min_size=1, max_size=8), st.data())
def test_subjects_built_from_the_mask_match(mask: str, data: st.DataObject) -> None:
    # Replace each wildcard by something it stands for: the result must match.
    subject = "".join(
        data.draw(st.text(alphabet="abAB[{", max_size=3))
        if c == "*"
        else data.draw(st.sampled_from("aB{\\"))
        if c == "?"
        else c.upper()
        for c in mask
    )
    assert mask_match(mask, subject)
    assert old_mask_match(mask, subject)


ADVERSARIAL = [
    ("*a" * 12 + "b", "nick!user@" + "a" * 60),
    ("*a" * 40 + "b", "a" * 500),
    ("*a?" * 30 + "b", "a" * 400),
    ("*ab" * 30 + "c", "ab" * 200),
    ("*" + "a" * 20 + "b", "a" * 300),
    ("a*" * 50, "a" * 49),
    ("*?" * 60 + "x", "y" * 300),
    ("*[*\\*{*|*" * 10, "{" * 200),
]


def test_steps_are_bounded_on_adversarial_masks() -> None:
    for mask, subject in ADVERSARIAL:
        matched, steps = mask_steps(mask, subject)
        assert steps <= len(mask) * len(subject), (mask, subject, steps)
        # The real matcher answers the same (the old one would not return for years).
        assert mask_match(mask, subject) is matched


def test_adversarial_masks_do_not_match_and_near_misses_do() -> None:
    assert not mask_match("*a" * 40 + "b", "a" * 5000)
    assert mask_match("*a" * 40 + "b", "a" * 5000 + "b")
    assert mask_match("*a?" * 30 + "b", "ax" * 30 + "B")
    assert not mask_match("a*" * 50, "a" * 49)
    assert mask_match("a*" * 50, "A" * 50)


def test_every_star_but_the_last_is_an_atomic_group() -> None:
    # What makes it safe, checked on the compiled pattern itself: the lazy
    # `.*?` before each middle piece sits in `(?>...)`, so a found piece is
    # never given up for a later one; only the last star is a plain `.*`.
    pattern = compile_mask("x*a*B?*c*" + "*d").pattern
    assert pattern == "x(?>.*?a)(?>.*?b.)(?>.*?c).*d"
    assert compile_mask("*").pattern == ".*"
    assert compile_mask("a?c").pattern == "a.c"
    assert compile_mask("[A]*").pattern == "\\{a\\}.*"


def test_casemapping_and_wildcards() -> None:
    assert mask_match("NICK[1]!*@*", "nick{1}!u@h")
    assert mask_match("a\\b", "A|B")
    assert mask_match("a~b", "a^b")
    assert not mask_match("a?", "a")
    assert mask_match("a?", "a\n")  # `?` is any character, as before
    assert mask_match("", "")
    assert not mask_match("", "a")
