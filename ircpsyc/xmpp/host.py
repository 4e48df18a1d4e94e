"""What the gateway needs of the server it runs in, as a protocol.

The gateway is a front-end beside the IRC one, not a part of it: it reaches
places through the router, persons through the local directory
(`ircpsyc.persons`), and the services it shows (accounts, history) directly.
Today the IRC front-end's `IRCServer` is the object that holds all of these,
so the composition hands the gateway that; nothing here names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceRegistry
    from ircpsyc.config import Config
    from ircpsyc.persons.directory import PersonDirectory
    from ircpsyc.persons.person import Person
    from ircpsyc.psyc_backend.router import Router
    from ircpsyc.services.accounts import Accounts
    from ircpsyc.services.history import History
    from ircpsyc.services.history_net import NetHistory


class Network(Protocol):
    """The network (of one server when none is linked), as far as the gateway asks it."""

    def place_uniform(self, channel: str) -> str:
        """The uniform of a channel's place at its home server."""

    @property
    def history(self) -> NetHistory:
        """Channels' history at their homes."""


class Core(Protocol):
    """The server the gateway is part of."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> Config: ...

    @property
    def router(self) -> Router: ...

    @property
    def places(self) -> PlaceRegistry: ...

    @property
    def persons(self) -> PersonDirectory[Any, Any]:
        """Who is online here: the gateway's users are added to it."""

    @property
    def accounts(self) -> Accounts | None: ...

    @property
    def history(self) -> History: ...

    @property
    def tickers(self) -> list[Callable[[float], None]]: ...

    @property
    def net(self) -> Network: ...

    def clock(self) -> float: ...

    def location_person(self, account_name: str, user: str, host: str) -> Person | None:
        """The person of `account_name` online here, else one made online with no
        session for a location (None: the account's person cannot live here)."""

    @property
    def offload(self) -> Callable[..., bool]:
        """Runs slow password work off the loop: `offload(sessions, job, done, kind)`."""
