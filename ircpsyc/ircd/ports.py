"""What the front-end's parts need of each other, as small protocols at the bottom of ircd/.

`IRCServer` (core.py), `Session` and `Client` hold the features (host lookups,
SASL exchanges, durable echo, server info ...) and the features work on them.
The features name these protocols, not those classes, so that their type
annotations point down and ircd/ has no import cycle (tests/test_layers.py).
Only what a feature reads or calls is here; the real classes satisfy them
structurally.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ircpsyc.config import Config
    from ircpsyc.persons.person import Person
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.psyc_backend.router import Router

S_contra = TypeVar("S_contra", contravariant=True)


class Sink(Protocol):
    """Where a session's bytes go: the asyncio transport adapter, or a test buffer."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class NumericTarget(Protocol):
    """A connection numeric replies go to (`Session.numeric`)."""

    def numeric(self, numeric: str, *params: str) -> None: ...


class SinkHolder(Protocol):
    """A connection whose output may be held back (ircpsyc.ircd.durable)."""

    sink: Sink

    @property
    def closed(self) -> bool: ...


class ServerFacts(Protocol):
    """What this server tells others about itself (ircpsyc.ircd.serverinfo)."""

    @property
    def config(self) -> Config: ...

    @property
    def router(self) -> Router: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def motd_lines(self) -> list[str]: ...

    @property
    def isupport(self) -> list[str]: ...


class LookupSession(Protocol):
    """A registering connection whose host name is looked up (ircpsyc.ircd.hostnames)."""

    host: str

    @property
    def ip(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def note(self, text: str) -> None: ...

    def later(self) -> Callable[[Callable[[], None]], None]: ...


class Registrar(Protocol[S_contra]):
    """The core that registers a connection once its host name is known."""

    @property
    def config(self) -> Config: ...

    def try_register(self, session: S_contra) -> None: ...


class Configured(Protocol):
    """The core as a part that only reads the configuration sees it (it changes on REHASH)."""

    @property
    def config(self) -> Config: ...


class PersonSession(Protocol):
    """A connection and the person it speaks for, once registered (`Session.client`)."""

    @property
    def client(self) -> Person | None: ...

    def numeric(self, numeric: str, *params: str) -> None: ...

    def send(self, data: bytes) -> None: ...


class NetCounts(Protocol):
    """The network as LUSERS counts it (`NetFront`)."""

    @property
    def network(self) -> Network: ...

    def counts(self) -> dict[str, int]: ...


class ReplyCore(Protocol):
    """What the shared replies (ircpsyc.ircd.replies) read of the core."""

    @property
    def name(self) -> str: ...

    @property
    def motd_lines(self) -> list[str]: ...

    @property
    def net(self) -> NetCounts:
        """The network, of one server when none is linked."""

    def find(self, nick: str) -> Person | None: ...

    def counts(self) -> dict[str, Any]: ...


class ReplySession(Protocol):
    """A connection the shared replies go to (`Session`)."""

    @property
    def core(self) -> ReplyCore: ...

    @property
    def client(self) -> Person | None: ...

    @property
    def nick(self) -> str: ...

    @property
    def caps(self) -> AbstractSet[str]: ...

    def numeric(self, numeric: str, *params: str) -> None: ...

    def send(self, data: bytes) -> None: ...


class Named(Protocol):
    """The core as the server that signs its notices (`IRCServer.name`)."""

    @property
    def name(self) -> str: ...


class BannableSession(Protocol):
    """A connection a K-line or D-line may match and disconnect (ircpsyc.ircd.xlines)."""

    @property
    def ip(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def nick(self) -> str: ...

    @property
    def client(self) -> Person | None: ...

    @property
    def closed(self) -> bool: ...

    def numeric(self, numeric: str, *params: str) -> None: ...

    def close(self, reason: str) -> None: ...


class BanCore(Protocol):
    """What the server bans read of the core: its name, clock and connections."""

    @property
    def name(self) -> str: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def sessions(self) -> Collection[BannableSession]: ...


class PlaceNamer(Protocol):
    """What knows where a channel is homed (`NetFront.place_uniform`)."""

    def place_uniform(self, channel: str) -> str: ...


class PlaceNamingCore(Protocol):
    """The core as the names of channels read it: through its network."""

    @property
    def net(self) -> PlaceNamer: ...


class PlaceNamingSession(Protocol):
    """A connection naming a channel (ircpsyc.ircd.names.place_uniform)."""

    @property
    def core(self) -> PlaceNamingCore: ...


class NickCore(Protocol[S_contra]):
    """The core as a free nick is looked up in it (ircpsyc.ircd.names.guest_nick)."""

    @property
    def config(self) -> Config: ...

    def nick_taken(self, nick: str, by: S_contra) -> bool: ...
