"""Host cloaking (user mode +x): a keyed hash of the address is shown instead of it.

The cloak of an address is made of three labels and the configured suffix,
like InspIRCd's and UnrealIRCd's:

    IPv4 192.0.2.7     ->  h(192.0.2.7/32).h(192.0.2.0/24).h(192.0.0.0/16).SUFFIX
    IPv6 2001:db8::1   ->  h(…/64).h(…/48).h(…/32).SUFFIX

where `h` is the first 32 bits (8 hex digits) of HMAC-SHA256 under the secret
of the network prefix.  So a cloak never reveals the address, is the same
after every reconnect (and on every server that shares the secret), and a
channel operator who sees only cloaks can still ban a neighbourhood:
`*!*@*.1a2b3c4d.5e6f7a8b.ip` is the /24 (IPv6: the /48).  An IPv6 address is
cloaked by its /64, the block a single subscriber gets, so rotating privacy
addresses do not dodge a ban on the cloak.  Without the secret, nobody can
tell which address a cloak stands for (no brute force over the IPv4 space),
and two networks with different secrets give unrelated cloaks.

`cloak_address` is the pure function; `Cloaks` (one per server, `core.cloaks`)
holds the secret: the configured `[cloaks] secret`, or one generated once and
kept in the store's `meta` table.  It also tells a person cloaked at sign-on
what its host is (MODE +x and 396 in the welcome burst).  Setting and clearing
+x by MODE is in ircpsyc.ircd.commands.channel (`show_host`).

Only IRC connections are cloaked: XMPP gateway users and services show the
host their front-end gives them and never get +x.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import line
from ircpsyc.netaddr import parse_address
from ircpsyc.persons.person import mode_set

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.ircd.ports import Configured, PersonSession
    from ircpsyc.persons.person import Person
    from ircpsyc.store import Store

log = logging.getLogger(__name__)

MODE = "x"
LABEL_HEX = 8  # hex digits per label: 32 bits, unique enough inside its parent block
# Prefix lengths hashed into the labels, most specific first.
IPV4_PREFIXES = (32, 24, 16)
IPV6_PREFIXES = (64, 48, 32)
STORE_KEY = "cloak_secret"  # meta table key of the generated secret
# Addresses that stand for "no address" (services, gateway users): never cloaked.
_NO_ADDRESS = frozenset({"", "0.0.0.0", "255.255.255.255", "::"})


def _label(secret: bytes, data: bytes) -> str:
    return hmac.new(secret, data, hashlib.sha256).hexdigest()[:LABEL_HEX]


@lru_cache(maxsize=8192)
def cloak_address(ip: str, secret: bytes, suffix: str) -> str:
    """The cloaked host for an address (or, failing that, a host name); "" for none.

    Pure and cached: the same inputs always give the same cloak.
    """
    if ip in _NO_ADDRESS or not secret:
        return ""
    address = parse_address(ip)  # ::ffff:192.0.2.7 is 192.0.2.7 on a dual-stack socket
    if address is None:
        # Not an address (a host name, should a front-end ever give one): one label,
        # so the name's domain is not kept as InspIRCd does; nothing here resolves names.
        return f"{_label(secret, b'host:' + ip.lower().encode())}.{suffix}"
    prefixes = IPV4_PREFIXES if address.version == 4 else IPV6_PREFIXES
    labels = []
    for prefix in prefixes:
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        data = b"ip%d/%d:" % (address.version, prefix) + network.network_address.packed
        labels.append(_label(secret, data))
    return ".".join([*labels, suffix])


class Cloaks:
    """The server's cloaking: settings from `[cloaks]`, the secret, sign-on cloaks."""

    def __init__(self, core: Configured) -> None:
        self.core = core
        # Until a store is attached (and for servers without one, as in tests) the
        # secret is random per process: stable for this run only.
        self.generated = secrets.token_hex(32)

    @property
    def enabled(self) -> bool:
        return bool(self.core.config.cloaks.enabled)

    @property
    def secret(self) -> bytes:
        return (self.core.config.cloaks.secret or self.generated).encode()

    def attach_store(self, store: Store) -> None:
        """Keep the generated secret in the store so cloaks survive restarts."""
        self._warn_unshared()  # at every start, not only the one that made the secret
        row = store.db.execute("SELECT value FROM meta WHERE key = ?", [STORE_KEY]).fetchone()
        if row is not None and row[0]:
            self.generated = str(row[0])
            return
        secret = self.generated

        def keep(db: sqlite_utils.Database) -> None:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [STORE_KEY, secret]
            )

        store.write_now(keep)

    def _warn_unshared(self) -> None:
        config = self.core.config
        linked = config.network.servers or config.links
        if config.cloaks.enabled and not config.cloaks.secret and linked:
            log.warning(
                "[cloaks] secret is not set: this server uses its own, so a user's cloak "
                "differs from server to server of the network; set the same secret on all"
            )

    def cloak_of(self, ip: str) -> str:
        """The cloak of an address under the current settings; "" when cloaking is off."""
        if not self.enabled:
            return ""
        return cloak_address(ip, self.secret, self.core.config.cloaks.suffix)

    def on_connect(self, client: Person) -> None:
        """Called as a connection's person is made: cloak it when configured to."""
        if not self.core.config.cloaks.set_on_connect:
            return
        cloak = self.cloak_of(client.ip)
        if cloak:
            client.modes = mode_set(client.modes | {MODE})
            client.host = cloak
            client.directory.changed(client)  # the roster shows modes and host

    def welcome(self, session: PersonSession) -> None:
        """In the welcome burst, after 005 (as UnrealIRCd does): a person cloaked at
        sign-on learns its displayed host."""
        client = session.client
        if client is not None and MODE in client.modes:
            session.numeric(N.RPL_VISIBLEHOST, client.host, "is now your displayed host")

    def welcomed(self, session: PersonSession) -> None:
        """After the MOTD, as InspIRCd and Ergo send the user modes set at sign-on: a
        MODE line inside the numeric burst breaks clients that parse it strictly."""
        client = session.client
        if client is not None and MODE in client.modes:
            session.send(line(client.prefix, "MODE", client.nick, "+" + MODE))
