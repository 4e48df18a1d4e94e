"""METADATA (IRCv3 draft/metadata-2): GET, LIST, SET, CLEAR, SUB, UNSUB, SUBS, SYNC.

`*` is the person itself; before registration (the cap's `before-connect`) only
`*` is a target and what is set waits on the session for its person.  A
person's own metadata changes here (`ircpsyc.ircd.metadata.changed` tells the
subscribers and the network); a channel's is asked of its place, which answers
the operator that changed it and tells its members.  A place homed on another
server answers later: SET and CLEAR wait for it, so their (labeled) reply is the
home's answer or a FAIL (ircpsyc.ircd.place_answers).
"""

from __future__ import annotations

from collections.abc import Mapping

from irctokens.line import Line

from ircpsyc.channels.modes import OP
from ircpsyc.channels.place import METADATA_MAX_KEYS, PlaceView
from ircpsyc.ircd import caps as C
from ircpsyc.ircd import metadata as meta
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.commands.changes import request_change
from ircpsyc.ircd.core import command
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.moderation import override_vars
from ircpsyc.ircd.session import Session
from ircpsyc.persons.person import Person, own
from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet, Value

CMD = "METADATA"
SUBCOMMANDS = frozenset({"GET", "LIST", "SET", "CLEAR", "SUB", "UNSUB", "SUBS", "SYNC"})
KEYS_PER_LINE = 10  # keys in one RPL_METADATASUBOK / UNSUBOK / SUBS


def _no_permission(s: Session, target: str, key: str) -> None:
    s.fail(CMD, "KEY_NO_PERMISSION", target, key, "permission denied")


def _key_invalid(s: Session, key: str) -> None:
    s.fail(CMD, "KEY_INVALID", key, "invalid key")


# METADATA <target> <subcommand> [<param> ...]
@command(CMD, min_params=2, pre_registration=True)
def handle_metadata(s: Session, msg: Line) -> None:
    target, sub, args = msg.params[0], msg.params[1].upper(), msg.params[2:]
    if sub not in SUBCOMMANDS:
        s.fail(CMD, "SUBCOMMAND_INVALID", msg.params[1], "invalid subcommand")
        return
    if sub in ("SUB", "UNSUB", "SUBS"):
        _subscriptions(s, sub, args)
        return
    client = s.client
    if client is None or target == "*":
        if client is None and target != "*":
            s.fail(CMD, "INVALID_TARGET", target, "invalid metadata target")
            return
        _person(s, sub, args, client, client.nick if client is not None else "*")
        return
    if target[:1] == "#":
        view = s.core.places.get(target)
        if view is None:
            s.fail(CMD, "INVALID_TARGET", target, "invalid metadata target")
            return
        _channel(s, sub, args, view)
        return
    found = s.core.find(target)
    if found is None:
        s.fail(CMD, "INVALID_TARGET", target, "invalid metadata target")
        return
    _person(s, sub, args, found, found.nick)


# -- subscriptions (of this session)


def _subscriptions(s: Session, sub: str, keys: list[str]) -> None:
    subs = s.metadata_subs
    if sub == "SUBS":
        shown = list(subs)
        lines = [
            line(s.core.name, N.RPL_METADATASUBS, s.nick or "*", *shown[i : i + KEYS_PER_LINE])
            for i in range(0, len(shown), KEYS_PER_LINE)
        ]
        if C.BATCH in s.caps:
            ref = s.core.new_batch_id()
            s.send(line(s.core.name, "BATCH", "+" + ref, "metadata-subs"))
            for data in lines:
                s.send(b"@batch=" + ref.encode() + b" " + data)
            s.send(line(s.core.name, "BATCH", "-" + ref))
        else:
            for data in lines:
                s.send(data)
        return
    done: list[str] = []
    added: set[str] = set()
    failures: list[tuple[str, ...]] = []
    for key in keys:
        if not meta.valid_key(key):
            failures.append(("KEY_INVALID", key, "invalid key"))
        elif sub == "UNSUB":
            subs.pop(key, None)
            done.append(key)
        elif key in subs:
            done.append(key)
        elif len(subs) >= C.METADATA_MAX_SUBS:
            failures.append(("TOO_MANY_SUBS", key, "too many subscriptions"))
            break  # the keys after this one are not processed
        else:
            subs = s.metadata_subs = own(subs)  # the shared EMPTY until the first key
            subs[key] = None
            done.append(key)
            added.add(key)
    numeric = N.RPL_METADATAUNSUBOK if sub == "UNSUB" else N.RPL_METADATASUBOK
    for start in range(0, len(done), KEYS_PER_LINE):
        s.numeric(numeric, *done[start : start + KEYS_PER_LINE])
    for failure in failures:
        s.fail(CMD, *failure)
    if added and s.client is not None and meta.enabled(s.caps):
        # What the new keys hold now, on the channels we are in and their members.
        current = meta.current_values(s.core.name, s, s.client, added, s.core.find)
        if current:
            s.core.send_metadata(s, s.nick, current)


def _get(s: Session, name: str, args: list[str], metadata: Mapping[str, str]) -> None:
    """METADATA <target> GET <key>...: the value of each key (of a person or channel)."""
    if not args:
        s.numeric(N.ERR_NEEDMOREPARAMS, CMD, "Not enough parameters")
        return
    server = s.core.name
    lines: list[bytes] = []
    for key in args:
        if meta.valid_key(key):
            lines.append(meta.key_value(server, s.nick, name, key, metadata.get(key)))
        else:
            lines.append(line(server, "FAIL", CMD, "KEY_INVALID", key, "invalid key"))
    s.core.send_metadata(s, name, lines)


