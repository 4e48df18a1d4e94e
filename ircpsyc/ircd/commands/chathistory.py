"""CHATHISTORY (IRCv3 draft/chathistory), the replay on JOIN, and the history wiring.

The history itself is `ircpsyc.services.history.History`, a place observer;
this module is its IRC side: it logs private messages (keyed by the two
parties: accounts when logged in, else nicks), replays the last messages of
a channel to a client that joins, and answers CHATHISTORY.

    CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <* | msgid=ID | timestamp=T> <limit>
    CHATHISTORY BETWEEN <target> <msgid=ID | timestamp=T> <msgid=ID | timestamp=T> <limit>
    CHATHISTORY TARGETS <timestamp=T> <timestamp=T> <limit>

A channel's history is shown to its members only.  A user who is not logged
in sees private history from its current connection only, so whoever takes a
nick later cannot read what its previous holder said.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from irctokens.line import Line

from ircpsyc.channels.place import Member, Place, PlaceObserver
from ircpsyc.ircd import caps as C
from ircpsyc.ircd.batch import (
    TARGETS_BATCH,
    can_batch,
    plain,
    send_batch,
    send_packets,
)
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import IRCServer, PersonObserver, command
from ircpsyc.ircd.lines import line, server_time
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.awaylog import AwayLog
from ircpsyc.services.history import (
    KIND_EVENT,
    KIND_MESSAGE,
    Bound,
    Entry,
    History,
    Query,
    conversation,
    party_key,
)

if TYPE_CHECKING:
    from ircpsyc.store import Store

CMD = "CHATHISTORY"

# Subcommand -> number of message references before the limit.
SUBCOMMANDS = {"LATEST": 1, "BEFORE": 1, "AFTER": 1, "AROUND": 1, "BETWEEN": 2, "TARGETS": 2}

_NOT_A_NICK = frozenset(" ,*?!@:#")


# -- wiring


def install(core: IRCServer) -> None:
    """Give `core` its history and away log (in memory until `attach_store`)."""
    from ircpsyc.ircd.commands.awaylog import AwayHooks

    history = History(lambda: core.config, core.clock)
    awaylog = AwayLog(lambda: core.config, core.clock)
    core.history = history
    core.awaylog = awaylog

    def registered_account(nick: str) -> str:
        """The account named like `nick` (NickServ registers nicks as accounts)."""
        accounts = core.accounts
        account = accounts.get(nick) if accounts is not None else None
        return account.name if account is not None else ""

    awaylog.resolve = registered_account
    core.places.observers.extend([history, awaylog, JoinReplay(core)])
    core.person_observers.extend([PrivateHistory(core), AwayHooks(core)])
    if core.config.history.enabled:
        core.extra_caps[C.CHATHISTORY] = _no_value
        core.extra_caps[C.EVENT_PLAYBACK] = _no_value


def _no_value() -> str:
    return ""


def attach_store(core: IRCServer, store: Store) -> None:
    """Keep history and away logs in the store from now on."""
    if core.history is not None:
        core.history.attach(store)
    if core.awaylog is not None:
        core.awaylog.attach(store)


def key_of(client: Client) -> str:
    """The party key of a client in private conversations."""
    return party_key(client.account, client.nick)


class PrivateHistory(PersonObserver):
    """Logs private messages into the conversation of the two parties."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core

    def private_message(
        self, session: Session, sender: Client, target: Client | None, packet: Packet
    ) -> None:
        history = self.core.history
        if history is None:
            return
        if target is None:
            account = packet.get("_account_target")
            target_key, target_nick = party_key(account, ""), packet.get("_nick_target")
        elif "/$" in target.uniform:
            return  # services: passwords and such are never kept
        else:
            target_key, target_nick = key_of(target), target.nick
        history.log_private(packet, key_of(sender), sender.nick, target_key, target_nick)


