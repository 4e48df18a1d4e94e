"""The away log on IRC: recording, the replay when an account returns, and AWAYLOG.

    AWAYLOG [LIST | PLAY | CLEAR]

The service is `ircpsyc.services.awaylog.AwayLog`; this module decides when to
record (a private message to an away or absent registered account; channel
mentions are the service's own place observer, and see the replicas' casts
for channels homed elsewhere), tells the sender the message was kept (for a
recipient on another server, that server keeps it when it arrives: `arrived`),
and replays the log when the account comes back: when it logs in (`returned`,
called from the account hooks: `person_online` and `account_changed`) or
clears AWAY.  Clients with batch and server-time get
`chathistory` batches (one per channel or correspondent) whose lines carry
the original times; others get NOTICE lines that start with the time.

For the account service (NickServ AWAYLOG): `summary(client)`,
`play(client)` and `clear(client)`.
"""

from __future__ import annotations

from irctokens.line import Line

from ircpsyc.ircd.batch import can_batch, plain, send_packets, when
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import IRCServer, PersonObserver, command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.services.awaylog import AwayEntry

CMD = "AWAYLOG"


class AwayHooks(PersonObserver):
    """Records private messages for away or absent accounts; replays on return."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core

    def absent_account(self, nick: str) -> str:
        awaylog = self.core.awaylog
        if awaylog is None or not awaylog.enabled:
            return ""
        return awaylog.resolve(nick)

    def private_message(
        self, session: Session, sender: Client, target: Client | None, packet: Packet
    ) -> None:
        awaylog = self.core.awaylog
        if awaylog is None or target is sender or packet.method.endswith("_tagmsg"):
            return
        body = packet.body
        if body.startswith("\x01") and not body.startswith("\x01ACTION"):
            return  # CTCP requests are not messages
        if target is None:
            account, state = packet.get("_account_target"), "not online"
        elif target.away and target.account and "/$" not in target.uniform:
            account, state = target.account, "away"
        else:
            return
        if target is not None and not self.core.router.is_local(target.uniform):
            # The recipient's server keeps it (`arrived`), where the account comes back.
            if not awaylog.enabled:
                return
        elif awaylog.record(account, packet) is None:
            return
        if packet.method == "_message_private":  # never answer a NOTICE
            nick = packet.get("_nick_target")
            session.note(
                f"{nick} is {state}; your message has been recorded and will be shown "
                "when they return."
            )

    def away_changed(self, client: Client) -> None:
        awaylog = self.core.awaylog
        if awaylog is None or not client.account:
            return
        if client.away:
            awaylog.add_watch(client.account, client.nick, list(client.channels))
        else:
            returned(client)

    def person_online(self, client: Client) -> None:
        if client.account:
            returned(client)

    def account_changed(self, client: Client, old_account: str) -> None:
        if client.account:
            returned(client)


def arrived(client: Client, packet: Packet) -> None:
    """A private message from another server for a local person who is away: kept
    here, with the recipient (its sender's server told the sender so)."""
    awaylog = client.core.awaylog
    if awaylog is None or not client.away or not client.account:
        return
    if packet.method.endswith("_tagmsg") or client.core.router.is_local(packet.source):
        return  # local senders are recorded by `AwayHooks.private_message`
    body = packet.body
    if body.startswith("\x01") and not body.startswith("\x01ACTION"):
        return
    awaylog.record(client.account, packet)


# -- what the account service and the commands use


def returned(client: Client) -> int:
    """The account of `client` is back: stop watching for it and replay what it
    missed (unless it is away), then mark that read.  Returns the number replayed."""
    awaylog = client.core.awaylog
    if awaylog is None or not client.account:
        return 0
    if client.away:
        awaylog.add_watch(client.account, client.nick, list(client.channels))
        return 0
    awaylog.drop_watches(client.account)
    return play(client, unread_only=True)


def play(client: Client, unread_only: bool = False) -> int:
    """Replay the away log of `client`'s account to all its sessions; mark it read."""
    awaylog = client.core.awaylog
    if awaylog is None or not client.account:
        return 0
    entries = awaylog.entries(client.account, unread_only=unread_only)
    if not entries:
        return 0
    for session in client.sessions:
        present(session, entries)
    awaylog.mark_read(client.account, entries)
    return len(entries)


def present(session: Session, entries: list[AwayEntry]) -> None:
    """Show away-log entries: chathistory batches, or NOTICE lines marked with their time."""
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
    name = session.core.name
    for entry in entries:
        text = plain(_packet(entry, nick), entry.time, entry.channel)
        session.send(line(name, "NOTICE", nick, text))
    session.note("End of away log.")


def _packet(entry: AwayEntry, nick: str) -> Packet:
    # A private message is shown as sent to the nick the account uses now.
    return entry.packet() if entry.channel else entry.packet(_nick_target=nick)


def summary(client: Client) -> list[str]:
    """Lines describing the away log of `client`'s account (AWAYLOG LIST)."""
    awaylog = client.core.awaylog
    if awaylog is None or not client.account:
        return ["You are not logged in to an account, so you have no away log."]
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


def clear(client: Client) -> int:
    """Delete the away log of `client`'s account; how many entries it had."""
    awaylog = client.core.awaylog
    if awaylog is None or not client.account:
        return 0
    return awaylog.clear(client.account)


# AWAYLOG [LIST | PLAY | CLEAR]
@command(CMD)
def handle_awaylog(s: Session, msg: Line) -> None:
    """AWAYLOG [LIST | PLAY | CLEAR]
    What your account missed while it was away or offline: private messages and
    channel lines that mention your nick.  LIST counts them, PLAY shows them all
    again, CLEAR deletes them.  They are shown on their own when you log in or
    come back from AWAY."""
    client = s.client
    assert client is not None
    sub = msg.params[0].upper() if msg.params else "LIST"
    if sub not in ("LIST", "PLAY", "CLEAR"):
        s.fail(CMD, "INVALID_PARAMS", msg.params[0], "Use AWAYLOG LIST, PLAY or CLEAR")
        return
    if not client.account:
        s.fail(CMD, "ACCOUNT_REQUIRED", "You must be logged in to an account to have an away log")
        return
    if sub == "LIST":
        for text in summary(client):
            s.note(text)
    elif sub == "PLAY":
        awaylog = s.core.awaylog
        entries = awaylog.entries(client.account, unread_only=False) if awaylog else []
        if not entries or awaylog is None:
            s.note("Your away log is empty.")
            return
        present(s, entries)
        awaylog.mark_read(client.account, entries)
    else:
        count = clear(client)
        s.note(f"Away log cleared ({count} entr{'ies' if count != 1 else 'y'}).")
