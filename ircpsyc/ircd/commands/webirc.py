"""WEBIRC (IRCv3 webirc): a trusted web gateway says which address its user has.

The gateway must send it first, from an address listed in a [[webirc]] table,
with that table's password. The session then takes the user's address (and
hostname, when the gateway sends one that is not the address), and the limits
per address, D-lines and cloaks follow the user, not the gateway. Anything
wrong closes the connection with an ERROR, as the specification says.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from irctokens.line import Line

from ircpsyc.config import WebircEntry
from ircpsyc.ircd.core import command
from ircpsyc.ircd.session import Session
from ircpsyc.netaddr import parse_address
from ircpsyc.passwords import verify_password

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _address(text: str) -> str | None:
    address = parse_address(text)
    return None if address is None else str(address)


def _allowed(entry: WebircEntry, ip: str, gateway: str) -> bool:
    if entry.name and entry.name != gateway:
        return False
    address = ipaddress.ip_address(ip) if _address(ip) else None
    if address is None:
        return False
    return any(address in ipaddress.ip_network(host, strict=False) for host in entry.hosts)


# WEBIRC <password> <gateway> <hostname> <ip> [:<options>]
@command("WEBIRC", min_params=4, pre_registration=True)
def handle_webirc(s: Session, msg: Line) -> None:
    password, gateway, hostname, given_ip = msg.params[:4]
    options = msg.params[4].split() if len(msg.params) > 4 else []
    if s.registered or s.nick or s.user or s.caps:
        s.close("WEBIRC must be the first command")
        return
    entries = [e for e in s.core.config.webirc if _allowed(e, s.ip, gateway)]
    ip = _address(given_ip)
    if not entries:
        s.close("WebIRC is not allowed from your address")
        return
    if ip is None:
        s.close("Invalid WebIRC address")
        return

    def check() -> bool:
        return any(verify_password(e.password_hash, password) for e in entries)

    def done(ok: Any) -> None:
        if s.closed:
            return
        if not ok:
            s.close("Invalid WebIRC password")
            return
        readdress: Callable[[str], str] | None = getattr(s.sink, "readdress", None)
        refusal = readdress(ip) if readdress is not None else ""
        if refusal:
            s.close(refusal)
            return
        s.ip = ip
        s.host = hostname if hostname != given_ip and _HOSTNAME.match(hostname) else ip
        if "secure" in options:
            s.tls = True  # the user reached the gateway over TLS

    s.core.offload([s], check, done)
