"""CHATHISTORY (IRCv3 draft/chathistory).

The history itself is `ircpsyc.services.history.History`; what is logged and
replayed on JOIN is decided in `ircpsyc.ircd.history_hooks`.

    CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <* | msgid=ID | timestamp=T> <limit>
    CHATHISTORY BETWEEN <target> <msgid=ID | timestamp=T> <msgid=ID | timestamp=T> <limit>
    CHATHISTORY TARGETS <timestamp=T> <timestamp=T> <limit>

A channel's history lives at its home server: for a channel homed elsewhere
the home selects (`ircpsyc.services.history_net`, `_request_history`) and this
module renders the answer as for a local channel; the command's label waits
for it (`Session.later`), and an unreachable or silent home gives FAIL
CHATHISTORY MESSAGE_ERROR.  A channel's history is shown to its members only.
A user who is not logged in sees private history from its current connection
only, so whoever takes a nick later cannot read what its previous holder said.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from irctokens.line import Line

from ircpsyc.channels.place import PlaceView
from ircpsyc.ircd import caps as C
from ircpsyc.ircd.batch import (
    TARGETS_BATCH,
    send_batch,
    send_packets,
)
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.core import command
from ircpsyc.ircd.history_hooks import home_elsewhere, key_of
from ircpsyc.ircd.lines import line, server_time
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold, is_service
from ircpsyc.services.history import (
    KIND_EVENT,
    KIND_MESSAGE,
    History,
    Reference,
    conversation,
    party_key,
    select_refs,
    time_of,
    wire_reference,
)

if TYPE_CHECKING:
    pass

CMD = "CHATHISTORY"

# Subcommand -> number of message references before the limit.
SUBCOMMANDS = {"LATEST": 1, "BEFORE": 1, "AFTER": 1, "AROUND": 1, "BETWEEN": 2, "TARGETS": 2}

_NOT_A_NICK = frozenset(" ,*?!@:#")


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
    if sub == "TARGETS":
        _targets(s, client, history, refs, limit, max_kind)
        return
    target = params[0]
    resolved = _resolve(s, client, history, target)
    if isinstance(resolved, str):
        s.fail(CMD, "INVALID_TARGET", sub, target, resolved)
        return
    key, min_time = resolved
    home = home_elsewhere(s.core, client.channels.get(key)) if target.startswith("#") else ""
    if home:
        _ask_home(s, client, home, sub, target, refs, limit, max_kind)
        return
    entries = select_refs(history, sub, key, refs, limit, max_kind, min_time)
    send_packets(s, target, (e.packet() for e in entries))


def _ask_home(
    s: Session,
    client: Client,
    home: str,
    sub: str,
    target: str,
    refs: list[Reference],
    limit: int,
    max_kind: int,
) -> None:
    """CHATHISTORY of a channel homed elsewhere: the home selects, we render."""
    service = s.core.net.history
    unreachable = f"The history of {target} is on {home}, which cannot be reached now"
    if not service.can_ask(home):
        s.fail(CMD, "MESSAGE_ERROR", sub, target, unreachable)
        return
    answer = s.later()

    def done(packets: list[Packet] | None) -> None:
        def reply() -> None:
            if packets is None:
                s.fail(CMD, "MESSAGE_ERROR", sub, target, unreachable)
            else:
                send_packets(s, target, packets)

        answer(reply)

    wire = [wire_reference(ref) for ref in refs]
    if not service.ask(home, target, client.uniform, sub, wire, limit, max_kind, done):
        done(None)


def _resolve(s: Session, client: Client, history: History, target: str) -> tuple[str, int] | str:
    """The history target a client may read for `target` and its earliest time, or
    why it may not (the text of the FAIL)."""
    if target.startswith("#"):
        folded = casefold(target)
        if folded in client.channels:
            return folded, 0
        return f"You are not on {target}: a channel's history is for its members"
    if not target or any(c in _NOT_A_NICK for c in target):
        return f"{target or '*'} is neither a channel nor a nick"
    if not s.core.config.history.private:
        return "This server keeps no history of private messages"
    me = key_of(client)
    # Not logged in: only what this connection saw (a nick is not an identity).
    min_time = 0 if client.account else int(client.signon * 1000)
    other = s.core.find(target)
    if other is not None:
        if is_service(other.uniform):
            return f"{target} is a service: it keeps no conversation history"
        return conversation(me, key_of(other)), min_time
    known = history.conversation_with(me, target)
    if known:
        return known, min_time
    account = next((a for o in s.core.person_observers if (a := o.absent_account(target))), "")
    return conversation(me, party_key(account, target)), min_time


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
    remote: list[tuple[str, PlaceView]] = []
    for view in list(client.channels.values()):
        home = home_elsewhere(s.core, view)
        if home:
            remote.append((home, view))
            continue
        latest = history.latest(view.folded, max_kind)
        if latest is not None and low < latest.time < high:
            found.append((latest.time, view.name))
    if s.core.config.history.private:
        min_time = 0 if client.account else int(client.signon * 1000)
        for nick, _target, stamp in history.conversations(
            key_of(client), low, high, limit, min_time
        ):
            found.append((stamp, nick))
    if remote:
        _remote_targets(s, client, remote, found, low, high, limit, first <= second, max_kind)
        return
    _send_targets(s, found, limit, first <= second)


def _remote_targets(
    s: Session,
    client: Client,
    remote: list[tuple[str, PlaceView]],
    found: list[tuple[int, str]],
    low: int,
    high: int,
    limit: int,
    ascending: bool,
    max_kind: int,
) -> None:
    """TARGETS with channels homed elsewhere: each home tells its latest message (a
    home that cannot answer leaves its channel out rather than failing them all)."""
    service = s.core.net.history
    answer = s.later()
    waiting = [len(remote)]

    def one_done(name: str, packets: list[Packet] | None) -> None:
        if packets:
            stamp = time_of(packets[-1])
            if low < stamp < high:
                found.append((stamp, name))
        waiting[0] -= 1
        if waiting[0] == 0:
            answer(lambda: _send_targets(s, found, limit, ascending))

    for home, view in remote:

        def done(packets: list[Packet] | None, name: str = view.name) -> None:
            one_done(name, packets)

        refs = ["*"]
        if not service.ask(home, view.name, client.uniform, "LATEST", refs, 1, max_kind, done):
            one_done(view.name, None)


def _send_targets(s: Session, found: list[tuple[int, str]], limit: int, ascending: bool) -> None:
    found.sort()
    found = found[:limit] if ascending else found[-limit:]
    name = s.core.name
    send_batch(
        s,
        TARGETS_BATCH,
        [],
        (line(name, CMD, "TARGETS", target, server_time(stamp)) for stamp, target in found),
    )
