"""What the core and the commands use of `Moderation` and of the operators' service.

`IRCServer.moderation` is typed with `ModerationPort`, not with the class, so
that core.py does not import moderation.py (which works on the core, its
sessions and clients): the type annotations of ircd/ point down
(tests/test_layers.py).  `Moderation` (moderation.py) and `OperatorService`
(operator_service.py) satisfy these protocols structurally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from ircpsyc.ircd.oper_attempts import OperAttempts
    from ircpsyc.ircd.snomask import Snomasks
    from ircpsyc.ircd.xlines import BanRemoval, ServerBan, XLines
    from ircpsyc.persons.person import Person
    from ircpsyc.persons.roster import RemotePerson
    from ircpsyc.psyc_backend.network import Network
    from ircpsyc.store import Store

S_contra = TypeVar("S_contra", contravariant=True)


class OperatorsPort(Protocol):
    """This server's `$operators` (`OperatorService`), as operator commands use it."""

    @property
    def network(self) -> Network: ...

    def ban_added(self, ban: ServerBan) -> None: ...

    def ban_removed(self, removal: BanRemoval) -> None: ...

    def wallops(self, prefix: str, text: str) -> None: ...

    def globops(self, nick: str, text: str) -> None: ...

    def kill(self, oper: Person, victim: Person, reason: str) -> None: ...

    def sajoin(self, oper: Person, victim: Person, channels: list[str]) -> None: ...

    def sapart(self, oper: Person, victim: Person, channels: list[str], reason: str) -> None: ...

    def sanick(self, oper: Person, victim: Person, new: str) -> None: ...


class ModerationPort(Protocol[S_contra]):
    """Operator state of one server (`Moderation`), generic in the session type."""

    netops: OperatorsPort  # set by ircpsyc.linking (a lone server is a network of one)

    @property
    def snomasks(self) -> Snomasks: ...

    @property
    def xlines(self) -> XLines: ...

    @property
    def oper_attempts(self) -> OperAttempts: ...

    def attach_store(self, store: Store) -> None: ...

    def refusal(self, session: S_contra) -> str: ...

    def connect_refusal(self, ip: str) -> str: ...

    def session_gone(self, session: S_contra, reason: str) -> None: ...

    def kill(self, victim: Person, killer: str, reason: str, text: str) -> bool: ...

    def far_connect(self, found: RemotePerson) -> None: ...

    def far_exit(self, found: RemotePerson, reason: str) -> None: ...

    def netsplit(self, server: str, users: int) -> None: ...

    def netjoin(self, server: str, users: int) -> None: ...
