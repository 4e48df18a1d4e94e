"""A person as the IRC front-end renders it: the IRC sessions of a `Person`.

`Client.receive` turns PSYC packets back into IRC lines.  A line for a cast is
rendered once per capability set (`Session.fmt`) and cached on the packet, so
a channel of a thousand members costs one format per distinct set, then a
dictionary lookup and a transport write per member.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import metadata as meta
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import add_tag, line, message_line, server_time
from ircpsyc.ircd.read_markers import send_marker
from ircpsyc.ircd.replies import send_list_mode, send_names, send_topic
from ircpsyc.persons.person import Person, PersonObserver, Persons
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.ids import new_id
from ircpsyc.psyc_backend.packet import Dispatch, Packet
from ircpsyc.psyc_backend.requests import Request
from ircpsyc.psyc_backend.uniform import casefold, nick_of, person

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceView
    from ircpsyc.ircd.core import IRCServer
    from ircpsyc.ircd.place_answers import Waiting
    from ircpsyc.ircd.session import Session

# draft/pre-away: a session away for no stated reason (a connection nobody looks at).
ABSENT = "*"
# Lines a person with several sessions sent and whose echo has not come back yet.
PENDING_ORIGINS = 64

# Idle time in WHOIS is reset by talking, not by keep-alives.
_NOT_ACTIVITY = frozenset({"PING", "PONG", "AWAY", "ISON", "WHO", "WHOIS", "MONITOR"})


class Client(Person):
    """A person with IRC sessions on this server: renders what it receives as IRC
    lines (the person record is `ircpsyc.persons.person.Person`)."""

    __slots__ = ("core", "origins")
    sessions: tuple[Session, ...]

    def __init__(self, core: IRCServer, session: Session, now: float) -> None:
        nick = session.nick
        super().__init__(
            core.persons,
            person(core.name, nick),
            nick,
            session.user,
            session.host,
            session.realname,
            session.ip,
            now,
            seen=16,
        )
        self.core = core
        self.sessions = (session,)
        self.account = session.account
        # What one of several sessions said to a channel, until its echo comes back:
        # (casefolded channel, method, text, session).  Local only, never on the wire.
        self.origins: deque[tuple[str, str, str, Session | None]] | None = None
        core.cloaks.on_connect(self)  # +x at sign-on, before anyone sees the host

    @classmethod
    def restored(
        cls,
        core: IRCServer,
        nick: str,
        user: str,
        host: str,
        realname: str,
        ip: str,
        signon: float,
    ) -> Client:
        """A person of this front-end with no session yet (an always-on person brought
        back after a restart, ircpsyc.ircd.always_on): `host` is shown as it was."""
        client = cls.__new__(cls)
        Person.__init__(
            client, core.persons, person(core.name, nick), nick, user, host, realname, ip, signon
        )
        client.core = core
        client.origins = None
        return client

    @property
    def cloak(self) -> str:
        """The cloak of this person's address ("" when cloaking is off or there is no
        address): what +x shows, and what bans are also matched on while -x."""
        return self.core.cloaks.cloak_of(self.ip) if self.sessions else ""

    @property
    def session(self) -> Session:
        return self.sessions[0]

    def touch(self, command: str, now: float) -> None:
        if command not in _NOT_ACTIVITY:
            # The roster shows activity in steps: it compares a person once a step.
            directory = self.directory
            if self.last_active < directory.step_start or now >= directory.step_end:
                directory.activity(self, now)
            self.last_active = now

    def has_cap(self, cap: str) -> bool:
        return any(cap in s.caps for s in self.sessions)

    # -- several sessions (multiclient)

    def said_to_channel(self, session: Session, channel: str, method: str, text: str) -> None:
        """`session` sends a line to `channel`: remember it, so that the echo shows it
        to the person's other sessions (and to `session` only with echo-message)."""
        if len(self.sessions) < 2:
            return  # the echo goes to echo-message sessions: that is all of them
        if self.origins is None:
            self.origins = deque(maxlen=PENDING_ORIGINS)
        self.origins.append((casefold(channel), method, text, session))

    def location_said(self, channel: str, method: str, text: str) -> None:
        """A packet location (XMPP) said a line: its echo goes to every IRC session."""
        if self.origins is None:
            self.origins = deque(maxlen=PENDING_ORIGINS)
        self.origins.append((casefold(channel), method, text, None))

    def _origin(self, packet: Packet) -> Session | bool | None:
        """The session that said this line of ours (None: unknown, or the only one;
        True: a packet location said it)."""
        origins = self.origins
        if not origins:
            return None
        key = (casefold(packet.get(V.NICK_PLACE)), packet.method, packet.body)
        for index, (channel, method, text, session) in enumerate(origins):
            if (channel, method, text) == key:
                del origins[index]
                if session is None:
                    return True
                return session if session in self.sessions else None
        return None

    def aggregate_away(self) -> str:
        """The person's away message from its sessions': "" while any session is
        present, else the newest message, a stated one before `*` (draft/pre-away)."""
        if not self.sessions:
            return self.away  # no session: what always-on decides stays
        best, best_at, absent = "", -1.0, False
        for session in self.sessions:
            if not session.away:
                return ""
            if session.away == ABSENT:
                absent = True
            elif session.away_at > best_at:
                best, best_at = session.away, session.away_at
        return best or (ABSENT if absent else "")

    def update_away(self) -> bool:
        """Take the away state from the sessions; tell peers and observers (away-notify,
        the away log, the roster) when it changed."""
        away = self.aggregate_away()
        if away == self.away:
            return False
        self.away = away
        notify_peers(self, "AWAY", *([away] if away else []))
        for observer in self.core.person_observers:
            observer.away_changed(self)
        return True

    # -- what the person is shown of itself and of whom it watches

    def sessions_renamed(self, new: str) -> None:
        for session in self.sessions:
            session.nick = new

    def renamed_shown(self, old_prefix: str) -> None:
        self.send(line(old_prefix, "NICK", self.nick))

    def watched_online(self, found: Person) -> None:
        for session in self.sessions:
            session.numeric(N.RPL_MONONLINE, found.prefix)

    def watched_offline(self, nick: str) -> None:
        for session in self.sessions:
            session.numeric(N.RPL_MONOFFLINE, nick)

    # -- packets in

    def receive(self, packet: Packet) -> None:
        if packet.method == V.MESSAGE_PUBLIC:
            sessions = self.sessions
            if packet.routing.get(V.SOURCE_RELAY) != self.uniform:
                # The hot path of every channel line, inlined: one cache lookup and one
                # write per session (the line is rendered once per capability set).
                cache = packet.render_cache
                for session in sessions:
                    data = cache.get(session.fmt)
                    if data is None:
                        data = cache[session.fmt] = render_message(packet, session.fmt)
                    if session.rb is None and not session.closed:
                        session.sink.write(data)
                    else:
                        session.send(data)
                return
            if len(sessions) == 1 and not self.origins and C.ECHO_MESSAGE not in sessions[0].caps:
                return  # our own line, one session, no echo-message: nothing to send
        if packet.method == V.MESSAGE_PRIVATE:  # the hot path of every private line
            self._on_message_private(packet)
            return
        handler = _DISPATCH.lookup(packet.method)
        if handler is not None:
            handler(self, packet)

    def locations_changed(self) -> None:
        # A person with packet locations receives through `LocatedClient`, so the
        # receive of everybody else stays the fast path it is.
        self.__class__ = LocatedClient if self.locations else Client

    def _cached(
        self,
        packet: Packet,
        render: Callable[[Packet, int], bytes],
        sessions: list[Session] | None = None,
    ) -> None:
        cache = packet.render_cache
        for session in self.sessions if sessions is None else sessions:
            fmt = session.fmt
            data = cache.get(fmt)
            if data is None:
                data = cache[fmt] = render(packet, fmt)
            if data:
                session.send(data)

    def _once(self, packet: Packet) -> bool:
        """Drop the second copy of a person event (QUIT, NICK) seen through another place."""
        event_id = packet.get(V.ID)
        if not event_id:
            return True
        seen = self.seen
        if seen is not None and event_id in seen:
            return False
        self.saw(event_id)
        return True

    def _on_message_public(self, packet: Packet) -> None:
        # The hot path of every channel line: one cache lookup and one write per session.
        if packet.routing.get(V.SOURCE_RELAY) == self.uniform:
            origin = self._origin(packet) if self.origins else None
            sessions: list[Session]
            others: list[Session]
            if origin is True:  # a packet location (XMPP) said it: a copy to every session
                sessions, others = [], list(self.sessions)
            elif origin is None or isinstance(origin, bool):  # one session (or unknown): the echo,
                sessions = [s for s in self.sessions if C.ECHO_MESSAGE in s.caps]  # echo-message
                others = []
            else:  # what one session said is shown to the others, to itself as an echo
                sessions = [origin] if C.ECHO_MESSAGE in origin.caps else []
                others = [s for s in self.sessions if s is not origin]
            if others:
                self._cached(packet, render_message, others)
            if sessions:
                durable = self.core.durable
                if durable is not None:  # the echo is an acknowledgement: after the commit
                    durable.hold_echo(packet, sessions)
                self._cached(packet, render_message, sessions)
            return
        cache = packet.render_cache
        for session in self.sessions:
            data = cache.get(session.fmt)
            if data is None:
                data = cache[session.fmt] = render_message(packet, session.fmt)
            if data:
                session.send(data)

    def _on_message_private(self, packet: Packet) -> None:
        # The hot path of every private line: `_cached` inlined.
        source = packet.routing.get(V.SOURCE, "")
        if source == self.uniform:
            # A message to oneself: the delivered copy is not part of a labeled response.
            for session in self.sessions:
                own = render_message(packet, session.fmt)
                if own and not session.closed:
                    session.sink.write(own)
            return
        core = self.core
        if not core.router.is_local(source):
            # From another server: its private history (and away log) is kept here too.
            for observer in core.person_observers:
                observer.private_arrived(self, packet)
        cache = packet.render_cache
        for session in self.sessions:
            fmt = session.fmt
            data = cache.get(fmt)
            if data is None:
                data = cache[fmt] = render_message(packet, fmt)
            if not data:
                continue
            if session.rb is None and not session.closed:  # Session.send, inlined
                session.sink.write(data)
            else:
                session.send(data)

    def _on_history(self, packet: Packet) -> None:
        """A line a foreign place (psyced) replays to its newcomer: a `chathistory`
        batch with server-time for sessions that take one, else a NOTICE that says
        when; never a live line."""
        name = packet.get(V.NICK_PLACE)
        if casefold(name) not in self.channels:
            return  # only the history of a channel it is in
        said = Packet(V.MESSAGE_PUBLIC, packet.routing, packet.vars, packet.body)
        core = self.core
        for session in self.sessions:
            if C.BATCH in session.caps and C.SERVER_TIME in session.caps:
                ref = core.new_batch_id()
                session.send(line(core.name, "BATCH", "+" + ref, C.CHATHISTORY_BATCH, name))
                session.send(add_tag(render_message(said, session.fmt), "batch=" + ref))
                session.send(line(core.name, "BATCH", "-" + ref))
                continue
            stamp = int(packet.get(V.TIME) or 0) // 1000
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))
            nick = packet.get(V.PREFIX).split("!", 1)[0] or packet.get(V.NICK)
            text = f"[{when}] <{nick}> {packet.body}"
            session.send(line(core.name, "NOTICE", name, text))

    def _on_enter(self, packet: Packet) -> None:
        self._cached(packet, render_join)
        away = packet.get(V.AWAY)
        if away:
            data = line(packet.get(V.PREFIX), "AWAY", away)
            for session in self.sessions:
                if C.AWAY_NOTIFY in session.caps:
                    session.send(data)

    def _on_echo_enter(self, packet: Packet) -> None:
        place = self.core.places.get(packet.get(V.NICK_PLACE))
        if place is None:
            return
        self.enter_channel(place.folded, place)
        markers = self.core.readmarkers
        for session in self.sessions:
            session.send(render_join(packet, session.fmt))
            if place.topic:
                send_topic(session, place)
            send_marker(
                self.core.name, session, markers, self, place.name
            )  # before the end of NAMES
            if C.NO_IMPLICIT_NAMES not in session.caps:
                send_names(session, place)
            if session.metadata_subs and meta.enabled(session.caps):
                self._metadata_burst(session, place)
        if not self.core.places.is_home_of(place):  # homed elsewhere
            for observer in self.core.person_observers:
                observer.remote_channel_entered(self, place)

    def _metadata_burst(self, session: Session, place: PlaceView) -> None:
        """On JOIN: the subscribed keys of the channel and of its other members."""
        server = self.core.name
        lines = meta.subscribed_lines(server, session, place.name, dict(place.metadata))
        for member in list(place.members.values()):
            if member.uniform == self.uniform:
                continue
            found = self.core.find(member.nick)
            if found is not None and found.metadata:
                lines += meta.subscribed_lines(server, session, found.nick, found.metadata)
        if lines:
            self.core.send_metadata(session, place.name, lines)

    def _on_metadata(self, packet: Packet) -> None:
        """A channel's metadata changed: the answer to who changed it, and the
        subscribers' notifications."""
        changes: dict[str, str | None] = {
            k: v for k, v in packet.rows((V.LIST_METADATA_KEYS, V.LIST_METADATA_VALUES))
        }
        changes.update({k: None for k in packet.get_list(V.LIST_METADATA_UNSET)})
        target = packet.get(V.NICK_PLACE)
        server = self.core.name
        if packet.routing.get(V.SOURCE_RELAY) != self.uniform:
            meta.tell_change(server, self.sessions, target, changes)
            return
        clear = packet.get(V.FLAG_CLEAR) == "1"

        def tell() -> None:  # our change: the answer to the session that asked
            for session in self.sessions:
                if not meta.enabled(session.caps):
                    continue
                lines = [
                    meta.key_value(server, session.nick, target, k, v) for k, v in changes.items()
                ]
                if clear:
                    self.core.send_metadata(session, target, lines)
                else:
                    for data in lines:
                        session.send(data)

        self.core.place_answers.take(self._answering(packet), tell)

    def _answering(self, packet: Packet, override: bool = False) -> Request[Waiting] | None:
        """The request of ours this cast of a channel answers, when a command waits for
        it (the channel is homed elsewhere: ircpsyc.ircd.place_answers)."""
        answers = self.core.place_answers
        if not answers.waiting or packet.routing.get(V.SOURCE_RELAY) != self.uniform:
            return None
        return answers.cast(self.uniform, packet.get(V.NICK_PLACE), override)

    def _tagged(self, packet: Packet) -> Request[Waiting] | None:
        """The request of ours this error, list or echo answers, when a command waits."""
        answers = self.core.place_answers
        return answers.tagged(packet) if answers.waiting else None

    def _on_leave(self, packet: Packet) -> None:
        if packet.routing.get(V.SOURCE_RELAY) == self.uniform:
            self.channels.pop(casefold(packet.get(V.NICK_PLACE)), None)
        self._cached(packet, render_part)

    def _on_rename(self, packet: Packet) -> None:
        """draft/channel-rename: RENAME to the sessions with the capability; the others
        leave the old name and join the new one, with its topic and NAMES, as the
        specification's fallback says (nothing when only the case changes)."""
        old, new = packet.get(V.NICK_PLACE), packet.get(V.NICK_PLACE_NEW)
        view = self.channels.pop(casefold(old), None)
        if view is not None:
            self.enter_channel(casefold(new), view)
        reason = packet.get(V.REASON)
        case_only = casefold(old) == casefold(new)
        for session in self.sessions:
            if C.CHANNEL_RENAME in session.caps:
                session.send(
                    line(
                        packet.get(V.PREFIX),
                        "RENAME",
                        old,
                        new,
                        reason,
                        tags=_tags(packet, session.fmt),
                        trailing=True,
                    )
                )
                continue
            if case_only or view is None:
                continue
            session.send(line(self.prefix, "PART", old, reason or f"Channel renamed to {new}"))
            if C.EXTENDED_JOIN in session.caps:
                session.send(line(self.prefix, "JOIN", new, self.account or "*", self.realname))
            else:
                session.send(line(self.prefix, "JOIN", new))
            if view.topic:
                send_topic(session, view)
            if C.NO_IMPLICIT_NAMES not in session.caps:
                send_names(session, view)

    def _on_quit(self, packet: Packet) -> None:
        if self._once(packet):
            self._cached(packet, render_quit)

    def _on_kick(self, packet: Packet) -> None:
        if casefold(packet.get(V.NICK_TARGET)) == casefold(self.nick):
            self.channels.pop(casefold(packet.get(V.NICK_PLACE)), None)
        self.core.place_answers.take(
            self._answering(packet), lambda: self._cached(packet, render_kick)
        )

    def _on_nick(self, packet: Packet) -> None:
        if self._once(packet):
            self._cached(packet, render_nick)

    def _on_topic(self, packet: Packet) -> None:
        self.core.place_answers.take(
            self._answering(packet), lambda: self._cached(packet, render_topic)
        )

    def _on_mode(self, packet: Packet) -> None:
        self.core.place_answers.take(
            self._answering(packet), lambda: self._cached(packet, render_mode)
        )

    def _on_place_done(self, packet: Packet) -> None:
        """The home handled a TOPIC or MODE of ours: the answer a command waits for is all
        there (ircpsyc.ircd.place_answers)."""
        request = self._tagged(packet)
        if request is not None:
            self.core.place_answers.finish(request)

    def _on_invite(self, packet: Packet) -> None:
        for session in self.sessions:
            session.send(
                line(
                    packet.get(V.PREFIX),
                    "INVITE",
                    self.nick,
                    packet.get(V.NICK_PLACE),
                    tags=_tags(packet, session.fmt),
                )
            )

    def _on_invited(self, packet: Packet) -> None:
        if packet.routing.get(V.SOURCE_RELAY) == self.uniform:
            return
        if casefold(packet.get(V.NICK_TARGET)) == casefold(self.nick):
            return
        for session in self.sessions:
            if C.INVITE_NOTIFY in session.caps:
                session.send(
                    line(
                        packet.get(V.PREFIX),
                        "INVITE",
                        packet.get(V.NICK_TARGET),
                        packet.get(V.NICK_PLACE),
                        tags=_tags(packet, session.fmt),
                    )
                )

    def _on_invite_echo(self, packet: Packet) -> None:
        def send() -> None:
            for session in self.sessions:
                session.numeric(N.RPL_INVITING, packet.get(V.NICK_TARGET), packet.get(V.NICK_PLACE))

        self.core.place_answers.take(self._tagged(packet), send)  # an INVITE's answer

    def _on_list(self, packet: Packet) -> None:
        place = self.core.places.get(packet.get(V.NICK_PLACE))
        if place is None:
            return

        def send() -> None:
            for session in self.sessions:
                send_list_mode(session, place, packet.get(V.MODE))

        self.core.place_answers.take(self._tagged(packet), send)

    def _on_error(self, packet: Packet) -> None:
        def send() -> None:
            for session in self.sessions:
                error_to_numeric(session, packet)

        self.core.place_answers.refusal(self._tagged(packet), packet, send)

    def _on_override(self, packet: Packet) -> None:
        """An IRC operator overrode the channel's rules: the place tells everybody."""
        server = self.core.name
        self.core.place_answers.take(
            self._answering(packet, override=True),  # a part of a TOPIC's, KICK's... answer
            lambda: self._cached(packet, lambda p, fmt: render_override(server, p, fmt)),
            more=True,  # the change (or the echo) follows
        )
        if packet.routing.get(V.SOURCE_RELAY) == self.uniform:
            self.core.moderation.snomasks.send(
                "v", f"{self.nick} overrode {packet.get(V.NICK_PLACE)}: {packet.get(V.ACTION)}"
            )

    def _on_knock(self, packet: Packet) -> None:
        for session in self.sessions:
            session.numeric(
                N.RPL_KNOCK,
                packet.get(V.NICK_PLACE),
                packet.get(V.PREFIX),
                _knock_text(packet.get(V.REASON)),
            )

    def _on_rename_echo(self, packet: Packet) -> None:
        """An operator renamed a channel it is not in: no RENAME reaches it (it has no
        such channel to rename), so the server says it was done."""
        old, new = packet.get(V.NICK_PLACE), packet.get(V.NICK_PLACE_NEW)
        for session in self.sessions:
            session.note(f"Channel {old} renamed to {new}")

    def _on_knock_echo(self, packet: Packet) -> None:
        for session in self.sessions:
            session.numeric(
                N.RPL_KNOCKDLVR, packet.get(V.NICK_PLACE), "Your KNOCK has been delivered."
            )

    def _on_redact(self, packet: Packet) -> None:
        """A line was taken back: REDACT to the sessions that negotiated the cap."""
        sessions = [s for s in self.sessions if C.MESSAGE_REDACTION in s.caps]
        if sessions:
            self._cached(packet, render_redact, sessions)

    def _on_redact_private(self, packet: Packet) -> None:
        """A private line taken back by its sender (REDACT nick msgid)."""
        if not self.core.router.is_local(packet.routing.get(V.SOURCE, "")):
            for observer in self.core.person_observers:  # history kept here too
                observer.private_redacted(self, packet)
        self._on_redact(packet)

    def _on_services(self, packet: Packet) -> None:
        """Login, logout, forced renames and GHOST, asked for by NickServ."""
        self.core.service_requests(self, packet)


