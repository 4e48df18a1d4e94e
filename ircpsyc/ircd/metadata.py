"""IRCv3 metadata (draft/metadata-2): keys, limits, subscriptions, the lines and the store.

A person's metadata is `Person.metadata` (the roster carries it to the other
servers of the network, `ircpsyc.persons.roster`); a channel's is its place's
(`PlaceState.metadata`, changed only by `_request_set_metadata` to the place,
which its operators may send).  A session subscribes to keys (`METADATA * SUB`)
and is told, with RPL_KEYVALUE / RPL_KEYNOTSET as irctest expects, when a
subscribed key changes on a person it shares a channel with or MONITORs, or on
a channel it is in, and on JOIN what the channel and its members hold.

The metadata of a person logged in to an account is kept for the account in
the store (`AccountMetadata`): it is back when the account logs in again, on
this server or, as every server copies what the rosters carry about persons
with accounts, on another one of the network.

This module imports nothing of the IRC core, so the core, the client and the
command handlers can all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ircpsyc.channels.place import METADATA_KEY, METADATA_MAX_VALUE_BYTES
from ircpsyc.ircd import caps as C
from ircpsyc.ircd import numerics as N
from ircpsyc.ircd.lines import add_tag, line
from ircpsyc.ircd.ports import Named
from ircpsyc.persons.person import Person, PersonObserver
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    import sqlite_utils

    from ircpsyc.store import Store

BATCH = "metadata"  # the batch type of GET, LIST, SYNC, CLEAR and the welcome
VISIBLE = "*"  # the visibility of every key here: everybody may see it
NOT_SET = "key not set"


@runtime_checkable
class MetaSession(Protocol):
    """What this module needs of an IRC session."""

    nick: str
    metadata_subs: dict[str, None]

    @property
    def caps(self) -> AbstractSet[str]: ...

    def send(self, data: bytes) -> None: ...


def valid_key(key: str) -> bool:
    return METADATA_KEY.fullmatch(key) is not None


def valid_value(value: str) -> bool:
    """Within `max-value-bytes` and real UTF-8 (the line decoder marks bad bytes U+FFFD)."""
    return "\ufffd" not in value and len(value.encode()) <= METADATA_MAX_VALUE_BYTES


def enabled(caps: AbstractSet[str]) -> bool:
    """Whether a session negotiated metadata (either of its capability names)."""
    return not C.METADATA_CAPS.isdisjoint(caps)


def key_value(server: str, nick: str, target: str, key: str, value: str | None) -> bytes:
    """RPL_KEYVALUE, or RPL_KEYNOTSET when the key has no value."""
    if value is None:
        return line(server, N.RPL_KEYNOTSET, nick or "*", target, key, NOT_SET)
    return line(server, N.RPL_KEYVALUE, nick or "*", target, key, VISIBLE, value, trailing=True)


def batch_lines(server: str, ref: str, target: str, lines: Iterable[bytes]) -> list[bytes]:
    """A `metadata` batch of `lines` for `target` (reference `ref`)."""
    tag = "batch=" + ref
    out = [line(server, "BATCH", "+" + ref, BATCH, target)]
    out.extend(add_tag(data, tag) for data in lines)
    out.append(line(server, "BATCH", "-" + ref))
    return out


def subscribed_lines(
    server: str, session: MetaSession, target: str, metadata: dict[str, str]
) -> list[bytes]:
    """RPL_KEYVALUE for each key of `metadata` the session subscribed to."""
    subs = session.metadata_subs
    return [
        key_value(server, session.nick, target, key, value)
        for key, value in metadata.items()
        if key in subs
    ]


def tell_change(
    server: str,
    sessions: Iterable[object],
    target: str,
    changes: dict[str, str | None],
    skip: object = None,
) -> None:
    """Tell the metadata sessions among `sessions` (but `skip`) about the changed keys
    they subscribed to (a value of None: removed)."""
    for session in sessions:
        if session is skip or not isinstance(session, MetaSession):
            continue
        if not enabled(session.caps):
            continue
        for key, value in changes.items():
            if key in session.metadata_subs:
                session.send(key_value(server, session.nick, target, key, value))


def audience(person: Person) -> list[object]:
    """The sessions that hear of a person's metadata: of the persons that share a
    channel with it or MONITOR it, and its own."""
    seen: set[int] = set()
    out: list[object] = []

    def add(other: object) -> None:
        if id(other) in seen:
            return
        seen.add(id(other))
        out.extend(getattr(other, "sessions", ()))

    add(person)
    for view in list(person.channels.values()):
        for member in view.members.values():
            add(member.route)
    for watcher in person.directory.watchers(person.nick):
        add(watcher)
    return out


def current_values(
    server: str,
    session: MetaSession,
    person: Person,
    keys: set[str],
    find: Callable[[str], Person | None],
) -> list[bytes]:
    """RPL_KEYVALUE for `keys` of the channels `person` is in and of their members (once
    each, found by nick with `find`): what a session that just subscribed hears of."""
    lines: list[bytes] = []
    seen: set[str] = {casefold(person.nick)}
    for view in list(person.channels.values()):
        lines += [
            key_value(server, session.nick, view.name, k, v)
            for k, v in view.metadata.items()
            if k in keys
        ]
        for member in view.members.values():
            folded = casefold(member.nick)
            if folded in seen:
                continue
            seen.add(folded)
            found = find(member.nick)
            if found is not None:
                lines += [
                    key_value(server, session.nick, found.nick, k, v)
                    for k, v in found.metadata.items()
                    if k in keys
                ]
    return lines


def diff(old: dict[str, str], new: dict[str, str]) -> dict[str, str | None]:
    """What changed from `old` to `new` (None: removed)."""
    changes: dict[str, str | None] = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: None for k in old if k not in new})
    return changes


class AccountMetadata:
    """The metadata of accounts in the store, once the server has one."""

    def __init__(self) -> None:
        self.store: Store | None = None

    def attach(self, store: Store) -> None:
        self.store = store

    def load(self, account: str) -> dict[str, str]:
        if self.store is None or not account:
            return {}
        rows = self.store.db.execute(
            "SELECT key, value FROM account_metadata WHERE account = ? ORDER BY rowid",
            [casefold(account)],
        ).fetchall()
        return {str(key): str(value) for key, value in rows}

    def save(self, account: str, changes: dict[str, str | None]) -> None:
        """Write changes of an account's metadata (None: the key is gone)."""
        if self.store is None or not account or not changes:
            return
        folded = casefold(account)

        def job(db: sqlite_utils.Database) -> None:
            for key, value in changes.items():
                if value is None:
                    db.execute(
                        "DELETE FROM account_metadata WHERE account = ? AND key = ?",
                        [folded, key],
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO account_metadata (account, key, value)"
                        " VALUES (?, ?, ?)",
                        [folded, key, value],
                    )

        self.store.write_now(job)


def logged_in(person: Person, store: AccountMetadata) -> dict[str, str | None]:
    """A person logged in to an account: the account's kept metadata joins what the
    person set (what it set wins, and is kept for the account).  Returns the changes."""
    kept = store.load(person.account)
    merged = {**kept, **person.metadata}
    changes = diff(person.metadata, merged)
    store.save(person.account, diff(kept, merged))
    person.metadata = merged
    return changes


def changed(person: Person, server: str, changes: dict[str, str | None], skip: object) -> None:
    """A local person's metadata changed: tell the subscribers here, the network
    (the roster, through the person observers) and the account's store."""
    if not changes:
        return
    tell_change(server, audience(person), person.nick, changes, skip)
    for observer in person.directory.observers:
        observer.metadata_changed(person)


class LoginMetadata(PersonObserver[Person, Any]):
    """A person that logs in after registering gets its account's kept metadata."""

    def __init__(self, server: Named, store: AccountMetadata) -> None:
        self.server = server
        self.store = store

    def account_changed(self, client: Person, old_account: str) -> None:
        if client.account and client.sessions:
            changed(client, self.server.name, logged_in(client, self.store), None)
