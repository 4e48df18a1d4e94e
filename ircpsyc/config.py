"""Configuration: one TOML file read into frozen dataclasses.

The schema is the dataclasses below. Each key is a dataclass field whose
metadata carries its help text and constraints; loading, validation and the
commented sample file (`default_toml`) are all generic over that schema, so a
new section is a new dataclass plus one field on `Config`, and the sample
file never drifts from the code.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import math
import os
import re
import ssl
import textwrap
import tomllib
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ircpsyc.passwords import is_argon2_hash

__all__ = [
    "AccountsSection",
    "AwaylogSection",
    "ChannelsSection",
    "Config",
    "ConfigError",
    "HistorySection",
    "KeyInfo",
    "LimitsSection",
    "LinkEntry",
    "ListenSection",
    "NetworkSection",
    "OperClassEntry",
    "OperEntry",
    "Overrides",
    "ServerSection",
    "ServicesSection",
    "StorageSection",
    "TlsSection",
    "WebSection",
    "WebircEntry",
    "XmppBridgeEntry",
    "XmppSection",
    "default_toml",
    "load",
    "parse_hostport",
    "schema_keys",
]

DEFAULTS_SOURCE = "<defaults>"
COMMAND_LINE_SOURCE = "<command line>"
DATA_FILE_NAME = "ircpsyc.sqlite3"


class ConfigError(Exception):
    """A configuration problem, located by file and dotted key."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key  # dotted, e.g. "limits.nicklen" or "opers[1].hostmask"; "" for the file
        self.reason = reason
        # Further errors found in the same pass: a file is checked whole, so its
        # author sees every problem at once, not one per try.
        self.more: list[ConfigError] = []
        # The three parts as args, so the error pickles and compares sensibly.
        super().__init__(file, key, reason)

    @property
    def all(self) -> list[ConfigError]:
        """This error and the ones found with it, in file order."""
        return [self, *self.more]

    @staticmethod
    def raise_first(errors: list[ConfigError]) -> None:
        """Raise the first of `errors` carrying the rest; nothing if there are none."""
        if errors:
            first = errors[0]
            first.more = errors[1:]
            raise first

    def __str__(self) -> str:
        if not self.key:
            return f"{self.file}: {self.reason}"
        return f"{self.file}: {self.key}: {self.reason}"


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line; they win over the file."""

    listen: tuple[str, ...] = ()
    data_dir: str | None = None
    name: str | None = None


# --- value checks ----------------------------------------------------------
# A check returns None when the value is fine, else the reason it is not.

Check = Callable[[Any], str | None]

_HOST_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$")


def _check_server_name(value: str) -> str | None:
    # Clients and peers see this as a message prefix and in uniforms, so it must
    # be a dotted hostname (a name without a dot would be read as a nick).
    if not value:
        return "must not be empty"
    if len(value) > 63:
        return "must be at most 63 characters"
    if "." not in value:
        return f"{value!r} must look like a hostname with a dot, e.g. irc.example.org"
    for label in value.split("."):
        if not _HOST_LABEL.match(label):
            return f"{value!r} is not a hostname (letters, digits, '-' and dots only)"
    return None


def _check_token(value: str) -> str | None:
    # Used in RPL_ISUPPORT NETWORK=, where spaces would break the line.
    if not value:
        return "must not be empty"
    if any(c.isspace() for c in value):
        return "must not contain spaces"
    return None


CASEMAPPINGS = ("rfc1459", "ascii")


def _check_casemapping(value: str) -> str | None:
    return None if value in CASEMAPPINGS else f"must be one of {', '.join(CASEMAPPINGS)}"


def _check_icon(value: str) -> str | None:
    # Sent as the value of draft/ICON= in 005: a URL, no spaces.
    if any(c.isspace() for c in value):
        return "must not contain spaces"
    if value and not value.startswith(("https://", "http://")):
        return "must be an http(s) URL"
    return None


def _check_single_line(value: str) -> str | None:
    if "\n" in value or "\r" in value or "\0" in value:
        return "must be a single line"
    return None


def _check_hostport(value: str) -> str | None:
    try:
        parse_hostport(value)
    except ValueError as exc:
        return str(exc)
    return None


def _check_cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an address or network, like 10.0.0.0/8 or ::1"
    return None


def _check_origin(value: str) -> str | None:
    if value == "*":
        return None
    if not re.match(r"^https?://[^/\s]+$", value):
        return f'{value!r} must be a web origin like "https://chat.example.org" (no path) or "*"'
    return None


def _check_hostmask(value: str) -> str | None:
    if not value or any(c.isspace() for c in value):
        return "must be a non-empty mask without spaces, like *@*.example.org"
    if "@" not in value:
        return f"{value!r} must have the form user@host (wildcards * and ? allowed)"
    return None


def _check_password_hash(value: str) -> str | None:
    if not is_argon2_hash(value):
        return "must be an argon2 hash starting with $argon2 (make one with `ircpsyc mkpasswd`)"
    return None


def _check_oper_name(value: str) -> str | None:
    if not value or any(c.isspace() for c in value):
        return "must be a non-empty name without spaces"
    return None


# What an operator class may grant (ircpsyc.ircd.moderation checks them).
OPER_PRIVILEGES = (
    "auspex",  # see real hosts and IPs, secret channels, invisible users
    "ban",  # KLINE, UNKLINE, DLINE, UNDLINE
    "kill",  # KILL
    "override",  # do what channel rules refuse (announced to the channel)
    "rehash",  # REHASH
    "sajoin",  # SAJOIN, SAPART
    "sanick",  # SANICK
    "wallops",  # WALLOPS, GLOBOPS
)
# Server notice masks (user mode +s): see ircpsyc.ircd.snomask.
SNOMASK_LETTERS = "acFkoqvx"


def _check_privilege(value: str) -> str | None:
    if value not in OPER_PRIVILEGES:
        return f"unknown privilege {value!r} (known: {', '.join(OPER_PRIVILEGES)})"
    return None


def _check_snomasks(value: str) -> str | None:
    bad = sorted({c for c in value if c not in SNOMASK_LETTERS})
    if bad:
        return f"unknown server notice letters {''.join(bad)!r} (known: {SNOMASK_LETTERS})"
    return None


def parse_hostport(s: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` or ``[V6]:PORT`` into ``(host, port)``.

    The host comes back without brackets. Port 0 is allowed (an ephemeral
    port, useful in tests). Raises ValueError with a human reason.
    """
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError(f"{s!r}: missing ']' after IPv6 address")
        host, rest = s[1:end], s[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"{s!r}: expected [ADDRESS]:PORT")
        port_text = rest[1:]
        if ":" not in host:
            raise ValueError(f"{s!r}: brackets are only for IPv6 addresses")
    else:
        host, sep, port_text = s.rpartition(":")
        if not sep:
            raise ValueError(f"{s!r}: expected HOST:PORT")
        if ":" in host:
            raise ValueError(f"{s!r}: write IPv6 addresses in brackets, like [::1]:6667")
    if not host:
        raise ValueError(f"{s!r}: missing host (use 0.0.0.0 or [::] for all addresses)")
    if any(c.isspace() for c in host):
        raise ValueError(f"{s!r}: host must not contain spaces")
    if ":" in host or all(c.isdigit() or c == "." for c in host):
        # Looks like an address, so it must be one: 999.1.1.1 is no host name either.
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{s!r}: {host} is not a valid IP address") from None
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"{s!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"{s!r}: port {port} is out of range 0..65535")
    return host, port


# --- schema ----------------------------------------------------------------