# -- telling the peers


def notify_peers(client: Person, verb: str, *params: str, cap: str = C.AWAY_NOTIFY) -> None:
    """Tell every local person sharing a channel (once each) who negotiated `cap`."""
    data = line(client.prefix, verb, *params)
    done: set[int] = {id(client)} | notify_watchers(client.directory, client, data, cap)
    views: list[PlaceView] = list(client.channels.values())
    for view in views:
        for member in view.members.values():
            other = member.route
            if id(other) in done or not isinstance(other, Client):
                continue
            done.add(id(other))
            for session in other.sessions:
                if cap in session.caps:
                    session.send(data)


def notify_watchers(persons: Persons, client: Person, data: bytes, cap: str) -> set[int]:
    """extended-monitor: send an event line to watchers with `cap`; returns who got it."""
    done: set[int] = set()
    for watcher in persons.watchers(client.nick):
        if not isinstance(watcher, Client):
            continue
        for session in watcher.sessions:
            if cap in session.caps and C.EXTENDED_MONITOR in session.caps:
                session.send(data)
                done.add(id(watcher))
    return done


class GatewayAway(PersonObserver[Client, "Session"]):
    """A gateway (XMPP) user's AWAY, for the IRC users sharing a channel with it."""

    def gateway_away(self, client: Person) -> None:
        notify_peers(client, "AWAY", *([client.away] if client.away else []))


