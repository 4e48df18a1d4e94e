"""The server through a real client library: jaraco's `irc` package.

Each test runs an `irc.client.Reactor` in a background thread and reads the
library's event stream (welcome, pubmsg, join, mode, namreply, ...) with bounded
waits.  The library parses what the server sends, so a malformed reply shows up
here as a missing or wrong event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import irc.bot
import irc.client
import irc.modes
import pytest
from conftest import NETWORK, SERVER_NAME, ServerProcess

from .support import unique

WAIT = 5.0
Event = irc.client.Event


class LibClient:
    """One `ServerConnection` and the events it produced, for `wait`."""

    def __init__(self, harness: Harness, conn: irc.client.ServerConnection) -> None:
        self.harness = harness
        self.conn = conn
        self.events: list[Event] = []
        self.cursor = 0  # events before it were consumed by `wait`

    @property
    def nick(self) -> str:
        return str(self.conn.get_nickname())

    def wait(
        self,
        *types: str,
        where: Callable[[Event], bool] | None = None,
        timeout: float = WAIT,
    ) -> Event:
        """The next event of one of `types` (satisfying `where`) after the cursor."""
        cond = self.harness.cond
        deadline = time.monotonic() + timeout
        with cond:
            while True:
                for index in range(self.cursor, len(self.events)):
                    event = self.events[index]
                    if event.type in types and (where is None or where(event)):
                        self.cursor = index + 1
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [
                        f"    {e.type} {e.source} {e.target} {e.arguments}"
                        for e in self.events[self.cursor :]
                        if e.type != "all_raw_messages"
                    ]
                    raise AssertionError(
                        f"{self.nick}: no {'/'.join(types)} event within {timeout}s; got:\n"
                        + "\n".join(seen)
                    )
                if self.harness.error is not None:
                    raise AssertionError(f"reactor thread died: {self.harness.error!r}")
                cond.wait(min(remaining, 0.1))

    def sync(self) -> list[Event]:
        """PING round trip; the events that arrived before the PONG (consumed)."""
        token = unique("sync")
        start = self.cursor
        self.conn.ping(token)
        self.wait("pong", where=lambda e: e.arguments[-1] == token)
        return [e for e in self.events[start : self.cursor - 1] if e.type != "all_raw_messages"]

    def no_event(self, type_: str, where: Callable[[Event], bool] | None = None) -> None:
        """Assert no such event arrives before a PING round trip completes."""
        events = self.sync()
        bad = [e for e in events if e.type == type_ and (where is None or where(e))]
        assert not bad, f"{self.nick}: unexpected {type_}: {bad}"


class Harness:
    """A reactor processed by a background thread, with connections to one server."""

    def __init__(self, port: int, reactor: irc.client.Reactor | None = None) -> None:
        self.port = port
        self.reactor = reactor or irc.client.Reactor()
        self.cond = threading.Condition()
        self.by_conn: dict[int, LibClient] = {}
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.reactor.add_global_handler("all_events", self._record, -1000)
        self.thread = threading.Thread(target=self._run, name="irc-reactor", daemon=True)
        self.thread.start()

    def _record(self, conn: irc.client.ServerConnection, event: Event) -> None:
        with self.cond:
            client = self.by_conn.get(id(conn))
            if client is not None:
                client.events.append(event)
                self.cond.notify_all()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.reactor.process_once(0.02)
        except BaseException as error:  # pragma: no cover - reported by `wait`
            self.error = error
            with self.cond:
                self.cond.notify_all()

    def attach(self, conn: irc.client.ServerConnection) -> LibClient:
        with self.cond:
            client = self.by_conn[id(conn)] = LibClient(self, conn)
        return client

    def connect(self, nick: str | None = None, realname: str = "Library User") -> LibClient:
        """Connect and register; returns once the MOTD (or its absence) was received."""
        conn = self.reactor.server()
        client = self.attach(conn)
        conn.connect("127.0.0.1", self.port, nick or unique("lib"), ircname=realname)
        client.wait("welcome")
        client.wait("endofmotd", "nomotd")
        return client

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        with self.reactor.mutex:
            for conn in list(self.reactor.connections):
                try:
                    conn.close()
                except Exception:  # pragma: no cover - already gone
                    pass


@pytest.fixture
def lib(shared_server: ServerProcess) -> Iterator[Harness]:
    harness = Harness(shared_server.port)
    try:
        yield harness
    finally:
        harness.close()


def joined(lib: Harness, channel: str, *clients: LibClient) -> None:
    """Join each client to `channel` in order and wait until all saw the last join."""
    for client in clients:
        client.conn.join(channel)
        client.wait("endofnames", where=lambda e: e.arguments[0] == channel)
    last = clients[-1].nick
    for client in clients[:-1]:
        client.wait("join", where=lambda e: e.source.nick == last and e.target == channel)


def modes_of(event: Event) -> list[list[str | None]]:
    return [list(m) for m in irc.modes.parse_channel_modes(" ".join(event.arguments))]


# --- tests ------------------------------------------------------------------------------


def test_registration_and_isupport(lib: Harness) -> None:
    client = lib.connect(realname="Ada Lovelace")
    welcome = client.events[[e.type for e in client.events].index("welcome")]
    assert welcome.source == SERVER_NAME
    assert client.conn.get_server_name() == SERVER_NAME
    features = client.conn.features
    assert features.network == NETWORK
    assert features.prefix["@"] == "o" and features.prefix["+"] == "v"
    assert list(features.chantypes) == ["#"]
    assert features.nicklen >= 9
    # The library's view of our nick matches the server's.
    client.conn.whois([client.nick])
    user = client.wait("whoisuser")
    assert user.arguments[0] == client.nick
    assert user.arguments[-1] == "Ada Lovelace"
    client.wait("endofwhois")


def test_nick_in_use_and_change(lib: Harness) -> None:
    first = lib.connect()
    conn = lib.reactor.server()
    second = lib.attach(conn)
    conn.connect("127.0.0.1", lib.port, first.nick)
    in_use = second.wait("nicknameinuse")
    assert in_use.arguments[0] == first.nick
    alternative = unique("alt")
    conn.nick(alternative)
    second.wait("welcome")
    assert second.nick == alternative
    renamed = unique("ren")
    second.conn.nick(renamed)
    change = second.wait("nick")
    assert change.source.nick == alternative and change.target == renamed
    assert second.nick == renamed


def test_channel_and_private_chat(lib: Harness) -> None:
    alice, bob = lib.connect(), lib.connect()
    channel = "#" + unique("chat")
    joined(lib, channel, alice, bob)
    alice.conn.privmsg(channel, "hello channel")
    msg = bob.wait("pubmsg")
    assert msg.source.nick == alice.nick and msg.target == channel
    assert msg.arguments == ["hello channel"]
    bob.conn.privmsg(alice.nick, "hello alice")
    msg = alice.wait("privmsg")
    assert msg.source.nick == bob.nick and msg.target == alice.nick
    assert msg.arguments == ["hello alice"]
    alice.conn.notice(bob.nick, "a notice")
    assert bob.wait("privnotice").arguments == ["a notice"]
    alice.conn.notice(channel, "a channel notice")
    assert bob.wait("pubnotice").arguments == ["a channel notice"]
    alice.conn.action(channel, "waves")
    action = bob.wait("action")
    assert action.source.nick == alice.nick and action.arguments == ["waves"]
    # (irc 20.5's `ctcp()` forgets the f-string without a parameter: send it ourselves.)
    bob.conn.privmsg(alice.nick, "\x01VERSION\x01")
    ctcp = alice.wait("ctcp")
    assert ctcp.arguments[0] == "VERSION" and ctcp.source.nick == bob.nick
    alice.conn.ctcp_reply(bob.nick, "VERSION test 1.0")
    reply = bob.wait("ctcpreply")
    assert reply.arguments == ["VERSION", "test 1.0"]
    # Non-ASCII text survives the round trip.
    alice.conn.privmsg(channel, "grüße, 世界 🌍")
    assert bob.wait("pubmsg").arguments == ["grüße, 世界 🌍"]
    alice.no_event("pubmsg")  # no echo without echo-message


def test_join_part_kick_quit(lib: Harness) -> None:
    op, alice, bob = lib.connect(), lib.connect(), lib.connect()
    channel = "#" + unique("jpk")
    joined(lib, channel, op, alice, bob)
    names = bob.events[max(i for i, e in enumerate(bob.events) if e.type == "namreply")].arguments
    assert names[1] == channel
    assert sorted(names[2].split()) == sorted(["@" + op.nick, alice.nick, bob.nick])

    alice.conn.part([channel], ":bye all")  # the library does not add the ':' itself
    part = op.wait("part")
    assert part.source.nick == alice.nick and part.target == channel
    assert part.arguments == ["bye all"]
    alice.wait("part")

    op.conn.kick(channel, bob.nick, "out")
    for client in (op, bob):
        kick = client.wait("kick")
        assert kick.source.nick == op.nick and kick.target == channel
        assert kick.arguments == [bob.nick, "out"]

    alice.conn.join(channel)
    op.wait("join", where=lambda e: e.source.nick == alice.nick)
    alice.conn.quit("done for today")
    quit_event = op.wait("quit")
    assert quit_event.source.nick == alice.nick
    assert "done for today" in quit_event.arguments[0]
    alice.wait("disconnect")


def test_modes_through_the_library(lib: Harness) -> None:
    op, member, other = lib.connect(), lib.connect(), lib.connect()
    channel = "#" + unique("mode")
    joined(lib, channel, op, member)

    def set_mode(spec: str) -> list[list[str | None]]:
        op.conn.mode(channel, spec)
        seen = member.wait("mode", where=lambda e: e.target == channel)
        return modes_of(seen)

    assert set_mode(f"+o {member.nick}") == [["+", "o", member.nick]]
    assert set_mode(f"-o+v {member.nick} {member.nick}") == [
        ["-", "o", member.nick],
        ["+", "v", member.nick],
    ]
    # +m: other (not voiced) cannot talk once inside.
    assert set_mode("+m") == [["+", "m", None]]
    other.conn.join(channel)
    other.wait("endofnames")
    other.conn.privmsg(channel, "can I talk?")
    assert other.wait("cannotsendtochan").arguments[0] == channel
    member.conn.privmsg(channel, "voiced talk")
    assert op.wait("pubmsg").arguments == ["voiced talk"]
    assert set_mode("-m") == [["-", "m", None]]
    # +t is default: other cannot set the topic; -t lets them.
    other.conn.topic(channel, "other's topic")
    assert other.wait("chanoprivsneeded").arguments[0] == channel
    assert set_mode("-t") == [["-", "t", None]]
    other.conn.topic(channel, "other's topic")
    assert member.wait("topic").arguments == ["other's topic"]
    # +n is default: outsiders cannot message.
    outsider = lib.connect()
    outsider.conn.privmsg(channel, "from outside")
    assert outsider.wait("cannotsendtochan").arguments[0] == channel
    # +i, +k, +l, +b stop newcomers with the matching numerics.
    assert set_mode("+i") == [["+", "i", None]]
    outsider.conn.join(channel)
    assert outsider.wait("inviteonlychan").arguments[0] == channel
    assert set_mode("-i+k sesame") == [["-", "i", None], ["+", "k", "sesame"]]
    outsider.conn.join(channel)
    assert outsider.wait("badchannelkey").arguments[0] == channel
    changes = set_mode("-k+l sesame 3")
    assert changes[0][:2] == ["-", "k"] and changes[1] == ["+", "l", "3"]
    outsider.conn.join(channel)
    assert outsider.wait("channelisfull").arguments[0] == channel
    set_mode("-l")
    set_mode(f"+b {outsider.nick}!*@*")
    outsider.conn.join(channel)
    assert outsider.wait("bannedfromchan").arguments[0] == channel
    # The library's mode query parses 324.
    op.conn.mode(channel, "")
    modeis = op.wait("channelmodeis")
    assert modeis.arguments[0] == channel and "n" in modeis.arguments[1]


def test_topic_names_who_whois(lib: Harness) -> None:
    op, member = lib.connect(realname="Op Erator"), lib.connect()
    channel = "#" + unique("q")
    joined(lib, channel, op, member)
    op.conn.topic(channel, "library topic")
    topic = member.wait("topic")
    assert topic.source.nick == op.nick and topic.arguments == ["library topic"]
    member.conn.topic(channel)
    current = member.wait("currenttopic")
    assert current.arguments == [channel, "library topic"]
    info = member.wait("topicinfo")
    assert info.arguments[0] == channel and info.arguments[1].startswith(op.nick)

    member.conn.names([channel])
    reply = member.wait("namreply")
    assert reply.arguments[1] == channel
    assert sorted(reply.arguments[2].split()) == sorted(["@" + op.nick, member.nick])
    member.wait("endofnames")

    member.conn.who(channel)
    who = [member.wait("whoreply"), member.wait("whoreply")]
    nicks = {e.arguments[4]: e for e in who}
    assert set(nicks) == {op.nick, member.nick}
    assert nicks[op.nick].arguments[0] == channel
    assert "@" in nicks[op.nick].arguments[5]
    assert nicks[op.nick].arguments[6].endswith("Op Erator")
    member.wait("endofwho")

    member.conn.whois([op.nick])
    user = member.wait("whoisuser")
    assert user.arguments[0] == op.nick and user.arguments[-1] == "Op Erator"
    chans = member.wait("whoischannels")
    assert chans.arguments[1].split() == ["@" + channel]
    server = member.wait("whoisserver")
    assert server.arguments[1] == SERVER_NAME
    member.wait("whoisidle")
    member.wait("endofwhois")
    member.conn.whois(["nobody" + unique("")])
    member.wait("nosuchnick")


def test_invite_and_away(lib: Harness) -> None:
    op, guest = lib.connect(), lib.connect()
    channel = "#" + unique("inv")
    joined(lib, channel, op)
    op.conn.mode(channel, "+i")
    op.wait("mode")
    op.conn.invite(guest.nick, channel)
    inviting = op.wait("inviting")
    assert inviting.arguments[:2] == [guest.nick, channel] or inviting.arguments[-2:] == [
        guest.nick,
        channel,
    ]
    invite = guest.wait("invite")
    assert invite.source.nick == op.nick
    assert invite.target == guest.nick and invite.arguments == [channel]
    guest.conn.join(channel)
    guest.wait("join")
    guest.conn.send_raw("AWAY :brb")
    guest.wait("nowaway")
    op.conn.privmsg(guest.nick, "ping?")
    away = op.wait("away")
    assert away.arguments == [guest.nick, "brb"]
    guest.conn.send_raw("AWAY")
    guest.wait("unaway")


class TrackingBot(irc.bot.SingleServerIRCBot):  # type: ignore[misc]
    """The library's own channel tracker; it must agree with what the server says."""

    def __init__(self, port: int, nick: str) -> None:
        super().__init__([("127.0.0.1", port)], nick, "Tracking Bot")

    def on_welcome(self, conn: irc.client.ServerConnection, event: Event) -> None:
        pass