class JoinReplay(PlaceObserver):
    """Replays the last messages of a channel to a local client that joins it."""

    def __init__(self, core: IRCServer) -> None:
        self.core = core

    def member_entered(self, place: Place, member: Member) -> None:
        client = member.route
        if not isinstance(client, Client):
            return
        awaylog = self.core.awaylog
        if awaylog is not None and client.account:
            if client.away:
                awaylog.add_watch(client.account, client.nick, [place.folded])
            else:
                awaylog.drop_watches(client.account, place.folded)
        history = self.core.history
        settings = self.core.config.history
        if history is None or not settings.enabled or settings.join_replay <= 0:
            return
        entries: list[Entry] | None = None
        for session in client.sessions:
            if C.CHATHISTORY in session.caps:
                continue  # it asks with CHATHISTORY itself
            batch = can_batch(session)
            if not batch and not settings.join_replay_plain:
                continue
            if entries is None:
                entries = history.recent(place.folded, settings.join_replay)
            if not entries:
                return
            if batch:
                send_packets(session, place.name, (e.packet() for e in entries))
            else:
                for entry in entries:
                    text = plain(entry.packet(), entry.time)
                    session.send(line(self.core.name, "NOTICE", place.name, text))


# -- CHATHISTORY


class Invalid(Exception):
    """A parameter that cannot be parsed: FAIL CHATHISTORY INVALID_PARAMS."""

    def __init__(self, param: str, text: str) -> None:
        super().__init__(text)
        self.param = param
        self.text = text


def parse_timestamp(value: str) -> int:
    """`YYYY-MM-DDThh:mm:ss.sssZ` (server-time) as ms since the epoch."""
    text = value.strip()
    if not text or text[0] not in "0123456789":
        raise ValueError(value)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        raise ValueError(value)
    return int(stamp.timestamp() * 1000)


Reference = tuple[str, str | int]  # ("*", ""), ("msgid", id) or ("timestamp", ms)


def parse_reference(param: str) -> Reference:
    if param == "*":
        return ("*", "")
    kind, eq, value = param.partition("=")
    if eq and kind.lower() == "msgid" and value:
        return ("msgid", value)
    if eq and kind.lower() == "timestamp":
        try:
            return ("timestamp", parse_timestamp(value))
        except (ValueError, OverflowError):
            raise Invalid(param, "Invalid timestamp") from None
    raise Invalid(param, "Invalid message reference")


@command(CMD, min_params=1)
def handle_chathistory(s: Session, msg: Line) -> None:
    """CHATHISTORY LATEST <target> <* | msgid=ID | timestamp=T> <limit>
    CHATHISTORY BEFORE|AFTER|AROUND <target> <msgid=ID | timestamp=T> <limit>
    CHATHISTORY BETWEEN <target> <reference> <reference> <limit>
    CHATHISTORY TARGETS <timestamp=T> <timestamp=T> <limit>
    Stored messages of a channel you are in, or of your conversation with a nick
    (IRCv3 draft/chathistory; times look like 2026-01-31T12:00:00.000Z)."""
    client = s.client
    assert client is not None
    sub = msg.params[0].upper()
    params = msg.params[1:]
    if sub not in SUBCOMMANDS:
        s.fail(CMD, "INVALID_PARAMS", msg.params[0], "Unknown command")
        return
    wanted = SUBCOMMANDS[sub] + (1 if sub == "TARGETS" else 2)
    if len(params) < wanted:
        s.fail(CMD, "INVALID_PARAMS", sub, "Insufficient parameters")
        return
    if len(params) > wanted:
        s.fail(CMD, "INVALID_PARAMS", sub, "Too many parameters")
        return
    settings = s.core.config.history
    if not params[-1].isdigit():
        s.fail(CMD, "INVALID_PARAMS", sub, params[-1], "Invalid limit")
        return
    limit = int(params[-1])
    limit = settings.chathistory_limit if limit == 0 else min(limit, settings.chathistory_limit)
    history = s.core.history
    try:
        refs = [parse_reference(p) for p in params[-1 - SUBCOMMANDS[sub] : -1]]
        for param, ref in zip(params[-1 - SUBCOMMANDS[sub] : -1], refs, strict=True):
            if ref[0] == "*" and sub != "LATEST":
                raise Invalid(param, "Invalid message reference")
            if sub == "TARGETS" and ref[0] != "timestamp":
                raise Invalid(param, "TARGETS needs timestamps")
    except Invalid as error:
        s.fail(CMD, "INVALID_PARAMS", sub, error.param, error.text)
        return
    max_kind = KIND_EVENT if C.EVENT_PLAYBACK in s.caps else KIND_MESSAGE
    if history is None:
        s.fail(CMD, "MESSAGE_ERROR", sub, params[0], "Messages could not be retrieved")
        return
    if sub == "TARGETS":
        _targets(s, client, history, refs, limit, max_kind)
        return
    target = params[0]
    resolved = _resolve(s, client, history, target)
    if resolved is None:
        s.fail(CMD, "INVALID_TARGET", sub, target, "Messages could not be retrieved")
        return
    key, min_time = resolved
    entries = _select(history, sub, key, refs, limit, max_kind, min_time)
    send_packets(s, target, (e.packet() for e in entries))


