"""Operator commands: OPER, KILL, WALLOPS, REHASH.

What an operator may do comes from its class (see `moderation.privileges`);
each of these commands sends a server notice (see `ircpsyc.ircd.snomask`).

KILL works on any person of the network: one on another server is killed by
its own server (ircpsyc.ircd.operator_service, `_request_kill`), which sends the usual
QUIT "Killed (oper (reason))" and a KILL notice to its operators, and confirms
it (the KILL notice here then; see operator_service for failures and timeouts); an XMPP
user leaves all its rooms the same way (see `Moderation.kill`).
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.channels import modes as M
from ircpsyc.config import OperEntry
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.moderation import (
    oper_class,
    remote_ops,
    require_privilege,
    server_of,
    wallops,
)
from ircpsyc.ircd.session import Session
from ircpsyc.passwords import verify_password
from ircpsyc.services.hash_queue import Work


# OPER <name> <password>
@command("OPER", min_params=2)
def handle_oper(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    name, password = msg.params[0], msg.params[1]
    attempts = s.core.moderation.oper_attempts
    if attempts.refused(client.ip, s.core.clock()):
        s.fail(
            "OPER",
            "TOO_MANY_ATTEMPTS",
            "Too many failed OPER attempts from your address; try again in 10 minutes",
        )
        _tell_operators(s, name, "too many failed attempts from the address")
        return
    oper = next((o for o in s.core.config.opers if o.name == name), None)
    if oper is None:
        _oper_failed(s, name, "wrong name or password")
        return
    # The host before the password: a password is never checked (nor its rightness
    # told by a different reply) from a host its operator may not use.
    if not _host_allowed(s, oper):
        _oper_failed(s, oper.name, "host does not match")
        return

    def done(ok: bool) -> None:
        if s.closed or s.client is not client:
            return
        if not ok:
            attempts.failed(client.ip, s.core.clock())
            _oper_failed(s, name, "wrong name or password")
            return
        attempts.succeeded(client.ip)
        _oper_verified(s, oper)

    # argon2 is slow on purpose: verify off the event loop (this session's input waits).
    job = lambda: verify_password(oper.password_hash, password)  # noqa: E731
    if not s.core.offload([s], job, done, Work.VERIFY):
        s.note("Too many password checks from your address at once; try again in a moment.")


def _host_allowed(s: Session, oper: OperEntry) -> bool:
    """The real host (its name when it resolved), or the address; never the cloak."""
    client = s.client
    assert client is not None
    return M.mask_match(oper.hostmask, f"{client.user}@{client.real_host}") or M.mask_match(
        oper.hostmask, f"{client.user}@{client.ip}"
    )


def _oper_failed(s: Session, name: str, why: str) -> None:
    s.numeric(
        N.ERR_NOOPERHOST if why.startswith("host") else N.ERR_PASSWDMISMATCH,
        "No O-lines for your host" if why.startswith("host") else "Password incorrect",
    )
    _tell_operators(s, name, why)


def _tell_operators(s: Session, name: str, why: str) -> None:
    client = s.client
    assert client is not None
    s.core.moderation.snomasks.send(
        "o", f"Failed OPER attempt as {name} by {client.nick} ({client.user}@{client.host}): {why}"
    )


def _oper_verified(s: Session, oper: OperEntry) -> None:
    client = s.client
    assert client is not None
    if not _host_allowed(s, oper):  # the host changed while the password was checked
        _oper_failed(s, oper.name, "host does not match")
        return
    snomasks = s.core.moderation.snomasks
    client.set_mode("o", True)
    client.oper_name = oper.name
    s.numeric(N.RPL_YOUREOPER, "You are now an IRC operator")
    found = oper_class(s.core, oper) if oper.oper_class else None
    if found is not None and found.snomasks:
        snomasks.set(client, found.snomasks)
        s.send(line(client.prefix, "MODE", client.nick, "+os"))
        snomasks.tell(client)
    else:
        s.send(line(client.prefix, "MODE", client.nick, "+o"))
    snomasks.send(
        "o",
        f"{client.nick} ({client.user}@{client.host}) is now an IRC operator "
        f"({oper.name}, {oper.oper_class or 'all'})",
    )


# KILL <nickname> <comment>
@command("KILL", min_params=2, oper=True)
def handle_kill(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    if not require_privilege(s, "kill"):
        return
    nick, reason = msg.params[0], msg.params[1]
    if nick.lower() == s.core.name.lower():
        s.numeric(N.ERR_CANTKILLSERVER, "You can't kill a server!")
        return
    victim = s.core.find(nick)
    netops = remote_ops(s, victim) if victim is not None else None
    if victim is None or (netops is None and server_of(victim)):  # or outside the network
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    moderation = s.core.moderation
    if netops is not None:
        netops.kill(client, victim, reason)  # its server disconnects it, then confirms
        return
    moderation.snomasks.send(
        "k",
        f"Received KILL message for {victim.prefix}. From {client.nick} Path: "
        f"{s.core.name}!{client.nick} ({reason})",
    )
    if not moderation.kill(victim, client.prefix, reason, f"Killed ({client.nick} ({reason}))"):
        s.fail("KILL", "CANNOT_KILL", victim.nick, "That user cannot be killed")


# WALLOPS <text>
@command("WALLOPS", min_params=1, oper=True)
def handle_wallops(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    if not require_privilege(s, "wallops"):
        return
    wallops(s.core, client.prefix, msg.params[0])
    s.core.moderation.netops.wallops(client.prefix, msg.params[0])  # and the other servers


# REHASH
@command("REHASH", oper=True)
def handle_rehash(s: Session, msg: Line) -> None:
    if not require_privilege(s, "rehash"):
        return
    hook = s.core.on_rehash
    s.numeric(N.RPL_REHASHING, s.core.config.source, "Rehashing")
    error = hook() if hook is not None else "rehash is not available"
    client = s.client
    nick = client.nick if client is not None else "?"
    if error:
        s.fail("REHASH", "CONFIG_ERROR", error)
        s.core.moderation.snomasks.send("a", f"{nick} tried to REHASH; refused: {error}")
    else:
        s.core.moderation.snomasks.send("a", f"{nick} is rehashing the server configuration")
