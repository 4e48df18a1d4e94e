"""Operator commands: KNOCK, GLOBOPS, SAJOIN, SAPART, SANICK (the operator state,
privileges and forcing are `ircpsyc.ircd.moderation`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irctokens.line import Line

from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import command
from ircpsyc.ircd.moderation import (
    force_join,
    force_part,
    globops,
    remote_ops,
    require_privilege,
)
from ircpsyc.ircd.names import place_uniform, valid_channel, valid_nick
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Value
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    pass


# -- KNOCK


# KNOCK <channel> [<message>]
@command("KNOCK", min_params=1)
def handle_knock(s: Session, msg: Line) -> None:
    """KNOCK <channel> [message]: ask the operators of a closed channel to invite you."""
    client = s.client
    assert client is not None
    name = msg.params[0]
    if not valid_channel(name, s.core.config.limits.channellen):
        s.numeric(N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    view = s.core.places.get(name)  # else the home answers (403 if there is no such place)
    vars: dict[str, Value] = client.enter_vars()
    vars[V.NICK_PLACE] = view.name if view is not None else name
    vars[V.REASON] = msg.params[1] if len(msg.params) > 1 else ""
    client.request(
        V.REQUEST_KNOCK, view.uniform if view is not None else place_uniform(s, name), vars
    )


# -- GLOBOPS


# GLOBOPS <text>
@command("GLOBOPS", min_params=1, oper=True)
def handle_globops(s: Session, msg: Line) -> None:
    """GLOBOPS <text>: a message to every IRC operator of the network."""
    if not require_privilege(s, "wallops"):
        return
    client = s.client
    assert client is not None
    globops(s.core, client.nick, msg.params[0])
    s.core.moderation.netops.globops(client.nick, msg.params[0])


# -- SAJOIN, SAPART, SANICK


def _victim(s: Session, nick: str) -> Person | None:
    """A local person of IRC sessions (an always-on one may have none at the moment),
    or one of another server of the network."""
    victim = s.core.find(nick)
    local = victim is not None and (victim.sessions or isinstance(victim, Client))
    if victim is None or not (local or remote_ops(s, victim) is not None):
        s.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return None
    return victim


@command("SAJOIN", min_params=2, oper=True)
def handle_sajoin(s: Session, msg: Line) -> None:
    """SAJOIN <nick> <channel>[,<channel>]: make a user join (past +i, +k, +l, +b)."""
    if not require_privilege(s, "sajoin"):
        return
    victim = _victim(s, msg.params[0])
    if victim is None:
        return
    netops = remote_ops(s, victim)
    wanted = []
    for name in msg.params[1].split(","):
        if not valid_channel(name, s.core.config.limits.channellen):
            s.numeric(N.ERR_BADCHANNAME, name, "Illegal channel name")
        elif casefold(name) not in victim.channels:
            wanted.append(name)
    if netops is not None:
        client = s.client
        assert client is not None
        if wanted:
            netops.sajoin(client, victim, wanted)  # its server makes it join, then confirms
        return
    for name in wanted:
        if force_join(s.core, victim, name):
            _tell(s, f"SAJOIN {victim.nick} {name}")


# SAPART <nick> <channel>{,<channel>} [<reason>]
@command("SAPART", min_params=2, oper=True)
def handle_sapart(s: Session, msg: Line) -> None:
    """SAPART <nick> <channel>[,<channel>] [reason]: make a user leave channels."""
    if not require_privilege(s, "sajoin"):
        return
    victim = _victim(s, msg.params[0])
    if victim is None:
        return
    reason = msg.params[2] if len(msg.params) > 2 else ""
    names = msg.params[1].split(",")
    netops = remote_ops(s, victim)
    if netops is not None:
        # Only its server knows every channel it is in: that server answers 441.
        client = s.client
        assert client is not None
        netops.sapart(client, victim, names, reason[:300])  # confirmed by its server
        return
    for name in names:
        view = force_part(victim, name, reason)
        if view is None:
            s.numeric(N.ERR_USERNOTINCHANNEL, victim.nick, name, "They aren't on that channel")
            continue
        _tell(s, f"SAPART {victim.nick} {view.name}")


# SANICK <nick> <new nick>
@command("SANICK", min_params=2, oper=True)
def handle_sanick(s: Session, msg: Line) -> None:
    """SANICK <nick> <new nick>: change a user's nick."""
    if not require_privilege(s, "sanick"):
        return
    victim = _victim(s, msg.params[0])
    if victim is None:
        return
    new = msg.params[1]
    if not valid_nick(new, s.core.config.limits.nicklen):
        s.numeric(N.ERR_ERRONEUSNICKNAME, new, "Erroneous nickname")
        return
    netops = remote_ops(s, victim)
    if netops is not None:
        holder = s.core.find(new)
        if holder is not None and holder is not victim:
            s.numeric(N.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
            return
        client = s.client
        assert client is not None
        if new != victim.nick:
            netops.sanick(client, victim, new)  # its server checks the nick again, confirms
        return
    if (
        s.core.nick_taken(new, victim.sessions[0])
        if victim.sessions  # an always-on person may have none
        else s.core.find(new) not in (None, victim) or casefold(new) in s.core.reserved
    ):
        s.numeric(N.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
        return
    old = victim.nick
    if new != old:
        victim.rename(new)
        _tell(s, f"SANICK {old} {new}")


def _tell(s: Session, action: str) -> None:
    client = s.client
    assert client is not None
    s.core.moderation.snomasks.send("v", f"{client.nick} used {action}")