# -- rendering, once per capability set


def _tags(packet: Packet, fmt: int) -> str:
    if not fmt:
        return ""
    parts = []
    if fmt & C.F_TAGS:
        client_tags = packet.get(V.TAGS)
        if client_tags:
            parts.append(client_tags)
        msgid = packet.get(V.ID)
        if msgid:
            parts.append("msgid=" + msgid)
        if V.FLAG_BOT in packet.vars:
            parts.append("bot")
    if fmt & C.F_TIME:
        stamp = packet.get(V.TIME)
        parts.append("time=" + server_time(int(stamp) if stamp else None))
    if fmt & C.F_ACCOUNT:
        account = packet.get(V.ACCOUNT)
        if account:
            parts.append("account=" + account)
    return ";".join(parts)


# method -> (a channel line?, verb): the verb is TAGMSG, NOTICE or PRIVMSG.
_MESSAGE_SHAPES: dict[str, tuple[bool, str]] = {
    V.MESSAGE_PUBLIC: (True, "PRIVMSG"),
    V.MESSAGE_PUBLIC_NOTICE: (True, "NOTICE"),
    V.MESSAGE_PUBLIC_TAGMSG: (True, "TAGMSG"),
    V.MESSAGE_PRIVATE: (False, "PRIVMSG"),
    V.MESSAGE_PRIVATE_NOTICE: (False, "NOTICE"),
    V.MESSAGE_PRIVATE_TAGMSG: (False, "TAGMSG"),
}


