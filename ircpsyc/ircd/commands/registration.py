"""Connection registration and keep-alive: CAP, PASS, NICK, USER, PING, PONG, QUIT."""

from __future__ import annotations

import re

from irctokens.line import Line

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.commands.sasl import pass_login
from ircpsyc.ircd.core import cap_offered, caps_ls, command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.names import valid_nick
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.uniform import casefold

_USER_BAD = re.compile(r"[\s@!:]")


# CAP <subcommand> [...]
@command("CAP", min_params=1, pre_registration=True)
def handle_cap(s: Session, msg: Line) -> None:
    sub = msg.params[0].upper()
    target = s.nick or "*"
    if sub == "LS":
        version = 0
        if len(msg.params) > 1 and msg.params[1].isdigit():
            version = int(msg.params[1])
        s.cap_version = max(s.cap_version, version)
        if version >= 302:
            s.set_caps(s.caps | {C.CAP_NOTIFY})  # implied by 302
        if not s.registered:
            s.cap_negotiating = True
        tokens = caps_ls(s)
        chunks: list[list[str]] = [[]]
        size = 0
        for token in tokens:
            # Before 302 the list must be one line (names only, it fits).
            if s.cap_version >= 302 and size + len(token) + 1 > 380 and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append(token)
            size += len(token) + 1
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            if s.cap_version >= 302 and not last:
                s.reply("CAP", target, "LS", "*", " ".join(chunk))
            else:
                s.reply("CAP", target, "LS", " ".join(chunk))
    elif sub == "LIST":
        s.reply("CAP", target, "LIST", " ".join(sorted(s.caps)))
    elif sub == "REQ":
        if not s.registered:
            s.cap_negotiating = True
        request = msg.params[1] if len(msg.params) > 1 else ""
        wanted = set(s.caps)
        ok = bool(request.strip())
        for token in request.split():
            name = token[1:] if token.startswith("-") else token
            if not cap_offered(s.core, name):
                ok = False
                break
            if token.startswith("-"):
                wanted.discard(name)
            else:
                wanted.add(name)
        if ok:
            s.set_caps(wanted)
            s.reply("CAP", target, "ACK", request)
        else:
            s.reply("CAP", target, "NAK", request)
    elif sub == "END":
        if not s.registered:
            s.cap_negotiating = False
            s.core.try_register(s)
    else:
        s.numeric(N.ERR_INVALIDCAPCMD, msg.params[0], "Invalid CAP command")


# PASS <password>
@command("PASS", min_params=1, pre_registration=True)
def handle_pass(s: Session, msg: Line) -> None:
    if s.registered:
        s.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    s.password = msg.params[0]
    if not s.core.config.server.password_hash:  # then it may be account[@device]:password
        pass_login(s, s.password)


# NICK <nickname>
@command("NICK", pre_registration=True)
def handle_nick(s: Session, msg: Line) -> None:
    if not msg.params or not msg.params[0]:
        s.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = msg.params[0]
    core = s.core
    if not valid_nick(nick, core.config.limits.nicklen):
        s.numeric(N.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")
        return
    if core.nick_taken(nick, s) and not _own_person(s, nick):
        s.numeric(N.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
        if not s.registered:
            s.nick_refused = nick
        return
    client = s.client
    if client is None:
        if s.nick and core.reserved.get(casefold(s.nick)) is s:
            del core.reserved[casefold(s.nick)]
        s.nick = nick
        if not core.nick_taken(nick, s):  # else it is its account's person's (attach)
            core.reserved[casefold(nick)] = s
        core.try_register(s)
        return
    if nick == client.nick:
        return
    client.rename(nick)


def _own_person(s: Session, nick: str) -> bool:
    """A connection logged in before registration asks for the nick of its account's
    person online here: it will attach to it (multiclient), no 433."""
    if s.registered:
        return False
    person = s.core.account_person(s)
    return person is not None and casefold(person.nick) == casefold(nick)


# USER <username> <mode> <unused> <realname>
@command("USER", min_params=4, pre_registration=True)
def handle_user(s: Session, msg: Line) -> None:
    if s.registered or s.user:
        s.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    user = _USER_BAD.sub("", msg.params[0])[:10]
    if not user:
        s.numeric(N.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return
    if not msg.params[3]:
        s.numeric(N.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return
    s.user = "~" + user[:9]
    s.realname = msg.params[3]
    s.core.try_register(s)


# PING <token>
@command("PING", min_params=1, pre_registration=True)
def handle_ping(s: Session, msg: Line) -> None:
    s.reply("PONG", s.core.name, msg.params[0])


# PONG [<server>] <token>
@command("PONG", pre_registration=True)
def handle_pong(s: Session, msg: Line) -> None:
    pass  # any line resets the keep-alive timer; PONG needs nothing more


# QUIT [<reason>]
@command("QUIT", pre_registration=True)
def handle_quit(s: Session, msg: Line) -> None:
    reason = msg.params[0] if msg.params else ""
    s.rb = None  # the ERROR below must reach the client even inside a labeled command
    s.close(f"Quit: {reason}" if reason else "Client Quit")


def send_line(s: Session, source: str, verb: str, *params: str) -> None:
    s.send(line(source, verb, *params))
