"""Uniforms: parsing, normal form and rfc1459 casefolding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircpsyc.psyc_backend import uniform as U
from ircpsyc.psyc_backend.uniform import Uniform, UniformError, casefold, normalize


def test_parse_person() -> None:
    u = Uniform.parse("psyc://example.org/~Alice")
    assert (u.host, u.port, u.sigil, u.name, u.channel) == ("example.org", "", "~", "Alice", "")
    assert u.is_person and not u.is_place and not u.is_root
    assert str(u) == "psyc://example.org/~Alice"
    assert u.root == "psyc://example.org/"


def test_parse_place_with_port_and_channel() -> None:
    u = Uniform.parse("psyc://example.org:4404/@Lobby#news")
    assert u.host == "example.org"
    assert u.port == "4404"
    assert u.is_place
    assert u.name == "Lobby"
    assert u.channel == "news"
    assert u.root == "psyc://example.org:4404/"
    assert str(u) == "psyc://example.org:4404/@Lobby#news"


def test_parse_service() -> None:
    u = Uniform.parse("psyc://example.org/$nickserv")
    assert u.sigil == "$"
    assert not u.is_person and not u.is_place and not u.is_root


@pytest.mark.parametrize("text", ["psyc://example.org/", "psyc://example.org"])
def test_parse_root(text: str) -> None:
    u = Uniform.parse(text)
    assert u.is_root
    assert u.name == ""
    assert str(u) == "psyc://example.org/"
    assert u.key() == "psyc://example.org/"


def test_scheme_and_host_are_case_insensitive_name_is_preserved() -> None:
    u = Uniform.parse("PSYC://Example.ORG/~Alice")
    assert u.host == "example.org"
    assert u.name == "Alice"
    assert str(u) == "psyc://example.org/~Alice"


def test_key_casefolds_name_with_rfc1459() -> None:
    a = Uniform.parse("psyc://H.example/@Chan[1]\\~")
    b = Uniform.parse("psyc://h.example/@chan{1}|^")
    assert a.key() == b.key() == "psyc://h.example/@chan{1}|^"
    # The display form keeps the original spelling.
    assert str(a) == "psyc://h.example/@Chan[1]\\~"


def test_key_distinguishes_sigils_and_ports() -> None:
    assert normalize("psyc://h/~x") != normalize("psyc://h/@x")
    assert normalize("psyc://h/~x") != normalize("psyc://h:1/~x")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "irc://example.org/~nick",
        "example.org/~nick",
        "psyc:/example.org/~nick",
        "psyc:///~nick",
        "psyc://example.org:/~nick",
        "psyc://exa mple.org/~nick",
        "psyc://user@example.org/~nick",
        "psyc://example.org/nick",
        "psyc://example.org/~",
        "psyc://example.org/@",
        "psyc://example.org/~a/b",
        "psyc://example.org/%nick",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(UniformError):
        Uniform.parse(text)


def test_uniform_error_is_a_value_error() -> None:
    assert issubclass(UniformError, ValueError)


def test_casefold_rfc1459_table() -> None:
    assert casefold("ABCXYZ") == "abcxyz"
    assert casefold("[]\\~") == "{}|^"
    # Already folded characters and everything else stay as they are.
    assert casefold("{}|^") == "{}|^"
    assert casefold("Ärger-_0`") == "Ärger-_0`"


def test_normalize_unparsable_is_folded() -> None:
    assert normalize("#Chan[x]") == "#chan{x}"
    assert normalize("psyc://h/~Nick") == "psyc://h/~nick"


def test_builders() -> None:
    assert U.person("h.example", "Bob") == "psyc://h.example/~Bob"
    assert U.place("h.example", "Lobby") == "psyc://h.example/@Lobby"
    assert U.root("h.example") == "psyc://h.example/"
    assert U.make("h", "$", "svc", "99") == "psyc://h:99/$svc"
    assert Uniform.parse(U.person("h.example", "Bob")).is_person


names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="/#"),
    min_size=1,
    max_size=20,
)
hosts = st.from_regex(r"\A[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}\Z")


@given(st.text(max_size=40))
def test_casefold_is_idempotent(text: str) -> None:
    assert casefold(casefold(text)) == casefold(text)


@given(hosts, st.sampled_from("~@$"), names)
def test_round_trip(host: str, sigil: str, name: str) -> None:
    text = U.make(host, sigil, name)
    u = Uniform.parse(text)
    assert str(u) == text
    assert Uniform.parse(str(u)) == u
    assert u.key() == normalize(text) == normalize(text.upper().replace("PSYC://", "psyc://"))


def test_quick_tests_and_parts() -> None:
    alice, lobby, svc = "psyc://h:4405/~Alice", "psyc://H/@a%23b", "psyc://h/$directory"
    assert (U.is_person(alice), U.is_place(alice), U.is_service(alice)) == (True, False, False)
    assert (U.is_person(lobby), U.is_place(lobby), U.is_service(lobby)) == (False, True, False)
    assert (U.is_person(svc), U.is_place(svc), U.is_service(svc)) == (False, False, True)
    assert U.host_of(alice) == "h" and U.host_of(lobby) == "h" and U.host_of("irc://h/") == ""
    assert U.nick_of(alice) == "Alice" and U.nick_of(lobby) == ""
    assert U.unescape_place(U.place_name_of(lobby)) == "a#b" and U.place_name_of(alice) == ""
    assert U.service_name_of(svc) == "directory" and U.service_name_of(alice) == ""
    assert U.service("h", "directory") == svc
    assert U.with_nick(alice, "Bob") == "psyc://h:4405/~Bob" and U.with_nick(lobby, "x") == ""
    assert U.is_uniform("PSYC://h/@x") and not U.is_uniform("#psyc") and not U.is_uniform("")


@given(hosts, st.sampled_from("~@$"), names.filter(lambda n: "/" not in n))
def test_quick_tests_agree_with_parse(host: str, sigil: str, name: str) -> None:
    text = U.make(host, sigil, name)
    u = Uniform.parse(text)
    assert U.is_person(text) == u.is_person and U.is_place(text) == u.is_place
    assert U.host_of(text) == u.host
    part = {"~": U.nick_of, "@": U.place_name_of, "$": U.service_name_of}[sigil](text)
    assert part == name
