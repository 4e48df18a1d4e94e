"""Shared helpers for the sans-IO tests: an in-memory server and fake clients.

Nothing here opens a socket.  `World` wires the router, the place registry and
the IRC core exactly like `ircpsyc.server.Server` does, with an injected clock;
`FakeClient` is one `Session` whose output is collected and parsed with irctokens.

Import these explicitly (`from helpers import World, FakeClient`); this module is
not a conftest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import irctokens
from irctokens.line import Line

from ircpsyc.assemble import front_end
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.config import Config, OperEntry, load
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.router import Router
from ircpsyc.psyc_backend.uniform import normalize

SERVER = "irc.localhost"
START = 1_700_000_000.0

_OPER_HASHES: dict[str, str] = {}


def oper_hash(password: str) -> str:
    """An argon2 hash, computed once per password for the whole test run."""
    if password not in _OPER_HASHES:
        from ircpsyc.passwords import hash_password

        _OPER_HASHES[password] = hash_password(password)
    return _OPER_HASHES[password]


def make_config(
    *,
    motd: str | None = None,
    opers: Iterable[tuple[str, str, str]] = (),
    cloaks: bool = False,
    **limits: Any,
) -> Config:
    """The default configuration with some fields replaced.

    `opers` is (name, password, hostmask) triples; `limits` replaces [limits] keys.
    Host cloaking is off unless `cloaks` (a real server cloaks by default): most
    tests check hosts and bans on the addresses they connect from.
    """
    config = load(None)
    if not cloaks:
        config = dataclasses.replace(
            config, cloaks=dataclasses.replace(config.cloaks, enabled=False)
        )
    if motd is not None:
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, motd=motd))
    entries = tuple(
        OperEntry(name=name, password_hash=oper_hash(password), hostmask=mask)
        for name, password, mask in opers
    )
    if entries:
        config = dataclasses.replace(config, opers=entries)
    if limits:
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, **limits))
    return config


class Sink:
    """Collects what a session writes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes | bytearray)
        self.data += data

    def close(self) -> None:
        self.closed = True


def parse_output(data: bytes) -> list[Line]:
    """Split CR LF terminated output and tokenise every line."""
    out: list[Line] = []
    for raw in bytes(data).split(b"\r\n"):
        if raw:
            out.append(irctokens.tokenise(raw.decode("utf-8", "replace")))
    return out


class FakeClient:
    """One connection: `.send(line)` feeds it, `.lines` are the parsed lines received."""

    def __init__(self, world: World, ip: str = "127.0.0.1") -> None:
        self.world = world
        self.sink = Sink()
        self.session = Session(world.core, self.sink, ip, tls=False, now=world.now)
        world.core.sessions[self.session] = None
        self._mark = 0  # offset into sink.data of the first line not yet "taken"

    # -- input

    def send(self, text: str | bytes, now: float | None = None) -> list[Line]:
        """Feed one line (no CR LF) and return the lines it produced.

        Those lines count as read: a later take() starts after them.
        """
        raw = text.encode("utf-8") if isinstance(text, str) else text
        start = len(self.sink.data)
        self.session.handle_line(raw, self.world.now if now is None else now)
        self._mark = len(self.sink.data)
        return parse_output(bytes(self.sink.data[start:]))

    def register(self, nick: str, user: str = "user", realname: str = "Real Name") -> list[Line]:
        out = self.send(f"NICK {nick}")
        out += self.send(f"USER {user} 0 * :{realname}")
        return out

    # -- output

    @property
    def raw(self) -> bytes:
        return bytes(self.sink.data)

    @property
    def lines(self) -> list[Line]:
        """Every line received so far."""
        return parse_output(self.raw)

    def take(self) -> list[Line]:
        """Lines received since the previous take() (or since creation)."""
        data = bytes(self.sink.data[self._mark :])
        self._mark = len(self.sink.data)
        return parse_output(data)

    def clear(self) -> None:
        self._mark = len(self.sink.data)

    def commands(self, lines: list[Line] | None = None) -> list[str]:
        return [line.command for line in (self.take() if lines is None else lines)]

    @property
    def nick(self) -> str:
        return self.session.nick

    @property
    def client(self) -> Client:
        assert self.session.client is not None
        return self.session.client

    @property
    def closed(self) -> bool:
        return self.session.closed


