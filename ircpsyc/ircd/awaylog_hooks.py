"""The away log on IRC: recording, and the replay when an account returns.

The service is `ircpsyc.services.awaylog.AwayLog`; this module decides when to
record (a private message to an away or absent registered account; channel
mentions are the service's own place observer, and see the replicas' casts
for channels homed elsewhere), tells the sender the message was kept (for an
away recipient on another server, that server keeps it when it arrives: `arrived`),
and replays the log when the account comes back: when it logs in (`returned`,
called from the account hooks: `person_online` and `account_changed`) or
clears AWAY.  Clients with batch and server-time get
`chathistory` batches (one per channel or correspondent) whose lines carry
the original times; others get NOTICE lines that start with the time.

The AWAYLOG command (ircpsyc.ircd.commands.awaylog) is built from
`summary(client)`, `play(client)` and `clear(client)`.

Across servers, an account's away log lives at the account's home
(`log_home`; ircpsyc.services.awaylog_net has the PSYC methods):

* A private message to a registered account that nobody uses now is handed by
  the sender's server to the home (`keep`).  When the home cannot be reached,
  the sender is told at once that the message could not be kept ("try again
  later"), as a change to the account would be refused: it is not held back
  on the sender's server, where the account would never see it, nor shown
  later out of order.  A home that refuses it or does not answer in time gets
  the sender a second notice saying so.
* A private message that arrives from another server for a local person who is
  away is handed to the home by the person's server (`arrived`); if the home
  cannot be reached it is kept here instead, where the person is.
* A mention (found by the place observer of the channel's home, or of the
  replica where the member was away) goes to the home too (`route_mention`):
  kept once per msgid, and only while the account has no session that is not
  away (else the watch is stale and dropped).  With the home unreachable it is
  kept where it was found.
* On return (login, AWAY off) and for AWAYLOG LIST|PLAY|CLEAR, this server asks
  the home (`gather`) and merges what it may hold itself (the fallbacks above),
  replays it, and marks it read at the home (`_request_awaylog_read`).  A home
  that does not answer leaves its entries unread: the user is told AWAYLOG
  PLAY tries again.
"""

from __future__ import annotations

from collections.abc import Callable

from ircpsyc.ircd.batch import can_batch, playback, send_packets, when
from ircpsyc.ircd.client import Client, render_message
from ircpsyc.ircd.core import IRCServer, PersonObserver
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold, is_service
from ircpsyc.services.awaylog import AwayEntry


def _about(session: Session, nick: str, text: str) -> None:
    """What became of a private message, as a NOTICE from the recipient's nick, so
    that clients show it in the query window with the message, not in the status
    window (the user part says it is the server speaking, never the person)."""
    session.send(line(f"{nick}!awaylog@{session.core.name}", "NOTICE", session.nick or "*", text))