def _key(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    check: Check | None = None,
    path: bool = False,
    ge: float | None = None,
    gt: float | None = None,
    example: Any = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare one config key. `path` keys resolve against the config file's folder;
    `check` applies to each element of an array key (to the whole table of a table
    key); `example` is shown in the sample file for required keys (those without a
    default); `factory` makes the default of a table key (a dict cannot be one)."""
    meta = {"help": help, "check": check, "path": path, "ge": ge, "gt": gt, "example": example}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _default(f: dataclasses.Field[Any]) -> Any:
    """A key's default value (made fresh for table keys), or MISSING when it is required."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


@dataclass(frozen=True)
class ServerSection:
    """[server]: who this server is and what it tells clients."""

    name: str = _key(
        "irc.localhost",
        help="Server name: the prefix of server messages and this server's PSYC host. "
        "Must look like a hostname with a dot.",
        check=_check_server_name,
    )
    network: str = _key(
        "ircpsyc",
        help="Network name, announced to clients as NETWORK= in RPL_ISUPPORT.",
        check=_check_token,
    )
    description: str = _key(
        "ircpsyc IRC server",
        help="One-line description shown in WHOIS and LINKS.",
        check=_check_single_line,
    )
    motd: str = _key(
        "Welcome to ircpsyc.",
        help="Message of the day, may span several lines. Empty means no MOTD "
        "(clients get ERR_NOMOTD).",
    )
    motd_file: str = _key(
        "",
        help="If set, a UTF-8 text file whose contents replace motd; read at start "
        "and on every reload.",
        path=True,
    )
    admin_name: str = _key(
        "", help="Administrator's name, for the ADMIN command.", check=_check_single_line
    )
    admin_email: str = _key(
        "", help="Administrator's e-mail address, for the ADMIN command.", check=_check_single_line
    )
    admin_location: str = _key(
        "", help="Where the server is, for the ADMIN command.", check=_check_single_line
    )
    utf8_only: bool = _key(
        False,
        help="Refuse messages that are not valid UTF-8 (FAIL INVALID_UTF8) and advertise "
        "UTF8ONLY in 005.",
    )
    password_hash: str = _key(
        "",
        help="Connection password (argon2 hash from `ircpsyc mkpasswd`): clients must send "
        "it with PASS before registering. Empty: no password.",
    )
    casemapping: str = _key(
        "rfc1459",
        help="How nicks and channel names fold case (CASEMAPPING in 005): rfc1459 "
        "(A-Z and []\\~ fold to a-z and {}|^) or ascii (only A-Z). Every server of a "
        "network must use the same, and it is read at start only: changing it on an "
        "existing store may make names with []\\~ collide or split.",
        check=_check_casemapping,
    )
    icon: str = _key(
        "",
        help="URL of the network's icon, advertised as draft/ICON= in 005 for clients "
        "to show; empty: none.",
        check=_check_icon,
    )


@dataclass(frozen=True)
class ListenSection:
    """[listen]: the addresses clients connect to."""

    irc: tuple[str, ...] = _key(
        ("127.0.0.1:6667",),
        help="Plain-text IRC listeners, each HOST:PORT or [IPV6]:PORT. Port 0 picks a free port.",
        check=_check_hostport,
    )
    irc_tls: tuple[str, ...] = _key(
        (),
        help="TLS IRC listeners, same form as irc. Needs tls.cert and tls.key.",
        check=_check_hostport,
    )
    web: tuple[str, ...] = _key(
        ("127.0.0.1:8080",),
        help="HTTP listeners for browsers, same form as irc: IRC over WebSocket (IRCv3 "
        "websocket) on any path, and the built-in web client at / (see [web]).",
        check=_check_hostport,
    )
    web_tls: tuple[str, ...] = _key(
        (),
        help="HTTPS listeners (WebSocket over TLS, wss://), same form as irc. Needs tls.cert "
        "and tls.key.",
        check=_check_hostport,
    )
    irc_proxy: tuple[str, ...] = _key(
        (),
        help="Plain IRC listeners behind a proxy that speaks the PROXY protocol (HAProxy's "
        "send-proxy or send-proxy-v2): every connection starts with a header naming the "
        "client, and must come from listen.proxy_from. Same form as irc.",
        check=_check_hostport,
    )
    web_proxy: tuple[str, ...] = _key(
        (),
        help="Web listeners (as web) behind a proxy that speaks the PROXY protocol.",
        check=_check_hostport,
    )
    proxy_from: tuple[str, ...] = _key(
        ("127.0.0.1", "::1"),
        help="Addresses or networks (CIDR) of the proxies allowed to connect to "
        "irc_proxy and web_proxy listeners; anyone else is dropped.",
        check=_check_cidr,
    )
    psyc: str = _key(
        "",
        help="Listener for PSYC server links (see [[links]]), HOST:PORT; empty means no "
        "listener: this server only dials the links that have an address.",
        check=lambda v: _check_hostport(v) if v else None,
    )
    psyc_tls: str = _key(
        "",
        help="TLS listener for PSYC server links, HOST:PORT, for peers whose [[links]] "
        "entry says tls = true. Needs tls.cert and tls.key.",
        check=lambda v: _check_hostport(v) if v else None,
    )

    @property
    def irc_addrs(self) -> tuple[tuple[str, int], ...]:
        """The plain-text listeners as (host, port) pairs."""
        return tuple(parse_hostport(s) for s in self.irc)

    @property
    def irc_tls_addrs(self) -> tuple[tuple[str, int], ...]:
        """The TLS listeners as (host, port) pairs."""
        return tuple(parse_hostport(s) for s in self.irc_tls)


@dataclass(frozen=True)
class TlsSection:
    """[tls]: the certificate for TLS listeners."""

    cert: str = _key(
        "",
        help="PEM certificate chain file. Required when listen.irc_tls is set.",
        path=True,
    )
    key: str = _key(
        "",
        help="PEM private key file for cert. Required when listen.irc_tls is set.",
        path=True,
    )
    sts_duration: int = _key(
        0,
        help="Seconds clients should keep using TLS (IRCv3 sts), advertised when a TLS "
        "listener is configured; 0 (the default) advertises no policy. Turn it on only "
        "with a certificate clients can verify (a public CA's): a client that honours it "
        "refuses the server for that long if the certificate stops verifying.",
        ge=0,
    )
    sts_port: int = _key(
        0,
        help="TLS port advertised by sts to plain-text clients; 0 means the first "
        "listen.irc_tls port.",
        ge=0,
    )


@dataclass(frozen=True)
class WebSection:
    """[web]: the WebSocket transport and the built-in web client (listen.web, listen.web_tls)."""

    client: bool = _key(
        True,
        help="Serve the built-in web client at / of every web listener. Off: the listeners "
        "only take WebSocket connections (for gamja, Kiwi IRC and other web clients).",
    )
    origins: tuple[str, ...] = _key(
        (),
        help='Web origins (like "https://chat.example.org") whose pages may open a '
        "WebSocket; the page's own origin is always allowed, others get HTTP 403. "
        '"*" allows any. Connections without an Origin header (non-browsers) are allowed.',
        check=_check_origin,
    )
    trusted_proxies: tuple[str, ...] = _key(
        (),
        help="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For or "
        "Forwarded header gives the client's address (and X-Forwarded-Proto whether it "
        "used TLS). Others' headers are ignored.",
        check=_check_cidr,
    )
    ping_interval: float = _key(
        30.0,
        help="Seconds between WebSocket pings on an idle connection, which keep proxies "
        "from closing it; a connection that has not answered the previous ping is closed.",
        gt=0,
    )


@dataclass(frozen=True)
class StorageSection:
    """[storage]: where persistent state lives."""

    path: str = _key(
        f"ircpsyc-data/{DATA_FILE_NAME}",
        help="SQLite database file (accounts, channels, history). Its folder is "
        "created if missing.",
        path=True,
    )


def _check_ipv6_prefix(value: int) -> str | None:
    return None if 1 <= value <= 128 else "must be from 1 to 128"


@dataclass(frozen=True)
class LimitsSection:
    """[limits]: sizes, counts and timers."""

    nicklen: int = _key(30, help="Longest nickname, in characters (NICKLEN).", ge=1)
    channellen: int = _key(50, help="Longest channel name, in characters (CHANNELLEN).", ge=1)
    topiclen: int = _key(390, help="Longest topic, in bytes (TOPICLEN).", ge=1)
    kicklen: int = _key(390, help="Longest kick reason, in bytes (KICKLEN).", ge=1)
    awaylen: int = _key(390, help="Longest away message, in bytes (AWAYLEN).", ge=1)
    max_clients: int = _key(
        10000,
        help="Most registered clients at once; connections still registering count "
        "against max_unregistered instead.",
        ge=1,
    )
    max_unregistered: int = _key(
        1000,
        help="Most connections at once that have not registered yet, TLS handshakes "
        "included; when full, a newcomer displaces the oldest one of the address that "
        "holds the most.",
        ge=1,
    )
    max_per_ip: int = _key(
        32,
        help="Most client connections from one address (IPv6: one ipv6_prefix network), "
        "counted from the moment they are accepted, before any TLS handshake.",
        ge=1,
    )
    ipv6_prefix: int = _key(
        64,
        help="Per-address limits count an IPv6 address as its network of this many bits "
        "(one subscriber usually holds a /64 or more); IPv4-mapped addresses count as IPv4.",
        check=_check_ipv6_prefix,
    )
    tls_handshake_timeout: float = _key(
        10.0, help="Seconds a TLS connection may take to finish its handshake.", gt=0
    )
    max_channels: int = _key(50, help="Most channels one user may be in (CHANLIMIT).", ge=1)
    max_bans: int = _key(100, help="Most entries in one channel's ban list (MAXLIST).", ge=1)
    max_targets: int = _key(4, help="Most targets of one PRIVMSG or NOTICE (TARGMAX).", ge=1)
    sendq_bytes: int = _key(
        262144,
        help="Bytes queued to a client before it is dropped with 'SendQ exceeded'.",
        ge=1,
    )
    flood_burst: int = _key(10, help="Lines a client may send at once before throttling.", ge=1)
    flood_rate: float = _key(
        4.0,
        help="Lines per second the flood allowance refills; 0 turns flood control off.",
        ge=0,
    )
    registration_timeout: float = _key(
        30.0, help="Seconds a connection may take to register (NICK and USER).", gt=0
    )
    first_line_timeout: float = _key(
        10.0,
        help="Seconds a new connection may stay silent (send no line) before it is closed.",
        gt=0,
    )
    ping_interval: float = _key(
        120.0, help="Seconds of client silence before the server sends PING.", gt=0
    )
    ping_timeout: float = _key(
        60.0, help="Seconds to wait for the PONG before disconnecting.", gt=0
    )
    resolve_hostnames: bool = _key(
        True,
        help="Look up each client's host name (reverse DNS, confirmed by a forward lookup "
        "that must give the address back), so K-lines, oper blocks and bans can name hosts. "
        "Loopback is localhost without a lookup. The cloak (+x) is still what others see.",
    )
    resolve_timeout: float = _key(
        3.0,
        help="Seconds registration waits at most for the host name lookup; then the "
        "address is used.",
        gt=0,
    )


@dataclass(frozen=True)
class HistorySection:
    """[history]: what channels and private conversations keep, and the replay on JOIN."""

    enabled: bool = _key(
        True,
        help="Keep channel and private-message history (CHATHISTORY, replay on JOIN).",
    )
    max_per_channel: int = _key(
        1000,
        help="Most events kept per channel, and per private conversation; older ones are deleted.",
        ge=1,
    )
    max_age_days: float = _key(
        30.0, help="Days an event is kept; 0 keeps events until max_per_channel drops them.", ge=0
    )
    join_replay: int = _key(
        10,
        help="Messages replayed to a client that joins a channel, as a chathistory batch "
        "with server-time (only to clients with batch and server-time that did not ask "
        "for draft/chathistory); 0 turns the replay off.",
        ge=0,
    )
    join_replay_plain: bool = _key(
        False,
        help="Also replay to clients without batch and server-time, as NOTICE lines "
        "that start with the time of each message.",
    )
    autoreplay_lines: int = _key(
        50,
        help="Most lines per channel or correspondent replayed, without asking, to a "
        "logged-in client of what its device (the client id of `account@device`, else "
        "the account's last disconnect) has not seen: a chathistory batch with "
        "server-time, or for clients without them the original lines with the time "
        "before the text. Clients with draft/chathistory fetch channel lines "
        "themselves. 0 turns it off (join_replay still applies).",
        ge=0,
    )
    chathistory_limit: int = _key(
        100,
        help="Most messages one CHATHISTORY command returns (CHATHISTORY= in RPL_ISUPPORT).",
        ge=1,
    )
    private: bool = _key(
        True,
        help="Keep private messages too (CHATHISTORY with a nick target, and TARGETS).",
    )
    tagmsg_storage: tuple[str, ...] = _key(
        ("+draft/react", "+react", "+draft/reply", "+reply"),
        help="A TAGMSG is kept in history when it carries one of these client-only tags "
        "(reactions, replies); others, like +typing, are not kept. Empty: no TAGMSG is kept.",
    )
    redact_window: float = _key(
        3600.0,
        help="Seconds during which the sender of a channel line may take it back "
        "(REDACT, draft/message-redaction); channel operators and IRC operators may "
        "always; 0 leaves it to them alone.",
        ge=0,
    )


@dataclass(frozen=True)
class AwaylogSection:
    """[awaylog]: what a registered account missed while away or offline."""

    enabled: bool = _key(
        True,
        help="Record private messages to an away or offline registered account, and "
        "channel messages that mention its nick, and replay them when it returns.",
    )
    max_entries: int = _key(200, help="Most entries kept per account.", ge=1)
    max_age_days: float = _key(
        30.0, help="Days an entry is kept; 0 keeps entries until max_entries drops them.", ge=0
    )


ALWAYS_ON_POLICIES = ("opt-in", "opt-out", "mandatory", "disabled")


def _check_always_on(value: str) -> str | None:
    if value not in ALWAYS_ON_POLICIES:
        return "must be one of " + ", ".join(f'"{p}"' for p in ALWAYS_ON_POLICIES)
    return None


@dataclass(frozen=True)
class AccountsSection:
    """[accounts]: a person of an account: several connections (multiclient), and
    staying online with none (always-on)."""

    multiclient: bool = _key(
        True,
        help="A connection that logs in (SASL, or PASS account:password) to an account whose "
        "person is online here becomes one more session of it: same nick, same channels, "
        "what one session says is copied to the others (an account may turn it off with "
        "NickServ SET MULTICLIENT OFF).",
    )
    max_sessions: int = _key(
        10, help="Most connections one account's person may have at once.", ge=1
    )
    always_on: str = _key(
        "opt-out",
        help="Whether a logged-in account's person stays online when its last connection "
        'leaves (keeping its nick and channels, and what it is sent): "opt-out" (yes, unless '
        'the account says NickServ SET ALWAYS-ON OFF), "opt-in" (only after SET ALWAYS-ON '
        'ON), "mandatory" (always; SET ALWAYS-ON is refused) or "disabled" (never).',
        check=_check_always_on,
    )
    always_on_expire: float = _key(
        30.0,
        help="Days an always-on person with no connection stays online; then it quits. "
        "0 keeps it until it is ended (NickServ LOGOUT, DROP, GHOST or KILL).",
        ge=0,
    )
    auto_away: bool = _key(
        True,
        help='An always-on person with no connection is shown away ("Disconnected") until '
        "a connection attaches to it again.",
    )


def _check_guest_prefix(value: str) -> str | None:
    if not re.match(r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,19}$", value):
        return "must be 1 to 20 nickname characters, not starting with a digit or '-'"
    return None


@dataclass(frozen=True)
class ServicesSection:
    """[services]: accounts (NickServ), SASL, nick protection and ChanServ."""

    nick_grace: float = _key(
        30.0,
        help="Seconds a user may keep a registered nick without logging in to its account "
        "before being renamed to a guest nick (unless the account set ENFORCE OFF).",
        ge=0,
    )
    guest_prefix: str = _key(
        "Guest",
        help="Guest nicks are this prefix followed by digits, e.g. Guest12345.",
        check=_check_guest_prefix,
    )
    enforce_default: bool = _key(
        True, help="Nick protection (NickServ SET ENFORCE) of newly registered accounts."
    )
    login_attempts: int = _key(
        5,
        help="Login attempts allowed from one IP address (IPv6: one /64), whatever the "
        "accounts, within login_window; an attempt counts from when it starts, a "
        "successful one is taken back. Further attempts are refused, before the password "
        "is checked, until older ones expire.",
        ge=1,
    )
    login_account_attempts: int = _key(
        50,
        help="Login attempts allowed per account from all addresses together within "
        "login_window (against guessing from many addresses). The owner's known ways in "
        "do not count and are never refused by it: an address the account logged in from "
        "within 30 days, and its TLS client certificates.",
        ge=1,
    )
    login_window: float = _key(60.0, help="Seconds over which login attempts are counted.", gt=0)
    password_min_length: int = _key(
        8,
        help="Fewest characters of a new account password (REGISTER, NickServ REGISTER and "
        "SET PASSWORD); a password equal to the account name is refused too.",
        ge=1,
    )
    register_per_ip_per_hour: int = _key(
        10,
        help="Account registrations (REGISTER, NickServ REGISTER) started per IP address "
        "within an hour; further ones are refused before the password is hashed. 0: no limit.",
        ge=0,
    )
    scram_iterations: int = _key(
        4096,
        help="PBKDF2 iterations of the SCRAM-SHA-256 keys made when a password is set.",
        ge=4096,
    )
    registration_before_connect: bool = _key(
        True,
        help="Allow the IRCv3 REGISTER command before connection registration completes.",
    )
    registration_email_required: bool = _key(
        False, help="Registrations (REGISTER, NickServ REGISTER) must give an e-mail address."
    )
    require_account: bool = _key(
        False,
        help="Connections must log in to an account (SASL, or REGISTER before connecting) "
        "before registration completes; others get FAIL * ACCOUNT_REQUIRED and are "
        "closed. Advertised as ACCOUNTREQUIRED in 005.",
    )
    chanserv_max_channels: int = _key(
        20, help="Most channels one account may found (ChanServ REGISTER and TRANSFER).", ge=1
    )
    chanserv_max_access: int = _key(
        100, help="Most entries (ranks and bans) on the ChanServ access list of a channel.", ge=1
    )
    network_timeout: float = _key(
        10.0,
        help="With linked servers: seconds to wait for an account's home server to answer a "
        "registration or change before telling the user to try again later.",
        gt=0,
    )
    account_tombstone_days: float = _key(
        30.0,
        help="With linked servers: days a dropped account is remembered (its name, "
        "registration time, when and where it was dropped), so that copies on servers "
        "that were away delete it too instead of giving it back to its home.",
        gt=0,
    )


def _check_secret(value: str) -> str | None:
    if len(value) < 16:
        return "must be at least 16 characters (the same on both servers)"
    return None


def _check_fingerprint(value: str) -> str | None:
    digits = value.replace(":", "").lower()
    if value and (len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits)):
        return "must be a SHA-256 fingerprint: 64 hex digits, colons allowed"
    return None