def _resolve(s: Session, client: Client, history: History, target: str) -> tuple[str, int] | None:
    """The history target a client may read for `target`, and its earliest time."""
    if target.startswith("#"):
        folded = casefold(target)
        return (folded, 0) if folded in client.channels else None
    if not target or any(c in _NOT_A_NICK for c in target):
        return None
    if not s.core.config.history.private:
        return None
    me = key_of(client)
    # Not logged in: only what this connection saw (a nick is not an identity).
    min_time = 0 if client.account else int(client.signon * 1000)
    other = s.core.find(target)
    if other is not None:
        if "/$" in other.uniform:
            return None
        return conversation(me, key_of(other)), min_time
    known = history.conversation_with(me, target)
    if known:
        return known, min_time
    account = next((a for o in s.core.person_observers if (a := o.absent_account(target))), "")
    return conversation(me, party_key(account, target)), min_time


def _bound(history: History, key: str, ref: Reference) -> tuple[Bound, tuple[int, int]] | None:
    """An exclusive bound for a reference, and its position (time, seq) for ordering."""
    kind, value = ref
    if kind == "timestamp":
        assert isinstance(value, int)
        return Bound(False, value), (value, 0)
    entry = history.find(key, str(value))
    if entry is None:
        return None
    return Bound(True, entry.seq), (entry.time, entry.seq)


def _select(
    history: History,
    sub: str,
    key: str,
    refs: list[Reference],
    limit: int,
    max_kind: int,
    min_time: int,
) -> list[Entry]:
    def run(
        after: Bound | None, before: Bound | None, count: int, newest_first: bool
    ) -> list[Entry]:
        return history.query(Query(key, after, before, count, newest_first, max_kind, min_time))

    if sub == "LATEST" and refs[0][0] == "*":
        return run(None, None, limit, True)
    first = _bound(history, key, refs[0])
    if first is None:
        return []  # an unknown msgid: nothing to anchor on
    bound, position = first
    if sub == "LATEST":
        return run(bound, None, limit, True)
    if sub == "BEFORE":
        return run(None, bound, limit, True)
    if sub == "AFTER":
        return run(bound, None, limit, False)
    if sub == "AROUND":
        # The message itself (or the ones at that time) and its neighbours.
        inclusive = Bound(bound.by_seq, bound.value - 1)
        before = run(None, bound, limit // 2, True)
        after = run(inclusive, None, limit - len(before), False)
        if len(before) + len(after) < limit and len(before) == limit // 2:
            before = run(None, bound, limit - len(after), True)
        return before + after
    second = _bound(history, key, refs[1])  # BETWEEN
    if second is None:
        return []
    other, other_position = second
    if position <= other_position:
        return run(bound, other, limit, False)
    return run(other, bound, limit, True)


def _targets(
    s: Session,
    client: Client,
    history: History,
    refs: list[Reference],
    limit: int,
    max_kind: int,
) -> None:
    """CHATHISTORY TARGETS: channels and correspondents by time of their latest message."""
    first, second = (int(ref[1]) for ref in refs)
    low, high = min(first, second), max(first, second)
    found: list[tuple[int, str]] = []
    for view in list(client.channels.values()):
        latest = history.latest(view.folded, max_kind)
        if latest is not None and low < latest.time < high:
            found.append((latest.time, view.name))
    if s.core.config.history.private:
        min_time = 0 if client.account else int(client.signon * 1000)
        for nick, _target, stamp in history.conversations(
            key_of(client), low, high, limit, min_time
        ):
            found.append((stamp, nick))
    found.sort()
    found = found[:limit] if first <= second else found[-limit:]
    name = s.core.name
    send_batch(
        s,
        TARGETS_BATCH,
        [],
        (line(name, CMD, "TARGETS", target, server_time(stamp)) for stamp, target in found),
    )