# -- a person's metadata (`client` None: this session, before registration)


def _person(s: Session, sub: str, args: list[str], who: Person | None, name: str) -> None:
    metadata = who.metadata if who is not None else s.pre_metadata
    server = s.core.name
    if sub == "GET":
        _get(s, name, args, metadata)
    elif sub == "LIST":
        s.core.send_metadata(s, name, dict(metadata))
    elif sub == "SYNC":
        s.core.send_metadata(s, name, meta.subscribed_lines(server, s, name, dict(metadata)))
    elif who is not None and who is not s.client:
        _no_permission(s, name, args[0] if sub == "SET" and args else "*")
    elif sub == "CLEAR":
        cleared = list(metadata)
        metadata.clear()
        _person_changed(s, who, {key: None for key in cleared})
        gone = [meta.key_value(server, s.nick, name, key, None) for key in cleared]
        s.core.send_metadata(s, name, gone)
    elif sub == "SET":
        _set_person(s, args, who, name, metadata)


def _valid_set(s: Session, args: list[str], target: str, metadata: dict[str, str]) -> bool:
    """SET's checks, the same for persons and channels; False after a FAIL."""
    if not args:
        s.numeric(N.ERR_NEEDMOREPARAMS, CMD, "Not enough parameters")
        return False
    key = args[0]
    if not meta.valid_key(key):
        _key_invalid(s, key)
        return False
    if len(args) < 2:
        if key not in metadata:
            s.fail(CMD, "KEY_NOT_SET", target, key, "key not set")
            return False
        return True
    if not meta.valid_value(args[1]):
        s.fail(CMD, "INVALID_VALUE", key, "value is too long or not UTF-8")
        return False
    if key not in metadata and len(metadata) >= METADATA_MAX_KEYS:
        s.fail(CMD, "LIMIT_REACHED", target, "metadata limit reached")
        return False
    return True


def _set_person(
    s: Session, args: list[str], who: Person | None, name: str, metadata: dict[str, str]
) -> None:
    if not _valid_set(s, args, name, metadata):
        return
    key = args[0]
    value = args[1] if len(args) > 1 else None
    if value is None:
        del metadata[key]
    else:
        # An idle person's metadata is the shared EMPTY: it gets its own at the first key.
        metadata = own(metadata)
        if who is not None:
            who.metadata = metadata
        else:
            s.pre_metadata = metadata
        metadata[key] = value
    s.send(meta.key_value(s.core.name, s.nick, name, key, value))
    _person_changed(s, who, {key: value})


def _person_changed(s: Session, who: Person | None, changes: dict[str, str | None]) -> None:
    if who is None:  # before registration: nobody to tell yet
        return
    if who.account:
        s.core.account_metadata.save(who.account, changes)
    meta.changed(who, s.core.name, changes, s)


# -- a channel's metadata (its place decides)


def _channel(s: Session, sub: str, args: list[str], view: PlaceView) -> None:
    client = s.client
    assert client is not None
    server = s.core.name
    member = view.member(client.uniform)
    name = view.name
    if member is None and (view.secret or "i" in view.flags):
        # Not for outsiders: reply, but say nothing of the channel's keys.
        for key in args if sub == "GET" else ["*"]:
            _no_permission(s, name, key)
        return
    metadata = dict(view.metadata)
    if sub == "GET":
        _get(s, name, args, metadata)
        return
    if sub == "LIST":
        s.core.send_metadata(s, name, metadata)
        return
    if sub == "SYNC":
        lines = meta.subscribed_lines(server, s, name, metadata)
        for other in list(view.members.values()):
            found = s.core.find(other.nick)
            if found is not None and found is not client and found.metadata:
                lines += meta.subscribed_lines(server, s, found.nick, found.metadata)
        s.core.send_metadata(s, name, lines)
        return
    extra = override_vars(s)
    if (member is None or member.rank() > OP) and not extra:
        _no_permission(s, name, args[0] if sub == "SET" and args else "*")
        return
    vars: dict[str, Value] = {V.PREFIX: client.prefix, **extra}
    if sub == "CLEAR":
        if not metadata:
            s.core.send_metadata(s, name, [])
            return
        vars[V.FLAG_CLEAR] = "1"
    else:
        if not _valid_set(s, args, name, metadata):
            return
        if len(args) > 1:
            vars[V.LIST_METADATA_KEYS] = [args[0]]
            vars[V.LIST_METADATA_VALUES] = [args[1]]
        else:
            vars[V.LIST_METADATA_UNSET] = [args[0]]
    # The place answers with its cast: RPL_KEYVALUE to us, notifications to the others
    # (a home on another server later: the command waits for it).
    key = args[0] if sub == "SET" else "*"

    def refused(packet: Packet) -> None:
        method = packet.method
        if method.startswith(V.ERROR_PLACE_METADATA_LIMIT):
            s.fail(CMD, "LIMIT_REACHED", name, "metadata limit reached")
        elif method.startswith((V.ERROR_PLACE_PRIVILEGE_OPERATOR, V.ERROR_NECESSARY_MEMBERSHIP)):
            _no_permission(s, name, key)
        elif method.startswith(V.ERROR_UNKNOWN_NAME_PLACE):
            s.fail(CMD, "INVALID_TARGET", name, "invalid metadata target")
        else:
            s.fail(CMD, "UNKNOWN_ERROR", name, key, packet.body or method)

    request_change(s, V.REQUEST_SET_METADATA, view.uniform, name, vars, (CMD, name, key), refused)