def _check_pins(value: dict[str, str]) -> str | None:
    for channel, server in value.items():
        if not channel.startswith("#") or len(channel) < 2 or any(c in channel for c in " ,:"):
            return f'{channel!r} is not a channel name like "#ops"'
        reason = _check_server_name(server)
        if reason is not None:
            return f"{channel}: {reason}"
    return None


@dataclass(frozen=True)
class NetworkSection:
    """[network]: the servers that form one IRC network with this one (see [[links]])."""

    servers: tuple[str, ...] = _key(
        (),
        help="Names of every server of the network: the home of a channel is chosen among "
        "them by hashing its name, so the list must be the same on every server. Empty "
        "means this server and the names in [[links]], which is only right when every "
        "server links to every other one.",
        check=_check_server_name,
    )
    split_grace: float = _key(
        15.0,
        help="Seconds a server may stay unreachable before its users leave the channels "
        "(QUIT with a netsplit reason); a link that comes back sooner loses nothing.",
        ge=0,
    )
    ping_interval: float = _key(
        15.0, help="Seconds of silence on a server link before a ping is sent.", gt=0
    )
    ping_timeout: float = _key(
        60.0, help="Seconds of silence after which a server link is dropped.", gt=0
    )
    reconnect_min: float = _key(
        1.0, help="First delay, in seconds, before a lost link is dialled again.", gt=0
    )
    reconnect_max: float = _key(
        60.0,
        help="Longest delay between two attempts to dial a link; the delay doubles up to it.",
        gt=0,
    )
    queue_max: int = _key(
        100000,
        help="Packets kept per link until the peer acknowledges them (and while the link "
        "is down); beyond it the oldest are dropped and the peer resynchronises.",
        ge=1,
    )
    resync_buffer: int = _key(
        1000,
        help="Recent casts a channel home keeps to replay to a server that missed some; "
        "older gaps are repaired by sending the whole channel state.",
        ge=0,
    )
    request_timeout: float = _key(
        5.0,
        help="Seconds to wait for another server to answer a request made for a client "
        "(CHATHISTORY or the replay on JOIN of a channel homed there, NAMES or WHO of a "
        "channel without local members, an operator's KILL or SAJOIN/SAPART/SANICK of a "
        "user there, VERSION/MOTD/TIME/ADMIN/INFO of that server, a TOPIC, MODE or "
        "METADATA change, an INVITE or a KICK in a channel homed there); then "
        "CHATHISTORY fails with MESSAGE_ERROR, the server queries with 402 and the "
        "changes with FAIL TEMPORARILY_UNAVAILABLE.  The echo of a line "
        "in a channel homed there waits at most three times this for the home to say "
        "the line is committed.",
        gt=0,
    )


