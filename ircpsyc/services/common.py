"""What every service entity (NickServ, ChanServ) shares: command dispatch and HELP,
its notices and time format."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.router import Router

# The host of the service pseudo-users (NickServ!NickServ@services.int), as on
# Atheme: a plain host name, which clients show and ban masks match like any other.
SERVICES_HOST = "services.int"


def fmt_time(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def notice_packet(
    service: str, nick: str, prefix: str, now: float, target: str, target_nick: str, text: str
) -> Packet:
    """A service's answer to a person, rendered by the IRC front-end as a NOTICE."""
    return Packet(
        V.MESSAGE_PRIVATE_NOTICE,
        {V.SOURCE: service, V.TARGET: target},
        {
            V.NICK: nick,
            V.PREFIX: prefix,
            V.NICK_TARGET: target_nick,
            V.ID: new_id(),
            V.TIME: str(int(now * 1000)),
        },
        text,
    )


@dataclass(slots=True)
class Request:
    """One command to a service: who sent it, as the front-end described them."""

    source: str  # the person's uniform
    nick: str
    account: str  # the account the person is logged in to, "" if none
    prefix: str  # nick!user@host
    ip: str
    certfp: str
    entity: object | None  # what the router had under `source` when the command came
    args: list[str]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command of a service: its handler, how many parameters it needs, its help."""

    handler: Callable[[Any, Request], None]
    min_args: int
    syntax: str
    summary: str
    help: tuple[str, ...]
    channel_first: bool = True  # ChanServ: the first parameter names a channel


class ServiceError(Exception):
    """A refusal whose `text` is told to the person (the services' own error types)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Service:
    """A service entity that answers commands sent to it in private messages.

    Subclasses set `NICK`, `INTRO`, `SHORT` (the /NS-style alias), `WIDTH` (of the
    HELP list) and `COMMANDS` / `SET_COMMANDS`, and may refuse or redirect a command
    in `route` before its handler runs."""

    NICK = ""
    INTRO = ""
    SHORT = ""
    WIDTH = 10
    COMMANDS: dict[str, CommandSpec] = {}
    SET_COMMANDS: dict[str, CommandSpec] = {}

    def __init__(
        self, router: Router, host: str, uniform: str, prefix: str, clock: Callable[[], float]
    ) -> None:
        self.router = router
        self.host = host  # this server
        self.uniform = uniform
        self.prefix = prefix  # nick!user@host, as IRC shows the service
        self.clock = clock

    def command(self, packet: Packet) -> None:
        """`_message_private` to the service: run the command in its text."""
        text = packet.body.strip()
        if not text or text.startswith("\x01"):
            return  # CTCP
        words = text.split()
        request = Request(
            packet.source,
            packet.get(V.NICK),
            packet.get(V.ACCOUNT),
            packet.get(V.PREFIX),
            packet.get(V.IP),
            packet.get(V.CERTFP),
            self.router.lookup(packet.source),
            words[1:],
        )
        spec = self.COMMANDS.get(words[0].upper())
        if spec is None:
            self.notice(
                request, f"Unknown command {words[0]}. Type /msg {self.NICK} HELP for help."
            )
            return
        if len(request.args) < spec.min_args:
            self.notice(request, f"Not enough parameters. Syntax: {spec.syntax}")
            return
        if not self.route(spec, request, packet):
            return
        try:
            spec.handler(self, request)
        except ServiceError as error:
            self.notice(request, error.text)

    def route(self, spec: CommandSpec, request: Request, packet: Packet) -> bool:
        """Whether the command runs here (False: it was answered or sent elsewhere)."""
        return True

    def notice(self, request: Request, text: str) -> None:
        self.send_notice(request.source, request.nick, text)

    def send_notice(self, uniform: str, nick: str, text: str) -> None:
        self.router.send(
            notice_packet(self.uniform, self.NICK, self.prefix, self.clock(), uniform, nick, text)
        )

    def cmd_help(self, request: Request) -> None:
        if request.args:
            name = request.args[0].upper()
            if name == "SET" and len(request.args) > 1:
                name = f"SET {request.args[1].upper()}"
            spec = self.COMMANDS.get(name) or self.SET_COMMANDS.get(name)
            if spec is None:
                self.notice(request, f"No help for {request.args[0]}.")
                return
            self.notice(request, f"Syntax: {spec.syntax}")
            for line in spec.help:
                self.notice(request, line)
            return
        self.notice(request, self.INTRO)
        self.notice(request, f"Use /msg {self.NICK} <command> [parameters], or {self.SHORT}.")
        for name, spec in self.COMMANDS.items():
            self.notice(request, f"{name:<{self.WIDTH}} {spec.summary}")
        self.notice(request, f"For more on a command: /msg {self.NICK} HELP <command>")
