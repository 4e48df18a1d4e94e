"""Operator commands: OPER, KILL, WALLOPS, REHASH."""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.channels import modes as M
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.session import Session
from ircpsyc.passwords import verify_password


# OPER <name> <password>
@command("OPER", min_params=2)
def handle_oper(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    name, password = msg.params[0], msg.params[1]
    oper = next((o for o in s.core.config.opers if o.name == name), None)
    if oper is None or not verify_password(oper.password_hash, password):
        s.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    if not M.mask_match(oper.hostmask, f"{client.user}@{client.host}") and not M.mask_match(
        oper.hostmask, f"{client.user}@{client.ip}"
    ):
        s.numeric(N.ERR_NOOPERHOST, "No O-lines for your host")
        return
    client.modes.add("o")
    client.oper_name = name
    s.numeric(N.RPL_YOUREOPER, "You are now an IRC operator")
    s.send(line(client.prefix, "MODE", client.nick, "+o"))


# KILL <nickname> <comment>
@command("KILL", min_params=2, oper=True)
def handle_kill(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    nick, reason = msg.params[0], msg.params[1]
    if nick.lower() == s.core.name.lower():
        s.numeric(N.ERR_CANTKILLSERVER, "You can't kill a server!")
        return
    victim = s.core.find(nick)
    if victim is None:
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    text = f"Killed ({client.nick} ({reason}))"
    for session in list(victim.sessions):
        session.send(line(client.prefix, "KILL", victim.nick, reason))
        session.close(text)


# WALLOPS <text>
@command("WALLOPS", min_params=1, oper=True)
def handle_wallops(s: Session, msg: Line) -> None:
    client = s.client
    assert client is not None
    data = line(client.prefix, "WALLOPS", msg.params[0])
    for other in list(s.core.clients.values()):
        if "w" in other.modes or other.is_oper:
            other.send(data)


# REHASH
@command("REHASH", oper=True)
def handle_rehash(s: Session, msg: Line) -> None:
    hook = s.core.on_rehash
    s.numeric(N.RPL_REHASHING, s.core.config.source, "Rehashing")
    error = hook() if hook is not None else "rehash is not available"
    if error:
        s.fail("REHASH", "CONFIG_ERROR", error)