def _check_federation_host(value: str) -> str | None:
    """A [federation] host entry: `*`, a host name, `*.` and a domain, an address or a
    network (CIDR)."""
    if value == "*":
        return None
    if "/" in value or ":" in value or value.replace(".", "").isdigit():
        try:
            ipaddress.ip_network(value.strip("[]"), strict=False)
        except ValueError:
            return f"{value!r} is not an address or network, like 10.0.0.0/8 or ::1"
        return None
    name = value[2:] if value.startswith("*.") else value
    if not name or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        return (
            f'{value!r} must be "*", a host name ("psyced.example.org"), "*." and a '
            'domain ("*.example.org"), an address or a network (CIDR)'
        )
    return None


@dataclass(frozen=True)
class FederationSection:
    """[federation]: PSYC servers outside the network (psyced, other ircpsyc networks)."""

    enabled: bool = _key(
        True,
        help="Federate with PSYC servers outside the network: users join "
        "#psyc://HOST[:PORT]/@place and message psyc://HOST[:PORT]/~nick, which makes "
        "this server open a circuit to HOST, and such servers may call listen.psyc. "
        "Off: neither (a JOIN of such a channel gets 403, a message 401).",
    )
    allow_hosts: tuple[str, ...] = _key(
        (),
        help='The only foreign hosts federated with, both ways: "*" (any host), host names '
        '("psyced.example.org"), "*." and a domain ("*.example.org"), addresses or '
        "networks (CIDR, matched against the address a name resolves to or a caller comes "
        "from). Empty: any host not in deny_hosts.",
        check=_check_federation_host,
        example=["*", "10.1.2.3"],
    )
    deny_hosts: tuple[str, ...] = _key(
        (),
        help="Foreign hosts never federated with, in the forms of allow_hosts; they win "
        "over allow_hosts. A denied server that calls is refused with "
        "_error_illegal_source.",
        check=_check_federation_host,
    )
    dial_private: bool = _key(
        False,
        help="Let users make this server dial loopback, private (RFC 1918, fc00::/7), "
        "link-local, shared and other non-public addresses, named in a uniform or "
        "resolved from its host name. Off, only public addresses are dialled, and those "
        'named by an allow_hosts entry other than "*", so that IRC users cannot make '
        "the server connect into the operator's own network. Servers that call this "
        "one are not concerned.",
    )
    verify_tls: bool = _key(
        True,
        help="Check the certificate of a foreign server dialled with TLS "
        "(psyc://HOST:PORTs/, the s after the port) against the system's certificate "
        "authorities and HOST. Off: any certificate (the server is still trusted only "
        "for its own host's uniforms, by its address).",
    )