def _message_shape(method: str) -> tuple[bool, str]:
    shape = _MESSAGE_SHAPES.get(method)
    if shape is not None:
        return shape
    if method.endswith(V.TAGMSG_SUFFIX):
        verb = "TAGMSG"
    elif method.endswith(V.NOTICE):
        verb = "NOTICE"
    else:
        verb = "PRIVMSG"
    return method.startswith(V.MESSAGE_PUBLIC), verb


def render_message(packet: Packet, fmt: int) -> bytes:
    # Every message line is rendered here (once per capability set for a channel).
    shape = _MESSAGE_SHAPES.get(packet.method)
    public, verb = shape if shape is not None else _message_shape(packet.method)
    if public:
        target = packet.vars.get(V.NICK_PLACE)
        if target.__class__ is not str or V.STATUSMSG in packet.vars:  # lists are joined
            target = packet.get(V.STATUSMSG) + packet.get(V.NICK_PLACE)
    else:
        # A peer outside the network may leave `_nick_target` out (issue 15): never
        # `PRIVMSG  :text`, the recipient's nick is in its uniform.
        target = packet.get(V.NICK_TARGET) or nick_of(packet.target) or "*"
    tags = _tags(packet, fmt) if fmt else ""
    if V.MULTILINE in packet.vars:
        return _render_multiline(packet, fmt, verb, target, tags)
    if verb == "TAGMSG":
        if not fmt & C.F_TAGS:
            return b""
        return line(packet.get(V.PREFIX), "TAGMSG", target, tags=tags)
    return message_line(packet.get(V.PREFIX), verb, target, packet.body, tags)


