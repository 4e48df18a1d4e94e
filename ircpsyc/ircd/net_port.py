"""What the front-end asks the network: `IRCServer.net`, as the core and the commands use it.

`IRCServer.net` is typed with `NetPort`, not with `NetFront`, so that core.py
does not import net_front.py (which names the core, and the roster of remote.py
that works on the core and its clients): the type annotations of ircd/ point
down (tests/test_layers.py).  `NetFront` (net_front.py) satisfies it
structurally.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ircpsyc.channels.directory import Directory
    from ircpsyc.ircd.serverinfo import ServerInfo
    from ircpsyc.persons.person import Person
    from ircpsyc.persons.roster import Roster
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.services.awaylog_net import NetAwayLog
    from ircpsyc.services.history_net import NetHistory


class NetPort(Protocol):
    """The network, of one server when none is linked (`NetFront`)."""

    local: str  # "psyc://<this server>/": what a uniform of this server starts with

    @property
    def network(self) -> Network: ...

    @property
    def roster(self) -> Roster:
        """Who is online on the other servers (a replica per server)."""

    @property
    def history(self) -> NetHistory:
        """Channels' history at their homes."""

    @property
    def directory(self) -> Directory:
        """Every channel of the network (LIST)."""

    @property
    def awaylog(self) -> NetAwayLog:
        """Accounts' away logs at their homes."""

    @property
    def info(self) -> ServerInfo:
        """VERSION, MOTD, ... of other servers."""

    def find(self, nick: str) -> Person | None: ...

    def persons(self) -> Iterable[Person]: ...

    def place_uniform(self, channel: str) -> str: ...

    def foreign_place(self, channel: str) -> str: ...

    def can_reach(self, uniform: str) -> bool: ...

    def split_off(self, uniform: str) -> str: ...

    def servers(self) -> list[tuple[str, str, int]]: ...

    def counts(self) -> dict[str, int]: ...

    def stats(self) -> dict[str, Any]:
        """A JSON snapshot of the links and the network's services (STATS L)."""