@dataclass(frozen=True)
class ChannelsSection:
    """[channels]: network-wide channel settings."""

    pin: dict[str, str] = _key(  # noqa: RUF009  (a field() with a default factory)
        help="Channels whose home is a given server instead of the hashed one, as a table "
        'of channel = server, e.g. [channels.pin] "#ops" = "hub.example.org".',
        check=_check_pins,
        factory=dict,
    )


def _check_cloak_secret(value: str) -> str | None:
    if value and len(value) < 16:
        return "must be empty (generated and kept in the store) or at least 16 characters"
    return None


def _check_cloak_suffix(value: str) -> str | None:
    labels = value.split(".")
    if not value or not all(_HOST_LABEL.match(label) for label in labels):
        return 'must be one or more host name labels, like "ip" or "users.example.org"'
    return None


@dataclass(frozen=True)
class CloaksSection:
    """[cloaks]: host cloaking, user mode +x (ircpsyc.ircd.cloak)."""

    enabled: bool = _key(
        True,
        help="Offer user mode +x, which shows a keyed hash of the user's address instead "
        "of the address. Off: +x is refused and every user shows its address.",
    )
    set_on_connect: bool = _key(
        True,
        help="Give every IRC connection +x as it registers (users may still -x).",
    )
    secret: str = _key(
        "",
        help="Key of the cloak hash. Empty: one is generated once and kept in the store, "
        "so cloaks stay the same across restarts. Every server of a network must have the "
        "same secret, or a user's cloak differs from server to server. Changing it changes "
        "every cloak (and so voids bans on cloaks).",
        check=_check_cloak_secret,
    )
    suffix: str = _key(
        "ip",
        help='Last label(s) of every cloak, e.g. "ip" gives 1a2b3c4d.5e6f7a8b.9c0d1e2f.ip.',
        check=_check_cloak_suffix,
    )


@dataclass(frozen=True)
class LinkEntry:
    """One [[links]] table: a server this one links to directly."""

    name: str = _key(
        help="The peer's server name (its server.name).",
        check=_check_server_name,
        example="hub.example.org",
    )
    secret: str = _key(
        help="Shared secret of this link, the same on both servers: each side proves it "
        "knows it (HMAC-SHA256 over fresh challenges) before anything else is accepted.",
        check=_check_secret,
        example="a long random string shared by both servers",
    )
    address: str = _key(
        "",
        help="HOST:PORT of the peer's listen.psyc (or listen.psyc_tls with tls); empty "
        "means this server never dials it and waits for the peer to connect.",
        check=lambda v: _check_hostport(v) if v else None,
    )
    tls: bool = _key(False, help="Dial the peer with TLS (its listen.psyc_tls).")
    fingerprint: str = _key(
        "",
        help="With tls: the SHA-256 fingerprint of the peer's certificate, checked when "
        "dialling; empty accepts any certificate (the secret still authenticates).",
        check=_check_fingerprint,
    )


@dataclass(frozen=True)
class WebircEntry:
    """One [[webirc]] table: an external web gateway trusted to say who its users are."""

    password_hash: str = _key(
        help="argon2 hash (from `ircpsyc mkpasswd`) of the password the gateway sends with WEBIRC.",
        check=_check_password_hash,
        example="$argon2id$v=19$m=65536,t=3,p=4$...",
    )
    hosts: tuple[str, ...] = _key(
        help="Addresses or networks (CIDR) the gateway connects from; WEBIRC from "
        "anywhere else is refused.",
        check=_check_cidr,
        example=["127.0.0.1"],
    )
    name: str = _key(
        "",
        help="The gateway's name as it sends it in WEBIRC; empty accepts any name.",
    )


@dataclass(frozen=True)
class OperEntry:
    """One [[opers]] table: credentials for the OPER command."""

    name: str = _key(help="Name given to OPER.", check=_check_oper_name, example="admin")
    password_hash: str = _key(
        help="argon2 hash of the password, from `ircpsyc mkpasswd`.",
        check=_check_password_hash,
        example="$argon2id$v=19$m=65536,t=3,p=4$...",
    )
    hostmask: str = _key(
        "*@*",
        help="user@host mask the operator must connect from (* and ? are wildcards).",
        check=_check_hostmask,
    )
    oper_class: str = _key(
        "",
        help="Name of the [[oper_classes]] table that grants this operator's privileges; "
        "empty grants every privilege.",
    )


@dataclass(frozen=True)
class OperClassEntry:
    """One [[oper_classes]] table: a named set of operator privileges."""

    name: str = _key(
        help="Name of the class, given as oper_class in [[opers]].",
        check=_check_oper_name,
        example="helper",
    )
    privileges: tuple[str, ...] = _key(
        (),
        help="What operators of this class may do: " + ", ".join(OPER_PRIVILEGES) + ".",
        check=_check_privilege,
    )
    snomasks: str = _key(
        "",
        help="Server notices (user mode +s) switched on at OPER, as letters of "
        f"{SNOMASK_LETTERS}; empty: none until the operator sets +s.",
        check=_check_snomasks,
    )


def _check_channel(value: str) -> str | None:
    if not value.startswith("#") or len(value) < 2 or any(c in value for c in " ,\x07:"):
        return f'{value!r} is not a channel name like "#chat"'
    return None


def _check_room(value: str) -> str | None:
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "/" in value or any(c.isspace() for c in value):
        return f"{value!r} is not a bare room JID like room@conference.example.org"
    return None


@dataclass(frozen=True)
class XmppBridgeEntry:
    """One [[xmpp.bridge]] table: a channel linked to a MUC room on another XMPP server."""

    channel: str = _key(
        help="The IRC channel; this server must be its home.",
        check=_check_channel,
        example="#chat",
    )
    room: str = _key(
        help="The bare JID of the existing MUC room, e.g. chat@conference.example.org.",
        check=_check_room,
        example="chat@conference.example.org",
    )