def numerics(lines: list[Line], code: str) -> list[Line]:
    return [line for line in lines if line.command == code]


def only(lines: list[Line], code: str) -> Line:
    """The single line with this command; fails with the lines for context."""
    found = numerics(lines, code)
    assert len(found) == 1, f"expected one {code}, got {[ln.format() for ln in lines]}"
    return found[0]


def cmds(lines: list[Line]) -> list[str]:
    return [line.command for line in lines]


class World:
    """A single in-memory ircpsyc server with a controllable clock."""

    def __init__(self, config: Config | None = None, **kwargs: Any) -> None:
        self.config = config if config is not None else make_config(**kwargs)
        self.now = START
        self.router = Router(self.config.server.name)
        self.places = PlaceRegistry(self.router, self.config.server.name, self.config, self.clock)
        # A network of one: the network's services answer for this server alone.
        self.core, self.linking = front_end(
            self.config, self.router, self.places, self.clock, self.clock
        )

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def connect(self, ip: str = "127.0.0.1") -> FakeClient:
        return FakeClient(self, ip)

    def client(
        self, nick: str, caps: Iterable[str] = (), ip: str = "127.0.0.1", clear: bool = True
    ) -> FakeClient:
        """A registered client, optionally with capabilities negotiated first."""
        fake = FakeClient(self, ip)
        wanted = " ".join(caps)
        if wanted:
            fake.send("CAP LS 302")
            ack = fake.send(f"CAP REQ :{wanted}")
            assert ack and ack[-1].params[1] == "ACK", [ln.format() for ln in ack]
        out = fake.register(nick)
        if wanted:
            out += fake.send("CAP END")
        assert "001" in cmds(out), [ln.format() for ln in out]
        if clear:
            fake.clear()
        return fake

    def channel(self, name: str, *members: FakeClient) -> None:
        """Join every member to `name` in order (the first is the founder) and clear output."""
        for member in members:
            member.send(f"JOIN {name}")
        for member in members:
            member.clear()

    def check_consistency(self) -> None:
        """Invariants between the roster, the router, places and memberships."""
        core, router, places = self.core, self.router, self.places
        for folded, client in core.clients.items():
            assert router.lookup(client.uniform) is client, f"{client.nick} not in router"
            assert folded == normalize_nick(client.nick)
            assert client.sessions, f"{client.nick} has no session"
            for chan_folded, view in client.channels.items():
                assert places.places.get(chan_folded) is view, f"{client.nick}: {view.name}"
                assert view.member(client.uniform) is not None, (
                    f"{client.nick} thinks it is in {view.name}"
                )
        for folded, place in places.places.items():
            assert place.members, f"{place.name} exists without members"
            assert router.lookup(place.uniform) is place
            assert folded == place.folded
            for key, member in place.members.items():
                assert key == normalize(member.uniform)
                client = core.find(member.nick)
                assert client is not None, f"{member.nick} in {place.name} is not online"
                assert member.route is client
                assert client.channels.get(place.folded) is place, (
                    f"{member.nick} in {place.name} but not in its channels"
                )
                assert place.member_by_nick(member.nick) is member
            assert len(place.by_nick) == len(place.members)
        for folded, watchers in getattr(core, "monitors", {}).items():
            assert watchers, f"empty watcher set for {folded}"
            for watcher in watchers:
                assert core.clients.get(normalize_nick(watcher.nick)) is watcher
                assert folded in watcher.monitoring
        for folded, pending in core.reserved.items():
            assert pending in core.sessions and not pending.registered
            assert normalize_nick(pending.nick) == folded
        for session in core.sessions:
            assert not session.closed
            if session.registered:
                assert session.client is not None
                assert core.find(session.nick) is session.client


def normalize_nick(nick: str) -> str:
    from ircpsyc.psyc_backend.uniform import casefold

    return casefold(nick)


class Recorder:
    """A bare PSYC entity that keeps every packet it is given."""

    def __init__(self, uniform: str) -> None:
        self.uniform = uniform
        self.packets: list[Packet] = []

    def receive(self, packet: Packet) -> None:
        self.packets.append(packet)

    def methods(self) -> list[str]:
        return [p.method for p in self.packets]

    def take(self) -> list[Packet]:
        out, self.packets = self.packets, []
        return out


def key(uniform: str) -> str:
    return normalize(uniform)