class AwayHooks(PersonObserver):
    """Records private messages for away or absent accounts; replays on return."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core

    def absent_account(self, nick: str) -> str:
        awaylog = self.core.awaylog
        if not awaylog.enabled:
            return ""
        return awaylog.resolve(nick)

    def private_message(
        self, session: Session, sender: Client, target: Person | None, packet: Packet
    ) -> None:
        if target is not None and (not target.account or (target.sessions and not target.away)):
            return  # the common case, first: nobody's away log keeps it
        awaylog = self.core.awaylog
        if target is sender or packet.method.endswith(V.TAGMSG_SUFFIX):
            return
        body = packet.body
        if body.startswith("\x01") and not body.startswith("\x01ACTION"):
            return  # CTCP requests are not messages
        if target is None:
            account, state = packet.get(V.ACCOUNT_TARGET), "not online"
        elif target.away and target.account and not is_service(target.uniform):
            account, state = target.account, "away"
        elif target.account and not target.sessions and isinstance(target, Client):
            account, state = target.account, "not connected"  # always-on, not shown away
        else:
            return
        nick = packet.get(V.NICK_TARGET)
        speak = packet.method == V.MESSAGE_PRIVATE  # never answer a NOTICE
        if target is not None and not self.core.router.is_local(target.uniform):
            # The recipient's server keeps it (`arrived`), where the account comes back.
            if not awaylog.enabled:
                return
        else:

            def failed(reason: str) -> None:
                if speak and not session.closed:
                    _about(
                        session,
                        nick,
                        f"Sorry, your message to {nick} may not have been kept after all "
                        f"({_REASONS.get(reason, reason)}); please send it again later.",
                    )

            kept = keep(self.core, account, packet, "", failed)
            if kept is None:
                return
            if not kept:
                if speak:
                    _about(
                        session,
                        nick,
                        f"{nick} is {state} and the server {log_home(self.core, account)} "
                        "that keeps their messages cannot be reached right now; your "
                        "message could not be kept. Please send it again later.",
                    )
                return
        if speak:
            _about(
                session,
                nick,
                f"{nick} is {state}; your message has been recorded and will be shown "
                "when they return.",
            )

    def away_changed(self, client: Client) -> None:
        awaylog = self.core.awaylog
        if not client.account:
            return
        if client.away:
            awaylog.add_watch(client.account, client.nick, list(client.channels))
        elif len(client.sessions) == 1 and client.sessions[0] in self.core.attaching:
            return  # back by a connection: its device replay shows the away log too
        else:
            returned(client)

    # Coming online and logging in replay through ircpsyc.ircd.replay (`returned`).

    def private_arrived(self, client: Client, packet: Packet) -> None:
        if client.away and client.account:
            arrived(client, packet)


def arrived(client: Client, packet: Packet) -> None:
    """A private message from another server for a local person who is away: kept
    in the away log of its account, at the account's home (here if that cannot be
    reached; its sender's server told the sender it was kept)."""
    core = client.core
    awaylog = core.awaylog
    if not client.away or not client.account:
        return
    if packet.method.endswith(V.TAGMSG_SUFFIX) or core.router.is_local(packet.source):
        return  # local senders are recorded by `AwayHooks.private_message`
    body = packet.body
    if body.startswith("\x01") and not body.startswith("\x01ACTION"):
        return
    account = client.account

    def failed(reason: str) -> None:
        awaylog.record(account, packet)

    if keep(core, account, packet, "", failed) is False:
        awaylog.record(account, packet)


# -- where an account's away log lives (ircpsyc.services.awaylog_net)

_REASONS = {
    "timeout": "the server keeping their messages did not answer in time",
    "lost": "the server keeping their messages was lost",
    "disabled": "the server keeping their messages keeps no away log",
}


def log_home(core: IRCServer, account: str) -> str:
    """The server whose away log keeps `account`: its home ("" for this server, and
    for an account this server does not know)."""
    service = core.net.awaylog
    nickserv, accounts = core.nickserv, core.accounts
    if nickserv is None or accounts is None or not account:
        return ""
    held = accounts.get(account)
    if held is None:
        return ""
    home = nickserv.sync.home_of(held)
    return "" if home == service.me else home


def keep(
    core: IRCServer,
    account: str,
    packet: Packet,
    channel: str = "",
    failed: Callable[[str], None] | None = None,
) -> bool | None:
    """Keep a line for `account` where its away log lives.  True: kept here, or on its
    way to the home (`failed(reason)` is called if the home then refuses it or does
    not answer); False: the home cannot be reached now; None: not kept (no away log,
    or kept already)."""
    awaylog = core.awaylog
    if not awaylog.enabled:
        return None
    home = log_home(core, account)
    service = core.net.awaylog
    if not home:
        return awaylog.record(account, packet, channel) is not None

    def done(reason: str) -> None:
        if reason and failed is not None:
            failed(reason)

    return service.store(home, account, packet, channel, done)