@dataclass(frozen=True)
class XmppSection:
    """[xmpp]: the Jabber MUC gateway, an XEP-0114 component of an XMPP server."""

    enabled: bool = _key(
        False,
        help="Run the gateway: every channel #name is also the XMPP room name@domain.",
    )
    domain: str = _key(
        "",
        help="The component's domain, as declared in the XMPP server (e.g. Prosody's "
        'Component "irc.example.org"). Required when enabled.',
    )
    server: str = _key(
        "127.0.0.1:5347",
        help="HOST:PORT of the XMPP server's component port.",
        check=_check_hostport,
    )
    secret: str = _key(
        "",
        help="The component secret shared with the XMPP server. Required when enabled.",
    )
    name: str = _key(
        "IRC channels",
        help="The name of the service in XMPP service discovery.",
        check=_check_single_line,
    )
    history: int = _key(
        20,
        help="Messages of the channel's history a joining XMPP user gets (the client may "
        "ask for fewer); 0 sends none.",
        ge=0,
    )
    grace: float = _key(
        30.0,
        help="Seconds XMPP users stay in their channels while the XMPP server is "
        "unreachable; what is said meanwhile is delivered when it is back.",
        ge=0,
    )
    reconnect_max: float = _key(
        30.0,
        help="The delay between attempts to reach the XMPP server doubles from half a "
        "second up to this many seconds.",
        gt=0,
    )
    bridge: tuple[XmppBridgeEntry, ...] = _key(
        (),
        help="Relay mode: channels linked to existing MUC rooms on other XMPP servers, "
        "one [[xmpp.bridge]] table each, with channel and room.",
    )


@dataclass(frozen=True)
class Config:
    """The whole configuration. Each field but `source` is one TOML section."""

    server: ServerSection = field(
        default_factory=ServerSection, metadata={"help": "Identity of this server."}
    )
    listen: ListenSection = field(
        default_factory=ListenSection, metadata={"help": "Where clients connect."}
    )
    tls: TlsSection = field(
        default_factory=TlsSection,
        metadata={"help": "Certificate and key for listen.irc_tls and listen.web_tls."},
    )
    web: WebSection = field(
        default_factory=WebSection,
        metadata={"help": "IRC over WebSocket and the built-in web client."},
    )
    storage: StorageSection = field(
        default_factory=StorageSection, metadata={"help": "Persistent storage."}
    )
    limits: LimitsSection = field(
        default_factory=LimitsSection, metadata={"help": "Limits and timers."}
    )
    history: HistorySection = field(
        default_factory=HistorySection, metadata={"help": "Channel and private history."}
    )
    awaylog: AwaylogSection = field(
        default_factory=AwaylogSection,
        metadata={"help": "The away log: what an account missed while it was away."},
    )
    accounts: AccountsSection = field(
        default_factory=AccountsSection,
        metadata={
            "help": "A person of an account: several connections (multiclient), and "
            "staying online with none (always-on)."
        },
    )
    services: ServicesSection = field(
        default_factory=ServicesSection,
        metadata={"help": "Accounts (NickServ), SASL and nick protection."},
    )
    network: NetworkSection = field(
        default_factory=NetworkSection,
        metadata={"help": "The network of linked servers."},
    )
    channels: ChannelsSection = field(
        default_factory=ChannelsSection, metadata={"help": "Network-wide channel settings."}
    )
    cloaks: CloaksSection = field(
        default_factory=CloaksSection, metadata={"help": "Host cloaking (user mode +x)."}
    )
    federation: FederationSection = field(
        default_factory=FederationSection,
        metadata={"help": "PSYC servers outside the network (psyced, other ircpsyc networks)."},
    )
    links: tuple[LinkEntry, ...] = field(
        default_factory=tuple,
        metadata={
            "help": "Server links: one [[links]] table per server this one links to "
            "directly (PSYC over TCP, authenticated by a shared secret)."
        },
    )
    oper_classes: tuple[OperClassEntry, ...] = field(
        default_factory=tuple,
        metadata={
            "help": "Operator classes: named sets of privileges that [[opers]] refer to "
            "with oper_class."
        },
    )
    xmpp: XmppSection = field(
        default_factory=XmppSection,
        metadata={"help": "The Jabber MUC gateway (XEP-0114 component)."},
    )
    webirc: tuple[WebircEntry, ...] = field(
        default_factory=tuple,
        metadata={
            "help": "Web gateways (Kiwi IRC, gamja behind webircgateway, ...) allowed to "
            "pass on their users' addresses with WEBIRC; one [[webirc]] table each."
        },
    )
    opers: tuple[OperEntry, ...] = field(
        default_factory=tuple,
        metadata={
            "help": "IRC operators. Add one [[opers]] table per operator; make the password "
            "hash with `ircpsyc mkpasswd`."
        },
    )
    # Where this came from: the file path as given, or "<defaults>".
    source: str = field(default=DEFAULTS_SOURCE, metadata={"internal": True})