def _render_multiline(packet: Packet, fmt: int, verb: str, target: str, tags: str) -> bytes:
    """A draft/multiline message: one batch with the capability, else a line per
    non-blank line (the first has the msgid, as Ergo does)."""
    prefix = packet.get(V.PREFIX)
    flags = packet.get(V.MULTILINE)
    texts = packet.body.split("\n")
    if fmt & C.F_MULTILINE:
        ref = "ml" + (packet.get(V.ID) or new_id())
        out = [line(prefix, "BATCH", "+" + ref, C.MULTILINE_BATCH, target, tags=tags)]
        for i, text in enumerate(texts):
            concat = ";" + C.MULTILINE_CONCAT if flags[i : i + 1] == "1" else ""
            out.append(line(prefix, verb, target, text, tags=f"batch={ref}{concat}", trailing=True))
        out.append(line(prefix, "BATCH", "-" + ref))
        return b"".join(out)
    rest = ";".join(p for p in tags.split(";") if not p.startswith("msgid=")) if tags else ""
    out = []
    for text in texts:
        if text:
            out.append(line(prefix, verb, target, text, tags=rest if out else tags, trailing=True))
    return b"".join(out)


def render_join(packet: Packet, fmt: int) -> bytes:
    channel = packet.get(V.NICK_PLACE)
    if fmt & C.F_EXTJOIN:
        return line(
            packet.get(V.PREFIX),
            "JOIN",
            channel,
            packet.get(V.ACCOUNT) or "*",
            packet.get(V.REALNAME),
            tags=_tags(packet, fmt),
        )
    return line(packet.get(V.PREFIX), "JOIN", channel, tags=_tags(packet, fmt))


