"""Pure helpers of the XMPP gateway: JIDs (XEP-0106), nicks, text, stanzas, config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircpsyc.config import ConfigError, load
from ircpsyc.ircd.names import valid_nick
from ircpsyc.xmpp import jid as J
from ircpsyc.xmpp import stanza as S
from ircpsyc.xmpp.nicks import irc_nick, unique_nick
from ircpsyc.xmpp.text import split_bytes, strip_formatting, to_irc, to_xmpp, xml_safe

# --- JIDs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("space cadet", "space\\20cadet"),
        ('call me "ishmael"', "call\\20me\\20\\22ishmael\\22"),
        ("at&t", "at\\26t"),
        ("d'artagnan", "d\\27artagnan"),
        ("/.fanboy", "\\2f.fanboy"),
        ("::foo::", "\\3a\\3afoo\\3a\\3a"),
        ("<foo>", "\\3cfoo\\3e"),
        ("user@host", "user\\40host"),
        ("c:\\net", "c\\3a\\net"),
        ("c:\\\\net", "c\\3a\\\\net"),
        ("c:\\cool stuff", "c\\3a\\cool\\20stuff"),
        ("c:\\5commas", "c\\3a\\5c5commas"),
    ],
)
def test_xep0106_examples(raw: str, escaped: str) -> None:
    assert J.escape(raw) == escaped
    assert J.unescape(escaped) == raw


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_escape_round_trips_and_leaves_no_forbidden_character(text: str) -> None:
    escaped = J.escape(text)
    assert J.unescape(escaped) == text
    assert not any(c in escaped for c in " \"&'/:<>@")


def test_jid_parsing() -> None:
    jid = J.JID.parse("Room@Irc.Example/Nick Name")
    assert (jid.local, jid.domain, jid.resource) == ("room", "irc.example", "Nick Name")
    assert jid.bare == "room@irc.example"
    assert str(J.JID.parse("irc.example")) == "irc.example"
    assert J.JID.parse("a@b/c/d").resource == "c/d"
    for bad in ("", "@b", "a@", "a@b/"):
        assert J.parse(bad) is None


def test_room_jids_of_channels() -> None:
    assert J.room_jid("#Chat", "irc.example") == "chat@irc.example"
    assert J.room_jid("#a/b@c", "irc.example") == "a\\2fb\\40c@irc.example"
    assert J.channel_of("a\\2fb\\40c") == "#a/b@c"
    assert J.channel_of("#twohash") == "##twohash"


# --- nicks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("muc", "irc"),
    [
        ("alice", "alice"),
        ("Zoë", "Zoe"),
        ("Ivy Green!", "Ivy_Green"),
        ("2fast", "_2fast"),
        ("-dash", "_-dash"),
        ("日本語", "xmpp"),
        ("a  b", "a_b"),
        ("[away]", "[away]"),
    ],
)
def test_irc_nick(muc: str, irc: str) -> None:
    assert irc_nick(muc, 30) == irc


@given(st.text(max_size=60))
def test_irc_nick_is_always_valid(muc: str) -> None:
    assert valid_nick(irc_nick(muc, 16), 16)


def test_unique_nick() -> None:
    taken = {"bob", "bob_", "bob_2"}
    assert unique_nick("bob", 30, taken.__contains__) == "bob_3"
    assert unique_nick("carol", 30, taken.__contains__) == "carol"
    assert unique_nick("abcdef", 6, {"abcdef"}.__contains__) == "abcde_"


# --- text ---------------------------------------------------------------------------------


def test_irc_text_to_xmpp() -> None:
    assert to_xmpp("\x02bold\x02 \x0304,12red\x03 plain\x0f") == "bold red plain"
    assert to_xmpp("\x01ACTION waves\x01") == "/me waves"
    assert to_xmpp("\x01VERSION\x01") is None
    assert xml_safe("a\x00b\x07c\ud800d\ufffe") == "abcd"
    assert strip_formatting("\x1ditalic\x1d \x1funder\x1f") == "italic under"


def test_xmpp_text_to_irc() -> None:
    assert to_irc("one\r\ntwo\n\nthree") == ["one", "two", "three"]
    assert to_irc("/me smiles") == ["\x01ACTION smiles\x01"]
    long = "word " * 200
    parts = to_irc(long)
    assert len(parts) > 1 and all(len(p.encode()) <= 400 for p in parts)
    assert " ".join(parts).split() == long.split()
    assert split_bytes("é" * 300, 101) == ["é" * 50] * 6


# --- stanzas ------------------------------------------------------------------------------


def test_error_reply_swaps_addresses_and_keeps_id() -> None:
    request = S.stanza("iq", "user@example/r", "room@irc.example", "get", "q1")
    reply = S.error(request, "item-not-found", "nope")
    assert (reply.get("from"), reply.get("to"), reply.get("id")) == (
        "room@irc.example",
        "user@example/r",
        "q1",
    )
    error = S.child(reply, "error")
    assert error is not None and error.get("type") == "cancel"
    assert S.child(error, "item-not-found", S.STANZAS) is not None


def test_stamps() -> None:
    assert S.stamp(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert S.parse_stamp("2023-11-14T22:13:20.123Z") == 1_700_000_000_123
    assert S.parse_stamp("2023-11-14T23:13:20+01:00") == 1_700_000_000_000
    assert S.parse_stamp("yesterday") is None


# --- configuration --------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ircpsyc.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_xmpp_config_defaults_and_bridges(tmp_path: Path) -> None:
    assert load(None).xmpp.enabled is False
    cfg = load(
        write(
            tmp_path,
            '[xmpp]\nenabled = true\ndomain = "irc.example.org"\nsecret = "s"\n'
            '[[xmpp.bridge]]\nchannel = "#chat"\nroom = "chat@conference.example.org"\n',
        )
    )
    assert cfg.xmpp.bridge[0].room == "chat@conference.example.org"
    assert dataclasses.replace(cfg.xmpp, bridge=()).server == "127.0.0.1:5347"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[xmpp]\nenabled = true\nsecret = "s"\n', "xmpp.domain"),
        ('[xmpp]\nenabled = true\ndomain = "irc.example.org"\n', "xmpp.secret"),
        ('[xmpp]\ndomain = "no dots"\n', "xmpp.domain"),
        ('[xmpp]\nserver = "nowhere"\n', "xmpp.server"),
        ('[[xmpp.bridge]]\nchannel = "chat"\nroom = "a@b.c"\n', "xmpp.bridge[0].channel"),
        ('[[xmpp.bridge]]\nchannel = "#chat"\nroom = "a@b.c/res"\n', "xmpp.bridge[0].room"),
        ('[[xmpp.bridge]]\nchannel = "#chat"\n', "xmpp.bridge[0].room"),
        ('[[xmpp.bridge]]\nchannel = "#chat"\nroom = "a@b.c"\nnick = "x"\n', "xmpp.bridge[0].nick"),
        (
            '[[xmpp.bridge]]\nchannel = "#a"\nroom = "a@b.c"\n'
            '[[xmpp.bridge]]\nchannel = "#A"\nroom = "b@b.c"\n',
            "xmpp.bridge[1].channel",
        ),
        (
            '[xmpp]\ndomain = "irc.example.org"\n'
            '[[xmpp.bridge]]\nchannel = "#a"\nroom = "a@irc.example.org"\n',
            "xmpp.bridge[0].room",
        ),
    ],
)
def test_xmpp_config_errors(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    assert caught.value.key == key
