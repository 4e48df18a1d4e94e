"""The one replay path: what a device missed, the away log, and the replay on JOIN.

A session of a logged-in account starts where its device last saw the account
(`LastSeen`: per client id of `account@device`, else the account's last
disconnect).  When it comes online (`person_online`, `account_changed`, or
`session_attached` for one more session of an online person) it gets, without
asking:

* the private messages of the account since then (history's conversations;
  not for clients with draft/chathistory, which fetch them);
* the lines of the channels the person is in now (an attached session), and of
  each channel it joins later, once per channel (not for clients with
  draft/chathistory): up to `[history] autoreplay_lines` per target;
* the away log (mentions, private messages), minus what the two above showed
  (a line is shown once), marked read.

Clients with batch and server-time get `chathistory` batches; others get the
original lines from the original senders with the time before the text
(`batch.playback`), each in its own window.  Sessions without a starting point
(not logged in, or an account never seen offline) keep the plain replay on
JOIN (`[history] join_replay`).  The device's point moves to now when it comes
online and when it leaves (`session_detached`), so a line is never replayed to
a device that was there to see it.
"""

from __future__ import annotations

from ircpsyc.channels.place import Member, Place, PlaceObserver, PlaceView
from ircpsyc.ircd import caps as C
from ircpsyc.ircd.awaylog_hooks import returned
from ircpsyc.ircd.batch import can_batch, playback, send_packets
from ircpsyc.ircd.client import Client, render_message
from ircpsyc.ircd.core import IRCServer, PersonObserver
from ircpsyc.ircd.history_hooks import home_elsewhere, key_of, replay_plain
from ircpsyc.ircd.read_markers import owner
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.awaylog import AwayEntry
from ircpsyc.services.history import KIND_MESSAGE, Bound, Query, time_of

# Correspondents whose conversations are replayed at most, newest last.
MAX_CONVERSATIONS = 100


class _Start:
    """Where one session's replay starts, and what it was shown already."""

    __slots__ = ("channels", "shown", "since")

    def __init__(self, since: int) -> None:
        self.since = since  # ms: lines after this are new to the device
        self.shown: set[str] = set()  # msgids replayed to the session
        self.channels: set[str] = set()  # casefolded channels replayed to it


