"""What a valid nick or channel name is, the place a channel name means, and a
free guest nick."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ircpsyc.ircd.ports import NickCore, PlaceNamingSession

S = TypeVar("S")

# RFC 2812 nick grammar, with the digit and '-' allowed after the first character.
_NICK = re.compile(r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*$")


def valid_nick(nick: str, nicklen: int) -> bool:
    return 0 < len(nick) <= nicklen and _NICK.match(nick) is not None


def valid_channel(name: str, channellen: int) -> bool:
    return (
        1 < len(name) <= channellen
        and name[0] == "#"
        and not any(c in name for c in " ,\x07:\r\n\0")
    )


def place_uniform(s: PlaceNamingSession, channel: str) -> str:
    """The uniform of a channel's place, on its home server."""
    return s.core.net.place_uniform(channel)


def guest_nick(core: NickCore[S], by: S) -> str:
    """A free nick like Guest12345."""
    nicklen = core.config.limits.nicklen
    prefix = core.config.services.guest_prefix[: max(1, nicklen - 5)]
    digits = 5
    for attempt in range(200):
        if attempt and attempt % 50 == 0:
            digits += 1
        nick = f"{prefix}{random.randrange(10 ** (digits - 1), 10**digits)}"[:nicklen]
        if valid_nick(nick, nicklen) and not core.nick_taken(nick, by):
            return nick
    return ""
