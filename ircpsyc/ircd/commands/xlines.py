"""Server bans: KLINE, UNKLINE, DLINE, UNDLINE (the bans themselves, their store and
their matching are `ircpsyc.ircd.xlines`).

    KLINE [<duration>] <user@host|nick> [:<reason>]     (also KLINE <mask> <duration> :<reason>)
    UNKLINE <user@host>
    DLINE [<duration>] <ip|cidr|nick> [:<reason>]
    UNDLINE <ip|cidr>
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.moderation import enforce_and_tell, require_privilege
from ircpsyc.ircd.session import Session
from ircpsyc.ircd.xlines import (
    DLINE,
    KLINE,
    MAX_REASON,
    NO_ADDRESS,
    XLines,
    canonical_dline,
    canonical_kline,
    parse_duration,
    too_broad,
    what,
)

# -- commands


def _xlines(s: Session) -> XLines:
    return s.core.moderation.xlines


def _parse_add(params: list[str]) -> tuple[int, str, str] | None:
    """(duration, target, reason) from either parameter order; None if no target."""
    if not params:
        return None
    first = parse_duration(params[0])
    if first is not None and len(params) > 1:
        return first, params[1], params[2] if len(params) > 2 else ""
    target = params[0]
    if len(params) > 1:
        later = parse_duration(params[1])
        if later is not None:
            return later, target, params[2] if len(params) > 2 else ""
        return 0, target, params[1]
    return 0, target, ""


def _add(s: Session, msg: Line, kind: str) -> None:
    if not require_privilege(s, "ban"):
        return
    parsed = _parse_add(list(msg.params))
    name = "KLINE" if kind == KLINE else "DLINE"
    if parsed is None:
        s.numeric(N.ERR_NEEDMOREPARAMS, name, "Not enough parameters")
        return
    duration, target, reason = parsed
    mask: str | None
    if "@" not in target and "." not in target and ":" not in target and "/" not in target:
        victim = s.core.find(target)  # a nick
        if victim is None:
            s.numeric(N.ERR_NOSUCHNICK, target, "No such nick/channel")
            return
        # A person on another server of the network has its IP in the roster; one
        # without a known address (a foreign federated one) has its host, if that is one.
        address = victim.ip if victim.ip not in NO_ADDRESS else victim.host
        mask = f"*@{victim.host}" if kind == KLINE else canonical_dline(address)
    else:
        mask = canonical_kline(target) if kind == KLINE else canonical_dline(target)
    if mask is None:
        s.fail(name, "INVALID_MASK", target, "Not a valid mask")
        return
    if too_broad(kind, mask):
        s.fail(name, "MASK_TOO_BROAD", mask, "That mask would ban too many users")
        return
    client = s.client
    assert client is not None
    reason = (reason or "No reason given")[:MAX_REASON]
    xlines = _xlines(s)
    ban = xlines.add(kind, mask, reason, f"{client.nick}!{client.user}@{client.host}", duration)
    now = s.core.clock()
    s.core.moderation.snomasks.send("x", f"{client.nick} added {ban.describe(now)}: {reason}")
    s.note(f"Added {ban.describe(now)}: {reason}")
    enforce_and_tell(s.core, ban)
    netops = s.core.moderation.netops
    if netops is not None:
        netops.ban_added(ban)  # to every other server of the network


def _remove(s: Session, msg: Line, kind: str) -> None:
    if not require_privilege(s, "ban"):
        return
    name = "UNKLINE" if kind == KLINE else "UNDLINE"
    target = msg.params[0]
    client = s.client
    assert client is not None
    mask = canonical_kline(target) if kind == KLINE else canonical_dline(target)
    setter = f"{client.nick}!{client.user}@{client.host}"
    removal = _xlines(s).remove(kind, mask, setter) if mask is not None else None
    if removal is None:
        s.fail(name, "NO_SUCH_BAN", target, f"No {what(kind)} for {target}")
        return
    text = f"the {what(kind)} for {removal.mask}"
    s.core.moderation.snomasks.send("x", f"{client.nick} removed {text}")
    s.note(f"Removed {text}")
    netops = s.core.moderation.netops
    if netops is not None:
        netops.ban_removed(removal)


# KLINE [<duration>] <user@host|nick> [:<reason>]
@command("KLINE", min_params=1, oper=True)
def handle_kline(s: Session, msg: Line) -> None:
    """KLINE [duration] <user@host|nick> [:reason]: ban user@host (from every linked server).
    Duration in minutes, or like 1d12h; 0 or none is permanent."""
    _add(s, msg, KLINE)


# UNKLINE <user@host>
@command("UNKLINE", min_params=1, oper=True)
def handle_unkline(s: Session, msg: Line) -> None:
    """UNKLINE <user@host>: lift a K-line."""
    _remove(s, msg, KLINE)


# DLINE [<duration>] <ip|cidr|nick> [:<reason>]
@command("DLINE", min_params=1, oper=True)
def handle_dline(s: Session, msg: Line) -> None:
    """DLINE [duration] <ip|cidr|nick> [:reason]: refuse connections from an address.
    Duration in minutes, or like 1d12h; 0 or none is permanent."""
    _add(s, msg, DLINE)


# UNDLINE <ip|cidr>
@command("UNDLINE", min_params=1, oper=True)
def handle_undline(s: Session, msg: Line) -> None:
    """UNDLINE <ip|cidr>: lift a D-line."""
    _remove(s, msg, DLINE)