class Replay(PersonObserver):
    """Replays to each session what its device missed (see the module)."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core
        self.starts: dict[Session, _Start] = {}

    def now_ms(self) -> int:
        return int(self.core.clock() * 1000)

    # -- persons and sessions

    def person_online(self, client: Client) -> None:
        self.arrived(client, list(client.sessions))

    def account_changed(self, client: Client, old_account: str) -> None:
        if client.account:
            self.arrived(client, list(client.sessions))

    def session_attached(self, client: Client, session: Session) -> None:
        self.arrived(client, [session])

    def session_detached(self, client: Client, session: Session) -> None:
        self.starts.pop(session, None)
        if client.account:
            # Times are in ms: a line stamped in the very ms the session left may not
            # have reached it; better shown twice than lost.
            now = self.now_ms() - 1
            lastseen = self.core.lastseen
            if session.device:
                lastseen.seen(client.account, session.device, now)
            if all(s is session or s.closed for s in client.sessions):
                lastseen.seen(client.account, "", now)  # the person's last disconnect
                # Nobody sees its channels now: their mentions go to the away log
                # (also when the person stays in them, always-on).
                self.core.awaylog.add_watch(client.account, client.nick, list(client.channels))

    def person_offline(self, client: Client) -> None:
        if client.account:
            self.core.lastseen.seen(client.account, "", self.now_ms() - 1)
        else:
            self.core.readmarkers.forget(owner(client))  # its markers lived while it did

    def remote_channel_entered(self, client: Client, place: PlaceView) -> None:
        self.joined(client, place)

    # -- coming online

    def arrived(self, client: Client, sessions: list[Session]) -> None:
        """`sessions` of `client` came online (or logged in): replay what their
        devices missed, then the away log without what that showed."""
        account = client.account
        if not account:
            return
        self.core.readmarkers.fetch(account)  # from its home, when that is elsewhere
        lastseen = self.core.lastseen
        settings = self.core.config.history
        now = self.now_ms()
        for session in sessions:
            since = lastseen.get(account, session.device)
            if session.device:  # here from now on (if the server dies before it leaves)
                lastseen.seen(account, session.device, now)
            if since is None or not settings.enabled or settings.autoreplay_lines <= 0:
                continue
            start = self.starts[session] = _Start(since)
            if C.CHATHISTORY in session.caps:
                continue  # it fetches; the away log still comes (`returned`)
            self._private(client, session, start)
            for view in list(client.channels.values()):
                self._channel(client, session, view, start)
        returned(client, sessions, self._shown_already)

    def _shown_already(self, session: Session, entry: AwayEntry) -> bool:
        """Whether `session` was shown an away-log entry by the device replay; if not,
        it is shown now and remembered, so that the replay of its channel on JOIN
        leaves it out."""
        start = self.starts.get(session)
        msgid = entry.vars.get(V.ID)
        if start is None or not isinstance(msgid, str) or not msgid:
            return False
        if msgid in start.shown:
            return True
        start.shown.add(msgid)
        return False

    def _private(self, client: Client, session: Session, start: _Start) -> None:
        core = self.core
        history = core.history
        if not core.config.history.private:
            return
        limit = core.config.history.autoreplay_lines
        now = self.now_ms()
        me = key_of(client)
        for nick, target, _stamp in history.conversations(
            me, start.since, now + 1, MAX_CONVERSATIONS
        ):
            entries = history.query(
                Query(target, after=Bound(False, start.since), limit=limit, max_kind=KIND_MESSAGE)
            )
            if can_batch(session):
                send_packets(session, nick, [_private_packet(e.packet(), client) for e in entries])
            else:
                for entry in entries:
                    packet = entry.packet()
                    if not _mine(packet, client):  # what it said itself shows oddly there
                        _send_playback(session, _private_packet(packet, client), entry.time, now)
            start.shown.update(e.msgid for e in entries if e.msgid)

    # -- channels

    def joined(self, client: Client, view: PlaceView) -> None:
        """`client` entered a channel: the device replay to sessions that have one,
        the replay on JOIN to the others."""
        plain_join: list[Session] = []
        for session in client.sessions:
            if C.CHATHISTORY in session.caps or session.closed:
                continue  # it asks with CHATHISTORY itself
            start = self.starts.get(session)
            if start is not None and view.folded not in start.channels:
                self._channel(client, session, view, start)
            else:
                plain_join.append(session)
        if plain_join:
            replay_plain(client, view, plain_join)

    def _channel(self, client: Client, session: Session, view: PlaceView, start: _Start) -> None:
        """The lines of `view` after the session's start, once per channel."""
        start.channels.add(view.folded)
        core = self.core
        limit = core.config.history.autoreplay_lines
        home = home_elsewhere(core, view)
        if not home:
            entries = core.history.query(
                Query(view.folded, after=Bound(False, start.since), limit=limit)
            )
            self._show_channel(client, session, view, [e.packet() for e in entries])
            return

        asked = self.now_ms()

        def answered(packets: list[Packet] | None) -> None:
            if packets and session in client.sessions and view.folded in client.channels:
                # What was said since it was asked reached the session live.
                packets = [p for p in packets if time_of(p) <= asked]
                self._show_channel(client, session, view, packets)

        core.net.history.ask(
            home,
            view.name,
            client.uniform,
            "LATEST",
            [f"timestamp={start.since}"],
            limit,
            KIND_MESSAGE,
            answered,
        )

    def _show_channel(
        self, client: Client, session: Session, view: PlaceView, packets: list[Packet]
    ) -> None:
        start = self.starts.get(session)
        if start is not None:
            packets = [p for p in packets if p.get(V.ID) not in start.shown]
            start.shown.update(p.get(V.ID) for p in packets if p.get(V.ID))
        if not packets or session.closed:
            return
        if can_batch(session):
            send_packets(session, view.name, packets)
            return
        now = self.now_ms()
        for packet in packets:
            _send_playback(session, packet, time_of(packet), now)


class ReplayOnJoin(PlaceObserver):
    """Tells the replay that a local client entered a channel homed here."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay

    def member_entered(self, place: Place, member: Member) -> None:
        client = member.route
        if isinstance(client, Client):
            self.replay.joined(client, place)


def _mine(packet: Packet, client: Client) -> bool:
    """Whether `client` (its account) said a stored private line."""
    account = packet.get(V.ACCOUNT)
    if account and client.account:
        return casefold(account) == casefold(client.account)
    return casefold(packet.get(V.NICK)) == casefold(client.nick)


def _private_packet(packet: Packet, client: Client) -> Packet:
    """A stored private line as the person sees it now: sent to the nick it uses."""
    if _mine(packet, client):
        return packet
    return Packet(packet.method, {}, {**packet.vars, V.NICK_TARGET: client.nick}, packet.body)


def _send_playback(session: Session, packet: Packet, stamp: int, now: int) -> None:
    """One stored message to a client without batch/server-time: from its sender, with
    the time before the text."""
    data = render_message(playback(packet, stamp, now), session.fmt)
    if data:
        session.send(data)
