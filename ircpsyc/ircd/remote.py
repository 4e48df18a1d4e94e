"""How the persons of the other servers show to IRC users.

The network roster itself (which persons are on which server, nick collisions)
is protocol-neutral and lives in `ircpsyc.persons.roster`; `Roster` here is
that roster as IRC users see it: a remote AWAY, SETNAME or CHGHOST goes to the
local members sharing a channel who negotiated the capability (and to
extended-monitor watchers), operators with snomask F see each remote connect
and exit and one summary per netsplit or netjoin, and a local person that
loses a nick collision is renamed to a guest nick and told why.

What the IRC front-end asks the network (`IRCServer.net`) is `NetFront`
(ircpsyc.ircd.net_front).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ircpsyc.ircd import caps as C
from ircpsyc.ircd import metadata as meta
from ircpsyc.ircd.client import Client
from ircpsyc.ircd.lines import line
from ircpsyc.ircd.names import guest_nick
from ircpsyc.persons.person import Person
from ircpsyc.persons.roster import RemotePerson
from ircpsyc.persons.roster import Roster as NetworkRoster
from ircpsyc.psyc_backend.network import Network

if TYPE_CHECKING:
    from ircpsyc.ircd.core import IRCServer


log = logging.getLogger(__name__)


class Roster(NetworkRoster):
    """The network roster (`ircpsyc.persons.roster.Roster`) shown to IRC users."""

    def __init__(self, core: IRCServer, network: Network) -> None:
        super().__init__(core.persons, network)
        self.core = core

    def netjoined(self, server: str, persons: int) -> None:
        self.core.moderation.netjoin(server, persons)

    def netsplit(self, server: str, persons: int) -> None:
        self.core.moderation.netsplit(server, persons)

    def connected_far(self, found: RemotePerson) -> None:
        self.core.moderation.far_connect(found)

    def exited_far(self, found: RemotePerson, reason: str) -> None:
        self.core.moderation.far_exit(found, reason)

    def away_changed_far(self, found: RemotePerson) -> None:
        data = line(found.prefix, "AWAY", *([found.away] if found.away else []))
        self._to_sharing(found, data, C.AWAY_NOTIFY)

    def metadata_changed_far(
        self, found: RemotePerson, old: dict[str, str], new: dict[str, str]
    ) -> None:
        """Tell the subscribers here; keep what a person with an account set for the
        account (a change it made, so the next login anywhere finds it)."""
        changes = meta.diff(old, new)
        if found.account:
            kept: dict[str, str | None] = (
                changes if old else {k: v for k, v in changes.items() if v is not None}
            )
            self.core.account_metadata.save(found.account, kept)
        meta.tell_change(self.core.name, meta.audience(found), found.nick, changes)

    def realname_changed_far(self, found: RemotePerson) -> None:
        self._to_sharing(found, line(found.prefix, "SETNAME", found.realname), C.SETNAME)

    def host_changed_far(self, found: RemotePerson, old_prefix: str) -> None:
        self._to_sharing(found, line(old_prefix, "CHGHOST", found.user, found.host), C.CHGHOST)

    def _to_sharing(self, found: RemotePerson, data: bytes, cap: str) -> None:
        """`data` to the local members sharing a channel with `found` who have `cap`
        (and to its extended-monitor watchers), once each."""
        done: set[int] = set(self.core.notify_watchers(found, data, cap))
        for view in found.channels.values():
            for member in view.members.values():
                client = member.route
                if isinstance(client, Client) and id(client) not in done:
                    done.add(id(client))
                    for session in client.sessions:
                        if cap in session.caps:
                            session.send(data)

    def lost_nick(self, local: Person, found: RemotePerson) -> None:
        if not isinstance(local, Client):
            return
        old = local.nick
        new = guest_nick(self.core, local.session)
        if not new:
            return
        log.info("nick collision: %s here and on %s; renaming ours to %s", old, found.server, new)
        for session in local.sessions:
            session.note(
                f"Nick collision: {old} is also in use on {found.server}; you are now {new}"
            )
        local.rename(new)
