"""CHATHISTORY (IRCv3 draft/chathistory), the replay on JOIN, and the history wiring.

The history itself is `ircpsyc.services.history.History`, a place observer;
this module is its IRC side: it logs private messages (keyed by the two
parties: accounts when logged in, else nicks), replays the last messages of
a channel to a client that joins, and answers CHATHISTORY.

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
from functools import partial
from typing import TYPE_CHECKING

from irctokens.line import Line

from ircpsyc.channels.place import Member, Place, PlaceObserver, PlaceView
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
from ircpsyc.psyc_backend.network import host_of
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.uniform import casefold
from ircpsyc.services.awaylog import AwayLog
from ircpsyc.services.history import (
    KIND_EVENT,
    KIND_MESSAGE,
    Entry,
    History,
    Reference,
    conversation,
    party_key,
    select_refs,
    time_of,
    wire_reference,
)

if TYPE_CHECKING:
    from ircpsyc.services.history_net import NetHistory
    from ircpsyc.store import Store

CMD = "CHATHISTORY"

# Subcommand -> number of message references before the limit.
SUBCOMMANDS = {"LATEST": 1, "BEFORE": 1, "AFTER": 1, "AROUND": 1, "BETWEEN": 2, "TARGETS": 2}

_NOT_A_NICK = frozenset(" ,*?!@:#")


# -- wiring


def install(core: IRCServer) -> None:
    """Give `core` its history and away log (in memory until `attach_store`)."""
    from ircpsyc.ircd.commands.awaylog import AwayHooks, account_present, route_mention

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
    awaylog.present = partial(account_present, core)
    awaylog.route = partial(route_mention, core)
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


def arrived_private(client: Client, packet: Packet) -> None:
    """A private message from another server for the local person `client`: kept here
    too, so each server has the whole conversation (its sender's server logged it
    when it was sent).  Same entry as there: the packet with its msgid and time, and
    the party keys both servers compute (the sender's account as its server vouched
    for it; a person from outside the network by its uniform)."""
    core = client.core
    history = core.history
    source = packet.routing.get("_source", "")
    if history is None or not source or "/$" in source or core.router.is_local(source):
        return
    net = core.net
    trusted = net is not None and net.network.in_network(host_of(source))
    nick = packet.get("_nick") or source
    sender_key = party_key(packet.get("_account") if trusted else "", nick)
    history.log_private(packet, sender_key, nick, key_of(client), client.nick)


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
        s.fail(CMD, "MESSAGE_ERROR", sub, params[0], "This server keeps no history")
        return
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


# -- channels homed on other servers: their home answers (ircpsyc.services.history_net)


def home_elsewhere(core: IRCServer, view: PlaceView | None) -> str:
    """The server a channel's history lives on when it is not this one ("" if here)."""
    service = _net_history(core)
    if view is None or service is None:
        return ""
    return service.elsewhere(view.uniform)


def _net_history(core: IRCServer) -> NetHistory | None:
    return core.net.history if core.net is not None else None


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
    service = _net_history(s.core)
    unreachable = f"The history of {target} is on {home}, which cannot be reached now"
    if service is None or not service.can_ask(home):
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


def remote_entered(client: Client, view: PlaceView) -> None:
    """A local client entered a channel homed elsewhere: what `JoinReplay` does for
    local channels (the away log's watch, the replay)."""
    awaylog = client.core.awaylog
    if awaylog is not None and client.account:
        if client.away:
            awaylog.add_watch(client.account, client.nick, [view.folded])
        else:
            awaylog.drop_watches(client.account, view.folded)
    replay_remote(client, view)


def replay_remote(client: Client, view: PlaceView) -> None:
    """The replay on JOIN for a channel homed elsewhere: asked from its home."""
    core = client.core
    settings = core.config.history
    service = _net_history(core)
    home = home_elsewhere(core, view)
    if service is None or not home or not settings.enabled or settings.join_replay <= 0:
        return
    wanted = [
        s
        for s in client.sessions
        if C.CHATHISTORY not in s.caps and (can_batch(s) or settings.join_replay_plain)
    ]
    if not wanted:
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
    service = _net_history(core)
    home = home_elsewhere(core, view)
    settings = core.config.history
    if service is None or not home or not settings.enabled:
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
        if "/$" in other.uniform:
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
    service = _net_history(s.core)
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
        if service is None or not service.ask(
            home, view.name, client.uniform, "LATEST", refs, 1, max_kind, done
        ):
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