def render_part(packet: Packet, fmt: int) -> bytes:
    reason = packet.get(V.REASON)
    params = [packet.get(V.NICK_PLACE)] + ([reason] if reason else [])
    return line(packet.get(V.PREFIX), "PART", *params, tags=_tags(packet, fmt))


def render_quit(packet: Packet, fmt: int) -> bytes:
    return line(packet.get(V.PREFIX), "QUIT", packet.get(V.REASON), tags=_tags(packet, fmt))


def render_kick(packet: Packet, fmt: int) -> bytes:
    return line(
        packet.get(V.PREFIX),
        "KICK",
        packet.get(V.NICK_PLACE),
        packet.get(V.NICK_TARGET),
        packet.get(V.REASON),
        tags=_tags(packet, fmt),
    )


def render_nick(packet: Packet, fmt: int) -> bytes:
    return line(packet.get(V.PREFIX), "NICK", packet.get(V.NICK_NEW), tags=_tags(packet, fmt))


def render_topic(packet: Packet, fmt: int) -> bytes:
    return line(
        packet.get(V.PREFIX),
        "TOPIC",
        packet.get(V.NICK_PLACE),
        packet.get(V.TOPIC),
        tags=_tags(packet, fmt),
    )


def render_redact(packet: Packet, fmt: int) -> bytes:
    target = packet.get(V.NICK_PLACE) or packet.get(V.NICK_TARGET)
    params = [target, packet.get(V.ID_REDACTED)]
    if packet.get(V.REASON):
        params.append(packet.get(V.REASON))
    return line(packet.get(V.PREFIX), "REDACT", *params, tags=_tags(packet, fmt))