def route_mention(core: IRCServer, account: str, packet: Packet, channel: str) -> None:
    """A mention of an absent account (`AwayLog.route`): to the away log at its home;
    kept here when the home cannot be reached or does not answer."""
    awaylog = core.awaylog

    def failed(reason: str) -> None:
        if reason == "present":  # back somewhere: what made us watch is over
            awaylog.drop_watches(account)
        elif reason != "disabled":
            awaylog.record(account, packet, channel)

    if keep(core, account, packet, channel, failed) is False:
        awaylog.record(account, packet, channel)


def account_present(core: IRCServer, account: str, channel: str) -> bool:
    """Whether a person of `account`, on any server, is in `channel` and not away
    (`AwayLog.present`): it sees what is said there."""
    view = core.places.get(channel)
    if view is None:
        return False
    folded = casefold(account)
    for member in view.members.values():
        if not member.account or casefold(member.account) != folded:
            continue
        route = member.route
        found = route if isinstance(route, Person) else core.find(member.nick)
        if found is None:
            return True
        if isinstance(found, Client) and not found.sessions:
            continue  # a person of this server that stays with no session: absent
        if not found.away:
            return True
    return False


def gather(client: Client, unread_only: bool, done: Callable[[list[AwayEntry], str], None]) -> None:
    """The away log of `client`'s account: what this server holds and what its home
    holds, oldest first.  `done(entries, unreachable)` is called once, at once when the
    log is here; `unreachable` names the home when its part could not be had."""
    core = client.core
    awaylog = core.awaylog
    account = client.account
    if not account:
        done([], "")
        return
    local = awaylog.entries(account, unread_only=unread_only)
    home = log_home(core, account)
    service = core.net.awaylog
    if not home:
        done(local, "")
        return

    def fetched(remote: list[AwayEntry] | None) -> None:
        if remote is None:
            done(local, home)
            return
        seen: set[str] = set()
        merged, twice = [], []
        for entry in sorted([*remote, *local], key=lambda e: e.time):
            msgid = entry.vars.get(V.ID)
            if isinstance(msgid, str) and msgid:
                if msgid in seen:  # kept here after the home timed out, and there too
                    twice.append(entry)
                    continue
                seen.add(msgid)
            merged.append(entry)
        awaylog.mark_read(account, [e for e in twice if not e.home])
        done(merged[-core.config.awaylog.max_entries :], "")

    if not service.fetch(home, account, unread_only, fetched):
        done(local, home)


def mark_read(client: Client, entries: list[AwayEntry]) -> None:
    """Entries were shown: marked read here, and at the home for those it holds."""
    core = client.core
    awaylog = core.awaylog
    account = client.account
    if not account or not entries:
        return
    service = core.net.awaylog
    homes: dict[str, int] = {}
    for entry in entries:
        if entry.home:
            homes[entry.home] = max(homes.get(entry.home, 0), entry.seq)
            entry.read = True
    for home, upto in homes.items():
        service.mark_read(home, account, upto)
    awaylog.mark_read(account, [e for e in entries if not e.home])


# -- what the account service and the commands use


# Whether an entry reaches a session another way already (the device replay).
Skip = Callable[[Session, AwayEntry], bool]


def returned(
    client: Client, sessions: list[Session] | None = None, skip: Skip | None = None
) -> int:
    """The account of `client` is back (`sessions` of it came, or AWAY is off): stop
    watching the channels it is in and replay what it missed (unless it is away),
    then mark that read.  Returns the number replayed now (entries at the account's
    home on another server follow when it answers)."""
    awaylog = client.core.awaylog
    if not client.account:
        return 0
    if client.away:
        awaylog.add_watch(client.account, client.nick, list(client.channels))
        return 0
    # Only where it is now: a session that has not joined its channels yet (or
    # drops before it does) leaves the mentions elsewhere kept.
    for channel in list(client.channels):
        awaylog.drop_watches(client.account, channel)
    return play(client, unread_only=True, sessions=sessions, skip=skip)