# --- schema introspection ----------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _element_type(tp: Any) -> Any | None:
    """For ``tuple[X, ...]`` return X, else None."""
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def _is_section(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def _sections() -> Iterator[tuple[dataclasses.Field[Any], type, bool]]:
    """Yield (field, section class, is_array) for each section of Config."""
    hints = _hints(Config)
    for f in dataclasses.fields(Config):
        if f.metadata.get("internal"):
            continue
        tp = hints[f.name]
        elem = _element_type(tp)
        if elem is not None and _is_section(elem):
            yield f, elem, True
        elif _is_section(tp):
            yield f, tp, False
        else:  # pragma: no cover - a schema bug, caught by the tests
            raise TypeError(f"Config.{f.name} is neither a section nor an array of sections")


def _type_name(tp: Any) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in names:
        return names[tp]
    elem = _element_type(tp)
    if elem is not None:
        return "array of tables" if _is_section(elem) else f"array of {_type_name(elem)}s"
    if _is_section(tp):
        return "table"
    if typing.get_origin(tp) is dict:
        return f"table of {_type_name(typing.get_args(tp)[1])}s"
    raise TypeError(f"unsupported config type {tp!r}")  # pragma: no cover


def _value_type_name(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    for tp, name in (
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
    ):
        if isinstance(value, tp):
            return name
    return "date/time"


@dataclass(frozen=True)
class KeyInfo:
    """Description of one config key, for documentation and tests."""

    section: str
    name: str
    type_name: str
    default: Any  # dataclasses.MISSING when the key is required
    help: str
    array_section: bool  # the key belongs to an array of tables like [[opers]]
    constraint: str  # e.g. "at least 1", or ""

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def _constraint(meta: Any) -> str:
    if meta.get("ge") is not None:
        return f"at least {meta['ge']:g}"
    if meta.get("gt") is not None:
        return f"greater than {meta['gt']:g}"
    return ""


def schema_keys() -> list[KeyInfo]:
    """Every key of the schema, in file order."""
    out: list[KeyInfo] = []
    for sf, cls, is_array in _sections():
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            out.append(
                KeyInfo(
                    section=sf.name,
                    name=f.name,
                    type_name=_type_name(hints[f.name]),
                    default=_default(f),
                    help=f.metadata["help"],
                    array_section=is_array,
                    constraint=_constraint(f.metadata),
                )
            )
    return out


# --- loading -----------------------------------------------------------------


def _unknown(file: str, key: str, name: str, known: typing.Iterable[str]) -> ConfigError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(file, key, f"unknown key{hint}")


def _convert(tp: Any, value: Any, file: str, key: str) -> Any:
    """Check `value` from TOML against type `tp`, returning it in schema form."""
    ok = False
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        # Integers are fine for floats ("30" seconds), booleans are not.
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(file, key, "must be a finite number")
            return float(value)
    elif tp is str:
        ok = isinstance(value, str)
    elif (elem := _element_type(tp)) is not None and isinstance(value, list):
        return tuple(_convert(elem, v, file, f"{key}[{i}]") for i, v in enumerate(value))
    elif _is_section(tp) and isinstance(value, dict):  # e.g. the tables of [[xmpp.bridge]]
        return _build_section(tp, value, file, key, "")
    elif typing.get_origin(tp) is dict and isinstance(value, dict):
        elem = typing.get_args(tp)[1]
        return {str(k): _convert(elem, v, file, f"{key}.{k}") for k, v in value.items()}
    if ok:
        return value
    raise ConfigError(file, key, f"expected {_type_name(tp)}, got {_value_type_name(value)}")


def _resolve(path: str, base: str) -> str:
    if not path:
        return path
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def _build_section(cls: type, raw: Any, file: str, key: str, base: str) -> Any:
    """Validate one TOML table against section class `cls` and instantiate it."""
    if not isinstance(raw, dict):
        raise ConfigError(file, key, f"expected table, got {_value_type_name(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    errors: list[ConfigError] = []
    for name in raw:
        if name not in fields:
            errors.append(_unknown(file, f"{key}.{name}", name, fields))
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        try:
            values[name] = _build_value(f, hints[name], raw, file, f"{key}.{name}", base)
        except ConfigError as error:
            errors.extend(error.all)
    ConfigError.raise_first(errors)
    return cls(**values)


def _build_value(
    f: dataclasses.Field[Any], hint: Any, raw: dict[str, Any], file: str, fkey: str, base: str
) -> Any:
    """One key of a section: converted, range-checked, checked and resolved."""
    if f.name in raw:
        value = _convert(hint, raw[f.name], file, fkey)
    elif (default := _default(f)) is not dataclasses.MISSING:
        value = default
    else:
        raise ConfigError(file, fkey, "missing required key")
    meta = f.metadata
    # Numbers: generic range checks.
    if isinstance(value, int | float) and not isinstance(value, bool):
        if meta["ge"] is not None and value < meta["ge"]:
            raise ConfigError(file, fkey, f"must be at least {meta['ge']:g}, got {value}")
        if meta["gt"] is not None and value <= meta["gt"]:
            raise ConfigError(file, fkey, f"must be greater than {meta['gt']:g}, got {value}")
    check: Check | None = meta["check"]
    if check is not None:
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        errors = [
            ConfigError(file, fkey if i is None else f"{fkey}[{i}]", reason)
            for i, item in items
            if (reason := check(item)) is not None
        ]
        ConfigError.raise_first(errors)
    if meta["path"]:
        value = _resolve(value, base)
    return value


def _from_dict(raw: dict[str, Any], file: str, base: str) -> Config:
    sections = {f.name: (f, cls, is_array) for f, cls, is_array in _sections()}
    values: dict[str, Any] = {}
    errors = [_unknown(file, name, name, sections) for name in raw if name not in sections]
    for name, (_f, cls, is_array) in sections.items():
        try:
            values[name] = _build_sections(cls, is_array, raw, name, file, base)
        except ConfigError as error:
            errors.extend(error.all)
    ConfigError.raise_first(errors)
    return Config(**values, source=file)


def _build_sections(
    cls: type, is_array: bool, raw: dict[str, Any], name: str, file: str, base: str
) -> Any:
    """A section, or the tuple of an array of tables ([[name]])."""
    if not is_array:
        return _build_section(cls, raw.get(name, {}), file, name, base)
    items = raw.get(name, [])
    if not isinstance(items, list):
        raise ConfigError(
            file, name, f"expected array of tables ([[{name}]]), got {_value_type_name(items)}"
        )
    built, errors = [], []
    for i, item in enumerate(items):
        try:
            built.append(_build_section(cls, item, file, f"{name}[{i}]", base))
        except ConfigError as error:
            errors.extend(error.all)
    ConfigError.raise_first(errors)
    return tuple(built)


def _apply_overrides(cfg: Config, ov: Overrides) -> Config:
    src = COMMAND_LINE_SOURCE
    if ov.listen:
        for i, entry in enumerate(ov.listen):
            reason = _check_hostport(entry)
            if reason is not None:
                raise ConfigError(src, f"listen.irc[{i}]", reason)
        cfg = dataclasses.replace(cfg, listen=dataclasses.replace(cfg.listen, irc=ov.listen))
    if ov.data_dir is not None:
        path = os.path.abspath(os.path.join(os.path.expanduser(ov.data_dir), DATA_FILE_NAME))
        cfg = dataclasses.replace(cfg, storage=dataclasses.replace(cfg.storage, path=path))
    if ov.name is not None:
        reason = _check_server_name(ov.name)
        if reason is not None:
            raise ConfigError(src, "server.name", reason)
        cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, name=ov.name))
    return cfg


def _read_motd_file(cfg: Config) -> Config:
    path = cfg.server.motd_file
    if not path:
        return cfg
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(
            cfg.source, "server.motd_file", f"cannot read {path}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(cfg.source, "server.motd_file", f"{path} is not UTF-8 text") from None
    # Trailing newlines would show as empty MOTD lines.
    motd = text.rstrip("\r\n")
    return dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, motd=motd))


def _check_readable(file: str, key: str, path: str) -> Iterator[ConfigError]:
    if not os.path.isfile(path):
        yield ConfigError(file, key, f"no such file: {path}")
    if not os.access(path, os.R_OK):
        yield ConfigError(file, key, f"cannot read {path}: permission denied")


def _cross_checks(cfg: Config) -> Iterator[ConfigError]:
    """Rules that span keys or sections."""
    src = cfg.source
    if not cfg.listen.irc and not cfg.listen.irc_tls:
        yield ConfigError(src, "listen.irc", "no listeners: set listen.irc or listen.irc_tls")
    seen_addr: dict[tuple[str, int], str] = {}
    for field_name in ("irc", "irc_tls", "web", "web_tls", "irc_proxy", "web_proxy"):
        for i, entry in enumerate(getattr(cfg.listen, field_name)):
            addr = parse_hostport(entry)
            where = f"listen.{field_name}[{i}]"
            # Port 0 means "any free port", so repeating it is fine.
            if addr[1] != 0 and addr in seen_addr:
                yield ConfigError(src, where, f"{entry!r} is already used by {seen_addr[addr]}")
            seen_addr[addr] = where
    tls = cfg.tls
    tls_listener = "listen.irc_tls" if cfg.listen.irc_tls else "listen.web_tls"
    if cfg.listen.irc_tls or cfg.listen.web_tls:
        if not tls.cert:
            yield ConfigError(src, "tls.cert", f"required when {tls_listener} is set")
        if not tls.key:
            yield ConfigError(src, "tls.key", f"required when {tls_listener} is set")
    unreadable = [
        *(_check_readable(src, "tls.cert", tls.cert) if tls.cert else ()),
        *(_check_readable(src, "tls.key", tls.key) if tls.key else ()),
    ]
    yield from unreadable
    if unreadable:
        pass
    elif tls.cert and tls.key:
        # Load the pair now so a bad PEM or mismatched key is a config error,
        # reported by check-config, not a crash when the listener starts.
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert, tls.key)
        except (ssl.SSLError, OSError) as exc:
            yield ConfigError(src, "tls.cert", f"cannot load certificate and key: {exc}")
    elif tls.cert or tls.key:
        missing = "tls.key" if tls.cert else "tls.cert"
        present = "tls.cert" if tls.cert else "tls.key"
        yield ConfigError(src, missing, f"required when {present} is set")
    seen: dict[str, int] = {}
    for i, oper in enumerate(cfg.opers):
        folded = oper.name.casefold()
        if folded in seen:
            yield ConfigError(
                src,
                f"opers[{i}].name",
                f"duplicate oper name {oper.name!r} (see opers[{seen[folded]}])",
            )
        seen[folded] = i
    classes: dict[str, int] = {}
    for i, oper_class in enumerate(cfg.oper_classes):
        folded = oper_class.name.casefold()
        if folded in classes:
            yield ConfigError(
                src,
                f"oper_classes[{i}].name",
                f"duplicate class name {oper_class.name!r} (see oper_classes[{classes[folded]}])",
            )
        classes[folded] = i
    for i, oper in enumerate(cfg.opers):
        if oper.oper_class and oper.oper_class.casefold() not in classes:
            known = ", ".join(c.name for c in cfg.oper_classes) or "none are defined"
            yield ConfigError(
                src,
                f"opers[{i}].oper_class",
                f"no [[oper_classes]] table is named {oper.oper_class!r} ({known})",
            )


