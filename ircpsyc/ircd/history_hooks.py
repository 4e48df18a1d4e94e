"""The history's IRC hooks: private messages logged (keyed by the two parties:
accounts when logged in, else nicks), the replay of a channel's last messages
to a client that joins, and the wiring of the history and away-log services.

The history itself is `ircpsyc.services.history.History`, a place observer;
CHATHISTORY is `ircpsyc.ircd.commands.chathistory`.  A channel's history
lives at its home server: for a channel homed elsewhere the home selects
(`ircpsyc.services.history_net`, `_request_history`) and the replay renders
the answer as for a local channel.
"""

from __future__ import annotations

from functools import partial

from ircpsyc.channels.place import Member, Place, PlaceObserver, PlaceView
from ircpsyc.ircd.batch import can_batch, plain, send_packets
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import IRCServer, PersonObserver
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold, is_service
from ircpsyc.services.history import (
    KIND_MESSAGE,
    KIND_TAGMSG,
    conversation,
    party_key,
    time_of,
)

# -- wiring


def key_of(client: Person) -> str:
    """The party key of a client in private conversations."""
    return party_key(client.account, client.nick)


def redact_private(core: IRCServer, sender: Client, target: Person, msgid: str) -> str:
    """Forget a private line `sender` said to `target` and may take back; "" when it
    is forgotten, else the FAIL REDACT code.  Only the sender may, within
    `[history] redact_window` (nobody else can see where a private line went)."""
    history = core.history
    where = conversation(key_of(sender), key_of(target))
    entry = history.find(where, msgid)
    if entry is None or entry.kind > KIND_TAGMSG:  # a message or a TAGMSG, no event
        return "UNKNOWN_MSGID"
    said = entry.source
    account = said.get(V.ACCOUNT)
    if account and sender.account:
        mine = casefold(account) == casefold(sender.account)
    else:
        mine = casefold(said.get(V.NICK)) == casefold(sender.nick)
    if not mine:
        return "REDACT_FORBIDDEN"
    window = core.config.history.redact_window
    if not window or core.clock() * 1000 - entry.time > window * 1000:
        return "REDACT_WINDOW_EXPIRED"
    history.redact(where, msgid)
    return ""


class PrivateHistory(PersonObserver):
    """Logs private messages into the conversation of the two parties."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core

    def private_message(
        self, session: Session, sender: Client, target: Person | None, packet: Packet
    ) -> None:
        settings = self.core.config.history
        if not settings.enabled or not settings.private:
            return
        if target is None:
            account = packet.get(V.ACCOUNT_TARGET)
            target_key, target_nick = party_key(account, ""), packet.get(V.NICK_TARGET)
        elif is_service(target.uniform):
            return  # services: passwords and such are never kept
        else:
            target_nick = target.nick
            target_key = party_key(target.account, target_nick)  # key_of, inlined
        # Its msgid was made here just now: no copy of it can have been logged before,
        # and none will arrive later (`private_arrived` skips this server's senders).
        sender_nick = sender.nick
        self.core.history.log_private(
            packet,
            party_key(sender.account, sender_nick),
            sender_nick,
            target_key,
            target_nick,
            fresh=True,
        )

    def private_arrived(self, client: Client, packet: Packet) -> None:
        """A private message from another server for the local person `client`: kept here
        too, so each server has the whole conversation (its sender's server logged it
        when it was sent).  Same entry as there: the packet with its msgid and time, and
        the party keys both servers compute (the sender's account as its server vouched
        for it; a person from outside the network by its uniform)."""
        core = client.core
        history = core.history
        source = packet.routing.get(V.SOURCE, "")
        if not source or is_service(source) or core.router.is_local(source):
            return
        trusted = core.net.network.in_network(host_of(source))
        nick = packet.get(V.NICK) or source
        sender_key = party_key(packet.get(V.ACCOUNT) if trusted else "", nick)
        history.log_private(packet, sender_key, nick, key_of(client), client.nick)

    def private_redacted(self, client: Client, packet: Packet) -> None:
        """Forget a private line its sender on another server took back (its server
        forgot it already)."""
        source = packet.routing.get(V.SOURCE, "")
        trusted = client.core.net.network.in_network(host_of(source))
        nick = packet.get(V.NICK) or source
        sender_key = party_key(packet.get(V.ACCOUNT) if trusted else "", nick)
        target = conversation(sender_key, key_of(client))
        client.core.history.redact(target, packet.get(V.ID_REDACTED))

    def remote_channel_entered(self, client: Client, place: PlaceView) -> None:
        remote_entered(client, place)


class JoinReplay(PlaceObserver):
    """The away log's watch follows a local client that joins a channel (the replay
    on JOIN itself is `ircpsyc.ircd.replay`, which calls `replay_plain`)."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core

    def member_entered(self, place: Place, member: Member) -> None:
        client = member.route
        if isinstance(client, Client):
            _watch_if_away(client, place.folded)