def test_bot_channel_state_tracking(lib: Harness, shared_server: ServerProcess) -> None:
    bot = TrackingBot(shared_server.port, unique("bot"))
    harness = Harness(shared_server.port, reactor=bot.reactor)
    try:
        me = harness.attach(bot.connection)
        bot._connect()
        me.wait("endofmotd", "nomotd")
        alice, bob = lib.connect(), lib.connect()
        channel = "#" + unique("bot")
        alice.conn.join(channel)
        alice.wait("endofnames")
        bot.connection.join(channel)
        me.wait("endofnames")
        bob.conn.join(channel)
        me.wait("join", where=lambda e: e.source.nick == bob.nick)
        alice.conn.mode(channel, f"+v {bob.nick}")
        me.wait("mode")
        alice.conn.mode(channel, "+mk key")
        me.wait("mode")
        me.sync()
        with bot.reactor.mutex:
            state = bot.channels[channel]
            mine = bot.connection.get_nickname()
            assert sorted(state.users()) == sorted([alice.nick, bob.nick, mine])
            assert list(state.opers()) == [alice.nick]
            assert list(state.voiced()) == [bob.nick]
            assert state.is_moderated() and state.has_key()
        renamed = bob.nick + "x"
        bob.conn.nick(renamed)
        me.wait("nick")
        with bot.reactor.mutex:
            assert bot.channels[channel].is_voiced(renamed)
        alice.conn.kick(channel, renamed)
        me.wait("kick")
        with bot.reactor.mutex:
            assert sorted(bot.channels[channel].users()) == sorted([alice.nick, mine])
    finally:
        harness.close()