def network_servers(cfg: Config) -> tuple[str, ...]:
    """The servers channel homes are hashed over: [network] servers, or this one and its links."""
    if cfg.network.servers:
        return cfg.network.servers
    return (cfg.server.name, *(link.name for link in cfg.links))


def _link_checks(cfg: Config) -> Iterator[ConfigError]:
    """Rules for [[links]], [network] and [channels] (server linking)."""
    src = cfg.source
    me = cfg.server.name.lower()
    seen: dict[str, int] = {}
    for i, link in enumerate(cfg.links):
        folded = link.name.lower()
        if folded == me:
            yield ConfigError(src, f"links[{i}].name", "a server cannot link to itself")
        if folded in seen:
            yield ConfigError(
                src, f"links[{i}].name", f"duplicate link {link.name!r} (see links[{seen[folded]}])"
            )
        seen[folded] = i
        if not link.address and not (cfg.listen.psyc_tls if link.tls else cfg.listen.psyc):
            key = "listen.psyc_tls" if link.tls else "listen.psyc"
            yield ConfigError(
                src,
                f"links[{i}].address",
                f"empty, so the peer must dial this server, but {key} is not set",
            )
        if link.fingerprint and not link.tls:
            yield ConfigError(src, f"links[{i}].fingerprint", "only checked with tls = true")
    if cfg.listen.psyc_tls and not (cfg.tls.cert and cfg.tls.key):
        yield ConfigError(src, "tls.cert", "required when listen.psyc_tls is set")
    servers = [name.lower() for name in cfg.network.servers]
    outside = [link.name for link in cfg.links if link.name.lower() not in servers]
    if outside:
        # Each server would hash channel homes over itself and its own links: three
        # servers in a line would each have their own #chan, with no warning.
        yield ConfigError(
            src,
            "network.servers",
            f"must list every server of [[links]] ({', '.join(outside)} missing): "
            "linked servers form one network only when each lists all of them, itself "
            "included (PSYC servers outside the network need no link)",
        )
    if servers and me not in servers:
        yield ConfigError(src, "network.servers", f"must include this server, {cfg.server.name}")
    if len(set(servers)) != len(servers):
        yield ConfigError(src, "network.servers", "lists a server twice")
    known = {name.lower() for name in network_servers(cfg)}
    for channel, server in cfg.channels.pin.items():
        if server.lower() not in known:
            yield ConfigError(
                src,
                f"channels.pin.{channel}",
                f"{server!r} is not one of the network's servers ({', '.join(sorted(known))})",
            )


def _xmpp_checks(cfg: Config) -> Iterator[ConfigError]:
    """Rules for [xmpp] and its [[xmpp.bridge]] tables."""
    src = cfg.source
    xmpp = cfg.xmpp
    if xmpp.enabled:
        if not xmpp.domain:
            yield ConfigError(src, "xmpp.domain", "required when xmpp.enabled is true")
        if not xmpp.secret:
            yield ConfigError(src, "xmpp.secret", "required when xmpp.enabled is true")
    if xmpp.domain:
        reason = _check_server_name(xmpp.domain)
        if reason is not None:
            yield ConfigError(src, "xmpp.domain", reason)
    seen: dict[str, int] = {}
    for i, entry in enumerate(xmpp.bridge):
        folded = entry.channel.lower()
        if folded in seen:
            yield ConfigError(
                src, f"xmpp.bridge[{i}].channel", f"already bridged by xmpp.bridge[{seen[folded]}]"
            )
        seen[folded] = i
        if xmpp.domain and entry.room.lower().endswith("@" + xmpp.domain.lower()):
            yield ConfigError(
                src, f"xmpp.bridge[{i}].room", "is a room of this gateway, not of another server"
            )


def load(path: str | None, overrides: Overrides = Overrides()) -> Config:
    """Load and validate the configuration.

    `path` None means the embedded defaults. Relative paths in the file resolve
    against the file's folder (without a file, against the current directory).
    Command-line `overrides` are applied last. Raises ConfigError.
    """
    if path is None:
        cfg = _from_dict({}, DEFAULTS_SOURCE, os.getcwd())
    else:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(path, "", f"cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(path, "", "not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(path, "", f"TOML syntax error: {exc}") from None
        base = os.path.dirname(os.path.abspath(path))
        cfg = _from_dict(raw, path, base)
    cfg = _apply_overrides(cfg, overrides)
    cfg = _read_motd_file(cfg)
    ConfigError.raise_first([*_cross_checks(cfg), *_link_checks(cfg), *_xmpp_checks(cfg)])
    return cfg


# --- sample file ---------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        out = ['"']
        for c in value:
            if c in '"\\':
                out.append("\\" + c)
            elif c == "\n":
                out.append("\\n")
            elif c == "\t":
                out.append("\\t")
            elif ord(c) < 0x20 or ord(c) == 0x7F:
                out.append(f"\\u{ord(c):04x}")
            else:
                out.append(c)
        out.append('"')
        return "".join(out)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in value.items()]
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot render {value!r} as TOML")  # pragma: no cover


def _comment(text: str, prefix: str = "# ") -> list[str]:
    return textwrap.wrap(
        text, width=78 - len(prefix), initial_indent=prefix, subsequent_indent=prefix
    )


def default_toml() -> str:
    """A commented configuration file listing every key with its default and help."""
    lines = [
        "# ircpsyc configuration (TOML). Every key is shown with its default value;",
        "# delete what you do not change. See ircpsyc.toml(5).",
        "# Relative paths are relative to this file's folder.",
    ]
    for sf, cls, is_array in _sections():
        lines.append("")
        lines.extend(_comment(sf.metadata["help"]))
        hints = _hints(cls)
        if is_array:
            # No default entries: show one commented example.
            lines.append("#")
            lines.append(f"#[[{sf.name}]]")
            for f in dataclasses.fields(cls):
                lines.extend(_key_comment(f, hints[f.name], "## "))
                value = _default(f)
                if value is dataclasses.MISSING:
                    value = f.metadata["example"]
                lines.append(f"#{f.name} = {_toml_value(value)}")
            lines.append("#")
            continue
        lines.append(f"[{sf.name}]")
        for f in dataclasses.fields(cls):
            lines.extend(_key_comment(f, hints[f.name], "# "))
            elem = _element_type(hints[f.name])
            if elem is not None and _is_section(elem):
                # Tables in a section ([[xmpp.bridge]]): a commented example (the last key).
                lines.append(f"#{f.name} = []")
                lines.append(f"#[[{sf.name}.{f.name}]]")
                for sub in dataclasses.fields(elem):
                    example = _default(sub)
                    if example is dataclasses.MISSING:
                        example = sub.metadata["example"]
                    lines.append(f"#{sub.name} = {_toml_value(example)}")
            else:
                lines.append(f"{f.name} = {_toml_value(_default(f))}")
            lines.append("")
    return "\n".join(lines) + "\n"


def _key_comment(f: dataclasses.Field[Any], tp: Any, prefix: str) -> list[str]:
    meta = f.metadata
    kind = _type_name(tp)
    extra = _constraint(meta)
    if extra:
        kind += ", " + extra
    if _default(f) is dataclasses.MISSING:
        kind += ", required"
    return _comment(f"{meta['help']} ({kind})", prefix)
