"""Pure mode parsing, rendering and ban-mask matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircpsyc.channels import modes as M
from ircpsyc.channels.modes import (
    ModeChange,
    mask_match,
    normalize_mask,
    parse_channel_modes,
    parse_user_modes,
    render_changes,
)


def C(adding: bool, mode: str, param: str | None = None) -> ModeChange:
    return ModeChange(adding, mode, param)


# -- parse_channel_modes


def test_flags() -> None:
    parsed = parse_channel_modes("+imnpst", [])
    assert parsed.changes == [C(True, m) for m in "imnpst"]
    assert parsed.unknown == []


def test_signs_switch_and_default_to_adding() -> None:
    parsed = parse_channel_modes("m-n+t-s", [])
    assert parsed.changes == [C(True, "m"), C(False, "n"), C(True, "t"), C(False, "s")]


def test_rank_modes_take_parameters_in_order() -> None:
    parsed = parse_channel_modes("+ov-v", ["alice", "bob", "carol"])
    assert parsed.changes == [C(True, "o", "alice"), C(True, "v", "bob"), C(False, "v", "carol")]


def test_type_a_list_modes() -> None:
    parsed = parse_channel_modes("+b-e+I", ["*!*@bad", "nick!*@*", "*!*@good"])
    assert parsed.changes == [
        C(True, "b", "*!*@bad"),
        C(False, "e", "nick!*@*"),
        C(True, "I", "*!*@good"),
    ]


def test_list_mode_without_parameter_is_a_query() -> None:
    assert parse_channel_modes("+b", []).changes == [C(True, "b", None)]
    assert parse_channel_modes("b", []).changes == [C(True, "b", None)]
    assert parse_channel_modes("eI", []).changes == [C(True, "e", None), C(True, "I", None)]


def test_type_b_key_takes_a_parameter_both_ways() -> None:
    assert parse_channel_modes("+k", ["secret"]).changes == [C(True, "k", "secret")]
    assert parse_channel_modes("-k", ["secret"]).changes == [C(False, "k", "secret")]
    # -k consumes its parameter, so the next mode gets the next one.
    assert parse_channel_modes("-ko", ["secret", "bob"]).changes == [
        C(False, "k", "secret"),
        C(False, "o", "bob"),
    ]


def test_type_b_missing_parameters() -> None:
    # +k without a key cannot be applied: reported with no parameter.
    assert parse_channel_modes("+k", []).changes == [C(True, "k", None)]
    # -k without a key is accepted leniently (as most servers do).
    assert parse_channel_modes("-k", []).changes == [C(False, "k", "*")]


def test_type_c_limit_takes_a_parameter_only_when_set() -> None:
    assert parse_channel_modes("+l", ["10"]).changes == [C(True, "l", "10")]
    # -l takes no parameter: "bob" goes to +o.
    parsed = parse_channel_modes("-l+o", ["bob"])
    assert parsed.changes == [C(False, "l", None), C(True, "o", "bob")]
    assert parse_channel_modes("+l", []).changes == [C(True, "l", None)]


def test_rank_missing_parameter() -> None:
    assert parse_channel_modes("+o", []).changes == [C(True, "o", None)]
    assert parse_channel_modes("-v", []).changes == [C(False, "v", None)]


def test_unknown_letters_are_reported_and_take_no_parameter() -> None:
    parsed = parse_channel_modes("+Zo-Q", ["bob"])
    assert parsed.unknown == ["Z", "Q"]
    assert parsed.changes == [C(True, "o", "bob")]


def test_extra_parameters_are_ignored() -> None:
    parsed = parse_channel_modes("+n", ["extra", "more"])
    assert parsed.changes == [C(True, "n")]


def test_mixed_all_types() -> None:
    parsed = parse_channel_modes("+bkl-o+mv", ["*!*@x", "key", "5", "op", "voice"])
    assert parsed.changes == [
        C(True, "b", "*!*@x"),
        C(True, "k", "key"),
        C(True, "l", "5"),
        C(False, "o", "op"),
        C(True, "m"),
        C(True, "v", "voice"),
    ]
    assert parsed.unknown == []


def test_isupport_tokens_match_the_tables() -> None:
    assert M.CHANMODES == "beI,k,fl,CMRcimnprst"
    assert M.PREFIX == "(qaohv)~&@%+"
    assert M.STATUSMSG == "~&@%+"


# -- parse_user_modes


def test_parse_user_modes() -> None:
    changes, unknown = parse_user_modes("+iw-o+zB-x")
    assert changes == [(True, "i"), (True, "w"), (False, "o"), (True, "B"), (False, "x")]
    assert unknown == ["z"]


# -- render_changes


def test_render_groups_signs_and_collects_params() -> None:
    changes = [C(True, "o", "a"), C(True, "v", "b"), C(False, "o", "c"), C(False, "m")]
    assert render_changes(changes) == ("+ov-om", ["a", "b", "c"])


def test_render_starts_with_minus_when_first_change_removes() -> None:
    assert render_changes([C(False, "t"), C(True, "n")]) == ("-t+n", [])


def test_render_empty() -> None:
    assert render_changes([]) == ("", [])


changes_strategy = st.lists(
    st.one_of(
        st.builds(ModeChange, st.booleans(), st.sampled_from("imnpst")),
        st.builds(
            ModeChange,
            st.booleans(),
            st.sampled_from("ovbeIk"),
            st.from_regex(r"\A[a-z!*@]{1,8}\Z"),
        ),
        st.builds(ModeChange, st.just(True), st.just("l"), st.integers(1, 999).map(str)),
        st.builds(ModeChange, st.just(False), st.just("l")),
    ),
    max_size=10,
)


@given(changes_strategy)
def test_render_then_parse_round_trips(changes: list[ModeChange]) -> None:
    modestring, params = render_changes(changes)
    parsed = parse_channel_modes(modestring, params)
    assert parsed.changes == changes
    assert parsed.unknown == []


@given(st.text(max_size=20), st.lists(st.text(max_size=5), max_size=5))
def test_parse_never_raises(modestring: str, params: list[str]) -> None:
    parsed = parse_channel_modes(modestring, params)
    letters = [c for c in modestring if c not in "+-"]
    assert len(parsed.changes) + len(parsed.unknown) == len(letters)


# -- normalize_mask


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("nick", "nick!*@*"),
        ("user@host", "*!user@host"),
        ("nick!user", "nick!user@*"),
        ("nick!user@host", "nick!user@host"),
        ("*", "*!*@*"),
        ("", "*!*@*"),
        ("  nick  ", "nick!*@*"),
        ("*@*.example.org", "*!*@*.example.org"),
    ],
)
def test_normalize_mask(mask: str, expected: str) -> None:
    assert normalize_mask(mask) == expected


# -- mask_match


@pytest.mark.parametrize(
    ("mask", "subject", "expected"),
    [
        ("*", "", True),
        ("*", "anything", True),
        ("*!*@*", "nick!user@host", True),
        ("nick!*@*", "nick!user@host", True),
        ("nick!*@*", "nickname!user@host", False),
        ("*!*@*.example.org", "a!b@c.example.org", True),
        ("*!*@*.example.org", "a!b@example.org", False),
        ("n?ck!*@*", "nick!u@h", True),
        ("n?ck!*@*", "nck!u@h", False),
        ("n?ck!*@*", "niick!u@h", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axxbyy", False),
        # regular-expression characters are literal
        ("*!*@1.2.3.4", "x!y@1x2x3x4", False),
        ("*!*@1.2.3.4", "x!y@1.2.3.4", True),
        ("a+b", "aab", False),
        ("a+b", "a+b", True),
        ("(x)|[y]", "(x)|[y]", True),
        ("^$", "^$", True),
        # case-insensitive, with the rfc1459 casemapping
        ("NICK!*@*", "nick!u@h", True),
        ("nick!*@HOST", "Nick!u@host", True),
        ("[a]!*@*", "{A}!u@h", True),
        ("{a}!*@*", "[a]!u@h", True),
        ("a\\b", "A|B", True),
        ("a~b", "a^b", True),
        ("a~b", "a-b", False),
    ],
)
def test_mask_match(mask: str, subject: str, expected: bool) -> None:
    assert mask_match(mask, subject) is expected


def test_mask_match_handles_newlines_in_subject() -> None:
    assert mask_match("a*b", "a\nb")
    assert not mask_match("ab", "ab\n")


@given(st.text(alphabet="abcAB[]{}|\\~^!@.", max_size=12))
def test_mask_matches_itself_and_star(subject: str) -> None:
    assert mask_match(subject.replace("*", "").replace("?", ""), subject)
    assert mask_match("*", subject)
    assert mask_match(subject.upper(), subject)