def _knock_text(reason: str) -> str:
    return f"has asked for an invite: {reason}" if reason else "has asked for an invite."


def render_override(server: str, packet: Packet, fmt: int) -> bytes:
    return line(
        server,
        "NOTICE",
        packet.get(V.NICK_PLACE),
        f"*** {packet.get(V.NICK)} used operator override: {packet.get(V.ACTION)}",
        tags=_tags(packet, fmt),
    )


def render_mode(packet: Packet, fmt: int) -> bytes:
    return line(
        packet.get(V.PREFIX),
        "MODE",
        packet.get(V.NICK_PLACE),
        packet.get(V.MODE),
        *packet.get_list(V.LIST_PARAMETERS),
        tags=_tags(packet, fmt),
    )


# -- PSYC errors from places to IRC numerics

_ERRORS: dict[str, tuple[str, str]] = {
    V.ERROR_PLACE_ENTER_NECESSARY_INVITATION: (N.ERR_INVITEONLYCHAN, "Cannot join channel (+i)"),
    V.ERROR_PLACE_ENTER_BANNED: (N.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"),
    V.ERROR_PLACE_ENTER_NECESSARY_KEY: (N.ERR_BADCHANNELKEY, "Cannot join channel (+k)"),
    V.ERROR_PLACE_ENTER_FULL: (N.ERR_CHANNELISFULL, "Cannot join channel (+l)"),
    V.ERROR_PLACE_MESSAGE_FORBIDDEN: (N.ERR_CANNOTSENDTOCHAN, "Cannot send to channel"),
    V.ERROR_NECESSARY_MEMBERSHIP: (N.ERR_NOTONCHANNEL, "You're not on that channel"),
    V.ERROR_PLACE_PRIVILEGE_OPERATOR: (N.ERR_CHANOPRIVSNEEDED, "You're not channel operator"),
    V.ERROR_UNKNOWN_NAME_PLACE: (N.ERR_NOSUCHCHANNEL, "No such channel"),
    V.ERROR_PLACE_ENTER_NECESSARY_ACCOUNT: (
        N.ERR_NEEDREGGEDNICK,
        "Cannot join channel (+R): you need to be logged into your account",
    ),
    V.ERROR_PLACE_KNOCK_MEMBERSHIP: (N.ERR_KNOCKONCHAN, "You are already on that channel"),
    V.ERROR_PLACE_KNOCK_OPEN: (N.ERR_CHANOPEN, "Channel is open"),
    V.ERROR_PLACE_KNOCK_OFTEN: (N.ERR_TOOMANYKNOCK, "Too many KNOCKs (wait a minute)"),
}


def error_to_numeric(session: Session, packet: Packet) -> None:
    method = packet.method
    channel = packet.get(V.NICK_PLACE)
    if method in _ERRORS:
        numeric, text = _ERRORS[method]
        session.numeric(numeric, channel, packet.body or text)  # the place may say why
    elif method == V.ERROR_PLACE_TARGET_MEMBERSHIP:
        nick = packet.get(V.NICK_TARGET)
        if packet.get(V.MODE) and session.core.find(nick) is None:  # MODE +o nobody
            session.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
            return
        session.numeric(
            N.ERR_USERNOTINCHANNEL,
            packet.get(V.NICK_TARGET),
            channel,
            "They aren't on that channel",
        )
    elif method == V.ERROR_PLACE_INVITE_MEMBERSHIP:
        session.numeric(
            N.ERR_USERONCHANNEL, packet.get(V.NICK_TARGET), channel, "is already on channel"
        )
    elif method == V.ERROR_PLACE_MODE_UNKNOWN:
        session.numeric(N.ERR_UNKNOWNMODE, packet.get(V.MODE), "is unknown mode char to me")
    elif method == V.ERROR_PLACE_MODE_INVALID:
        mode = packet.get(V.MODE)
        if mode == "k":
            session.numeric(N.ERR_INVALIDKEY, channel, "Key is not well-formed")
        else:
            session.numeric(
                N.ERR_INVALIDMODEPARAM,
                channel,
                mode,
                packet.get(V.MASK) or "*",
                packet.body or "Invalid mode parameter",
            )
    elif method == V.ERROR_PLACE_LIST_FULL:
        session.numeric(N.ERR_BANLISTFULL, channel, packet.get(V.MASK), "Channel list is full")
    elif method == V.ERROR_NECESSARY_PARAMETER:
        session.numeric(N.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
    elif method == V.ERROR_UNKNOWN_NAME_USER:
        session.numeric(
            N.ERR_NOSUCHNICK,
            packet.get(V.NICK_TARGET) or packet.get(V.UNIFORM),
            packet.body or "No such nick/channel",
        )
    elif method == V.ERROR_PLACE_RENAME_IN_USE or method == V.ERROR_PLACE_RENAME_FORBIDDEN:
        code = "CHANNEL_NAME_IN_USE" if method == V.ERROR_PLACE_RENAME_IN_USE else "CANNOT_RENAME"
        new = packet.get(V.NICK_PLACE_NEW)
        session.fail("RENAME", code, channel, new, packet.body or "The channel cannot be renamed")
    elif method in _REDACT_FAILS:
        code, text = _REDACT_FAILS[method]
        session.fail("REDACT", code, channel, packet.get(V.ID_REDACTED), text)
    elif channel and method.startswith(
        (V.ERROR_UNAVAILABLE_FUNCTION_PLACE, V.ERROR_NECESSARY_PRIVILEGE)
    ):  # a foreign place (psyced) refusing a topic, kick or setting
        session.numeric(N.ERR_CHANOPRIVSNEEDED, channel, packet.body or "Not for you here")
    elif packet.body:  # a foreign server's own words
        session.fail("*", "UNKNOWN_ERROR", method, packet.body[:300])
    else:
        session.fail("*", "UNKNOWN_ERROR", method)


_REDACT_FAILS: dict[str, tuple[str, str]] = {
    V.ERROR_PLACE_REDACT_FORBIDDEN: ("REDACT_FORBIDDEN", "You may not redact that message"),
    V.ERROR_PLACE_REDACT_UNKNOWN: ("UNKNOWN_MSGID", "No such message in the history"),
    V.ERROR_PLACE_REDACT_EXPIRED: (
        "REDACT_WINDOW_EXPIRED",
        "That message is too old to take back",
    ),
}


class LocatedClient(Client):
    """A `Client` that also has packet locations (an XMPP presence of the person,
    ircpsyc.persons.person.PacketLocation): what it receives is rendered for its
    IRC sessions, then handed to each location.  A client becomes one and back by
    `locations_changed` (same slots, so its class is simply swapped)."""

    __slots__ = ()

    def receive(self, packet: Packet) -> None:
        Client.receive(self, packet)
        for location in self.locations:
            location.deliver(packet)


_DISPATCH = Dispatch(
    {
        V.MESSAGE_PUBLIC: Client._on_message_public,
        V.MESSAGE_PRIVATE: Client._on_message_private,
        V.MESSAGE_PUBLIC_HISTORY: Client._on_history,
        V.NOTICE_PLACE_ENTER: Client._on_enter,
        V.ECHO_PLACE_ENTER: Client._on_echo_enter,
        V.NOTICE_PLACE_LEAVE: Client._on_leave,
        V.NOTICE_PLACE_LEAVE_DISCONNECT: Client._on_quit,
        V.NOTICE_PLACE_LEAVE_NETBURP: Client._on_quit,  # a netsplit: QUIT "server server"
        V.NOTICE_PLACE_LEAVE_KICK: Client._on_kick,
        V.NOTICE_PLACE_NICK: Client._on_nick,
        V.NOTICE_PLACE_TOPIC: Client._on_topic,
        V.NOTICE_PLACE_MODE: Client._on_mode,
        V.NOTICE_PLACE_INVITE: Client._on_invite,
        V.NOTICE_PLACE_INVITED: Client._on_invited,
        V.ECHO_PLACE_INVITE: Client._on_invite_echo,
        V.NOTICE_PLACE_OVERRIDE: Client._on_override,
        V.NOTICE_PLACE_REDACT: Client._on_redact,
        V.NOTICE_PLACE_METADATA: Client._on_metadata,
        V.NOTICE_PLACE_RENAME: Client._on_rename,
        V.NOTICE_PRIVATE_REDACT: Client._on_redact_private,
        V.NOTICE_PLACE_KNOCK: Client._on_knock,
        V.ECHO_PLACE_KNOCK: Client._on_knock_echo,
        V.ECHO_PLACE_RENAME: Client._on_rename_echo,
        V.ECHO_PLACE_TOPIC: Client._on_place_done,
        V.ECHO_PLACE_MODE: Client._on_place_done,
        V.STATUS_PLACE_LIST: Client._on_list,
        V.ERROR: Client._on_error,
        V.NOTICE_ACCOUNT: Client._on_services,
        V.REQUEST_PERSON: Client._on_services,
    }
)