def replay_plain(client: Client, view: PlaceView, sessions: list[Session]) -> None:
    """The replay on JOIN (`[history] join_replay` last messages) to `sessions` of
    `client`, which have no device replay (ircpsyc.ircd.replay): a batch to clients
    with batch and server-time, NOTICEs with the time to others if configured."""
    core = client.core
    settings = core.config.history
    if not settings.enabled or settings.join_replay <= 0:
        return
    wanted = [s for s in sessions if can_batch(s) or settings.join_replay_plain]
    if not wanted:
        return
    if home_elsewhere(core, view):
        replay_remote(client, view, wanted)
        return
    entries = core.history.recent(view.folded, settings.join_replay)
    if entries:
        _replay(client, view, wanted, [e.packet() for e in entries])


# -- channels homed on other servers: their home answers (ircpsyc.services.history_net)


def home_elsewhere(core: IRCServer, view: PlaceView | None) -> str:
    """The server a channel's history lives on when it is not this one ("" if here)."""
    if view is None:
        return ""
    return core.net.history.elsewhere(view.uniform)


def remote_entered(client: Client, view: PlaceView) -> None:
    """A local client entered a channel homed elsewhere: what `JoinReplay` does for
    local channels (the away log's watch; the replay is ircpsyc.ircd.replay's)."""
    _watch_if_away(client, view.folded)


def _watch_if_away(client: Client, folded: str) -> None:
    """`client` entered the channel `folded`: while away, the away log watches it for
    mentions of the account; else it stops watching it."""
    awaylog = client.core.awaylog
    if client.account:
        if client.away:
            awaylog.add_watch(client.account, client.nick, [folded])
        else:
            awaylog.drop_watches(client.account, folded)


def replay_remote(client: Client, view: PlaceView, wanted: list[Session]) -> None:
    """The replay on JOIN for a channel homed elsewhere: asked from its home."""
    core = client.core
    settings = core.config.history
    service = core.net.history
    home = home_elsewhere(core, view)
    if not home or not settings.enabled or settings.join_replay <= 0:
        return

    service.ask(
        home,
        view.name,
        client.uniform,
        "LATEST",
        ["*"],
        settings.join_replay,
        KIND_MESSAGE,
        lambda packets: _replay(client, view, wanted, packets),
    )


def _replay(
    client: Client, view: PlaceView, sessions: list[Session], packets: list[Packet] | None
) -> None:
    """Lines from a home's history: a batch to clients that take one, else NOTICEs."""
    if not packets or view.folded not in client.channels:
        return
    for session in sessions:
        if session.closed or session not in client.sessions:
            continue
        if can_batch(session):
            send_packets(session, view.name, packets)
            continue
        for packet in packets:
            text = plain(packet, time_of(packet))
            session.send(line(client.core.name, "NOTICE", view.name, text))


def replay_missed(core: IRCServer, view: PlaceView, since: int) -> None:
    """A channel whose home split off past the grace is whole again: its local members
    get what was said there since the split (up to chathistory_limit lines)."""
    service = core.net.history
    home = home_elsewhere(core, view)
    settings = core.config.history
    if not home or not settings.enabled:
        return
    for member in view.members.values():
        client = member.route
        if not isinstance(client, Client) or not client.sessions:
            continue
        wanted = [s for s in client.sessions if can_batch(s) or settings.join_replay_plain]
        if not wanted:
            continue
        service.ask(
            home,
            view.name,
            client.uniform,
            "AFTER",
            [f"timestamp={since}"],
            settings.chathistory_limit,
            KIND_MESSAGE,
            partial(_replay, client, view, wanted),
        )