def play(
    client: Client,
    unread_only: bool = False,
    sessions: list[Session] | None = None,
    skip: Skip | None = None,
) -> int:
    """Replay the away log of `client`'s account to its sessions (all, or these); mark
    it read.  Entries `skip` says a session sees otherwise are left out for it.
    Returns the number shown at once (0 while the account's home is asked)."""
    shown = [0]
    account = client.account

    def done(entries: list[AwayEntry], unreachable: str) -> None:
        if client.account != account:
            return  # logged out or in to another account meanwhile
        to = [
            s
            for s in (client.sessions if sessions is None else sessions)
            if not s.closed and s in client.sessions
        ]
        if unreachable:
            for session in to:
                session.note(
                    f"Your away log is kept by the server {unreachable}, which cannot be "
                    "reached right now; AWAYLOG PLAY shows it later."
                )
        if not entries or not to:
            return  # nobody to show them to: they stay unread
        for session in to:
            mine = entries if skip is None else [e for e in entries if not skip(session, e)]
            if mine:
                present(session, mine)
        mark_read(client, entries)
        shown[0] = len(entries)

    gather(client, unread_only, done)
    return shown[0]


def present(session: Session, entries: list[AwayEntry]) -> None:
    """Show away-log entries: chathistory batches, or the original lines from their
    senders with the time before the text (each in its channel or query window)."""
    nick = session.nick
    count = len(entries)
    session.note(
        f"Away log: {count} message{'s' if count != 1 else ''} "
        "recorded while you were away (AWAYLOG CLEAR deletes them)."
    )
    if can_batch(session):
        groups: dict[str, list[Packet]] = {}
        for entry in entries:  # one batch per channel or correspondent, in order of time
            where = entry.channel or entry.nick
            groups.setdefault(where, []).append(_packet(entry, nick))
        for where, packets in groups.items():
            send_packets(session, where, packets)
        return
    now = int(session.core.clock() * 1000)
    for entry in entries:
        data = render_message(playback(_packet(entry, nick), entry.time, now), session.fmt)
        if data:
            session.send(data)
    session.note("End of away log.")


def _packet(entry: AwayEntry, nick: str) -> Packet:
    # A private message is shown as sent to the nick the account uses now.
    return entry.packet() if entry.channel else entry.packet(_nick_target=nick)


def summary(client: Client, entries: list[AwayEntry] | None = None) -> list[str]:
    """Lines describing the away log of `client`'s account (AWAYLOG LIST); `entries`
    as `gather` found them (without: what this server holds)."""
    awaylog = client.core.awaylog
    if not client.account:
        return ["You are not logged in to an account, so you have no away log."]
    if entries is None:
        entries = awaylog.entries(client.account, unread_only=False)
    unread = sum(1 for e in entries if not e.read)
    out = [f"Away log: {len(entries)} kept, {unread} unread."]
    sources: dict[str, list[AwayEntry]] = {}
    for entry in entries:
        sources.setdefault(entry.channel or entry.nick, []).append(entry)
    for where, items in sources.items():
        kind = "mention" if items[0].channel else "private message"
        plural = "s" if len(items) != 1 else ""
        out.append(f"  {where}: {len(items)} {kind}{plural}, the last at {when(items[-1].time)}")
    if entries:
        out.append("AWAYLOG PLAY shows them, AWAYLOG CLEAR deletes them.")
    return out


def clear(client: Client, done: Callable[[int | None], None] | None = None) -> int:
    """Delete the away log of `client`'s account; how many entries it had here.
    `done(count)` gets the whole count (with the home's part; None if the home could
    not be reached: then only what this server held is gone)."""
    core = client.core
    awaylog = core.awaylog
    if not client.account:
        if done is not None:
            done(0)
        return 0
    count = awaylog.clear(client.account)
    home = log_home(core, client.account)
    service = core.net.awaylog

    def cleared(theirs: int | None) -> None:
        if done is not None:
            done(None if theirs is None else count + theirs)

    if not home:
        cleared(0)
    elif not service.clear(home, client.account, cleared):
        cleared(None)
    return count
