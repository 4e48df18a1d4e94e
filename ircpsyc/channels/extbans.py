"""Ban masks and extended bans: normalising and matching them (pure functions).

A list entry of +b, +e or +I is either a hostmask or an extban:

    nick!user@host   glob (`*`, `?`) on the member's nick!user@host (the host
                     shown, a cloak under +x), on nick!user@ip (the real
                     address, whoever set the ban) and on nick!user@cloak (so a
                     ban on a cloak holds while its owner is -x), and on
                     nick!user@name, the real host name of a member under +x
                     (ircpsyc.ircd.hostnames); the host part
                     may be a CIDR block on the address (`*!*@192.0.2.0/24`,
                     `*!*@2001:db8::/32`)
    a:ACCOUNT        glob on the account the member is logged in to (never
                     matches somebody who is not logged in)
    r:REALNAME       glob on the realname (gecos); spaces cannot be written,
                     use `?` or `*` for them
    m:MASK           a quiet (mute): MASK is any of the above; the member may
                     join but not speak.  Voice and above are exempt.

ISUPPORT advertises `EXTBAN=,amr` (no prefix character) and
`ACCOUNTEXTBAN=a` (IRCv3 account-extban).  Every comparison is
case-insensitive under the server's casemapping (rfc1459).

How the place uses the lists:

* joining is refused when a ban that is not a quiet matches and no exception
  that is not a quiet exception matches;
* speaking is refused when the member is banned in that sense, or when a
  quiet matches and no exception of either kind matches (`+e m:mask` lifts
  only quiets, a plain `+e mask` lifts both);
* +I entries (any form but `m:`) let their matches past +i and +R.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from ircpsyc.channels.modes import mask_match, normalize_mask

EXTBAN_TYPES = "amr"
ISUPPORT_EXTBAN = f",{EXTBAN_TYPES}"
ACCOUNT = "a"
MUTE = "m"
REALNAME = "r"
MAX_MASK = 300


@dataclass(frozen=True, slots=True)
class Subject:
    """What a mask is matched against: one member or one would-be member."""

    nick: str
    user: str
    host: str
    ip: str = ""
    realname: str = ""
    account: str = ""
    cloak: str = ""  # the cloak of `ip` (ircpsyc.ircd.cloak), even when not shown
    real_host: str = ""  # the host name behind a cloak (shown or not: "" when it is `host`)

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.user}@{self.host}"


def split_extban(mask: str) -> tuple[str, str] | None:
    """`m:nick!*@*` -> ("m", "nick!*@*"); None for a plain hostmask."""
    if len(mask) >= 2 and mask[1] == ":" and mask[0].isalpha():
        return mask[0], mask[2:]
    return None


def is_mute(mask: str) -> bool:
    return mask.startswith(MUTE + ":")


def normalize_ban(mask: str) -> str | None:
    """The stored form of a list entry, or None when it is not a valid mask.

    Hostmasks are completed (`nick` -> `nick!*@*`); extbans keep their type and
    a completed inner mask (`m:bar` -> `m:bar!*@*`).
    """
    mask = mask.strip()
    if not mask or len(mask) > MAX_MASK or any(c in mask for c in " ,\r\n\0"):
        return None
    ext = split_extban(mask)
    if ext is None:
        return normalize_mask(mask)
    kind, inner = ext
    if kind not in EXTBAN_TYPES or not inner:
        return None
    if kind == MUTE:
        nested = normalize_ban(inner)
        if nested is None or is_mute(nested):
            return None
        return f"{MUTE}:{nested}"
    return f"{kind}:{inner}"


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_match(mask_host: str, host: str, ip: str = "") -> bool:
    """Match the host part of a mask: a glob on host or IP, or a CIDR block on the IP."""
    network = _network(mask_host)
    if network is not None:
        address = _address(ip or host)
        return address is not None and address.version == network.version and address in network
    return mask_match(mask_host, host) or (bool(ip) and ip != host and mask_match(mask_host, ip))


def hostmask_match(mask: str, subject: Subject) -> bool:
    """A normalised nick!user@host mask against the subject (host, IP or CIDR, cloak)."""
    nick_user, at, mask_host = mask.rpartition("@")
    if not at:
        return mask_match(mask, subject.prefix)
    if not mask_match(nick_user, f"{subject.nick}!{subject.user}"):
        return False
    if host_match(mask_host, subject.host, subject.ip):
        return True
    cloak = subject.cloak
    if cloak and cloak != subject.host and mask_match(mask_host, cloak):
        return True
    real = subject.real_host
    return bool(real) and real != subject.host and mask_match(mask_host, real)


def matches(mask: str, subject: Subject) -> bool:
    """Whether a stored list entry matches; a quiet `m:X` matches what X matches."""
    ext = split_extban(mask)
    if ext is None:
        return hostmask_match(mask, subject)
    kind, inner = ext
    if kind == MUTE:
        return matches(inner, subject)
    if kind == ACCOUNT:
        return bool(subject.account) and mask_match(inner, subject.account)
    if kind == REALNAME:
        return mask_match(inner, subject.realname)
    return False


def banned(bans: list[str], exceptions: list[str], subject: Subject) -> bool:
    """May not join: a ban (not a quiet) matches and no exception (not a quiet one) does."""
    if not any(not is_mute(m) and matches(m, subject) for m in bans):
        return False
    return not any(not is_mute(m) and matches(m, subject) for m in exceptions)


def muted(bans: list[str], exceptions: list[str], subject: Subject) -> bool:
    """May not speak: banned, or quieted without any matching exception."""
    if banned(bans, exceptions, subject):
        return True
    if not any(is_mute(m) and matches(m, subject) for m in bans):
        return False
    return not any(matches(m, subject) for m in exceptions)


def invite_exempt(entries: list[str], subject: Subject) -> bool:
    return any(not is_mute(m) and matches(m, subject) for m in entries)
