"""JIDs: parsing, XEP-0106 escaping, and the room JID of a channel.

A channel `#name` is the room `name@DOMAIN`; characters a localpart may not
hold are escaped per XEP-0106 (`#a/b` is `a\\2fb@DOMAIN`).  XMPP servers
lower-case localparts, and channel names are case-insensitive too, so a room
JID is always lower-cased and mapped back through the place registry's
casefolding.
"""

from __future__ import annotations

from dataclasses import dataclass

# XEP-0106: the characters a localpart cannot hold and their escapes.
_ESCAPES = {
    " ": "\\20",
    '"': "\\22",
    "&": "\\26",
    "'": "\\27",
    "/": "\\2f",
    ":": "\\3a",
    "<": "\\3c",
    ">": "\\3e",
    "@": "\\40",
    "\\": "\\5c",
}
_UNESCAPES = {code[1:]: char for char, code in _ESCAPES.items()}


def escape(text: str) -> str:
    """XEP-0106 escaping of a localpart (a backslash only where it would start an escape)."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "\\":
            if text[index + 1 : index + 3].lower() in _UNESCAPES:
                out.append("\\5c")
            else:
                out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            out.append(char)
    return "".join(out)


def unescape(text: str) -> str:
    """Undo XEP-0106 escaping."""
    if "\\" not in text:
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        code = text[index + 1 : index + 3].lower()
        if text[index] == "\\" and code in _UNESCAPES:
            out.append(_UNESCAPES[code])
            index += 3
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class JID:
    """local@domain/resource; `local` and `resource` may be empty."""

    local: str
    domain: str
    resource: str = ""

    @classmethod
    def parse(cls, text: str) -> JID:
        rest, slash, resource = text.partition("/")
        local, at, domain = rest.rpartition("@")
        if not at:
            local, domain = "", rest
        if not domain or (slash and not resource) or (at and not local):
            raise ValueError(f"malformed JID {text!r}")
        return cls(local.lower(), domain.lower(), resource)

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    def __str__(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource else self.bare

    def with_resource(self, resource: str) -> str:
        return f"{self.bare}/{resource}" if resource else self.bare


def parse(text: str) -> JID | None:
    """A JID, or None when `text` is not one."""
    try:
        return JID.parse(text)
    except ValueError:
        return None


def room_jid(channel: str, domain: str) -> str:
    """The bare room JID of channel `#name`."""
    return f"{escape(channel[1:]).lower()}@{domain}"


def channel_of(local: str) -> str:
    """The channel a room localpart names (`name` -> `#name`)."""
    return "#" + unescape(local)
