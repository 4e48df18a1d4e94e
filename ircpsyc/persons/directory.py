"""Who is online on this server: the local directory of persons.

`PersonDirectory` keeps the persons of this server by nick (those of a
front-end's sessions, services' pseudo-users, gateway users), the nicks
reserved by connections still registering, MONITOR watchers, the WHOWAS
history, the `PersonObserver`s, and, once the server is linked, the network
roster (`ircpsyc.persons.roster.Roster`) that knows the persons of the other
servers.  A nick is found and taken here, whatever front-end asks.

It is sans-IO and renders nothing: what a watcher is shown is up to its
front-end (`Person.watched_online`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ircpsyc.persons.person import (
    ACTIVE_STEP,
    PacketLocation,
    Person,
    PersonObserver,
    WhowasEntry,
)
from ircpsyc.psyc_backend.uniform import casefold

if TYPE_CHECKING:
    from ircpsyc.channels.place import PlaceRegistry
    from ircpsyc.psyc_backend.router import Router

WHOWAS_MAX = 1000  # nicks WHOWAS remembers
COUNTED_MODES = frozenset("io")  # user modes LUSERS counts

C = TypeVar("C", bound=Person)  # the persons of the front-end's sessions
L = TypeVar("L")  # a session that is still registering


class FarPerson(Protocol):
    """A person of another server as the roster has it (`RemotePerson`)."""

    @property
    def nick(self) -> str: ...

    @property
    def account(self) -> str: ...

    @property
    def server(self) -> str:
        """The server it is online on."""


class NetworkPersons(Protocol):
    """The persons of the other servers (`ircpsyc.persons.roster.Roster`, which
    imports this module), as the directory finds nicks in them and tells them of its
    own persons."""

    def find(self, folded: str) -> FarPerson | None: ...

    def find_nick(self, nick: str) -> Person | None: ...

    def person_online(self, client: Person) -> None: ...

    def person_offline(self, client: Person) -> None: ...

    def person_changed(self, client: Person) -> None: ...


# Ends a person of a front-end with no sessions (KILL of an XMPP user): True when
# the person was its own.
Disconnector = Callable[[Person, str], bool]
# Asked when a person's last session leaves (with the reason): True keeps the person
# online with no session (always-on, ircpsyc.ircd.always_on).
Keeper = Callable[[Person, str], bool]


class PersonDirectory(Generic[C, L]):
    """The persons online on this server, by nick (see the module docstring)."""

    def __init__(
        self, name: str, router: Router, places: PlaceRegistry, clock: Callable[[], float]
    ) -> None:
        self.name = name
        self.router = router
        self.places = places
        self.clock = clock
        self.clients: dict[str, C] = {}  # casefolded nick -> person of a session here
        self.reserved: dict[str, L] = {}  # nicks taken by unregistered sessions
        self.service_users: dict[str, Person] = {}  # casefolded nick -> service pseudo-user
        # Nicks of gateway users (ircpsyc.xmpp): found like local persons, never taken.
        self.gateway_users: dict[str, Person] = {}
        self.whowas: deque[WhowasEntry] = deque(maxlen=WHOWAS_MAX)
        self.monitors: dict[str, set[Person]] = {}  # casefolded nick -> watchers
        self.mode_counts: Counter[str] = Counter()  # local clients with +i / +o
        self.observers: list[PersonObserver[Any, Any]] = []
        self.disconnectors: list[Disconnector] = []
        self.keepers: list[Keeper] = []
        # Persons whose sessions are being ended for good (KILL, GHOST): not kept.
        self.letting_go: set[Person] = set()
        # Persons with packet locations (an XMPP presence of an IRC person): few.
        self.located: dict[Person, tuple[PacketLocation, ...]] = {}
        self.roster: NetworkPersons | None = None  # the other servers' persons, once linked
        # The step of activity (ACTIVE_STEP) `activity` saw last: see `Persons`.
        self.step_start = 0.0
        self.step_end = 0.0
        # casefolded account -> the persons of a session here logged in to it (the first
        # is the one a new connection of the account attaches to: multiclient); tuples,
        # as a list's spare room would cost every always-on person (issue 13)
        self.by_account: dict[str, tuple[C, ...]] = {}

    # -- finding and taking nicks

    def find(self, nick: str) -> Person | None:
        folded = casefold(nick)
        found = (
            self.clients.get(folded)
            or self.service_users.get(folded)
            or self.gateway_users.get(folded)
        )
        if found is None and self.roster is not None:
            return self.roster.find_nick(nick)  # a person on another server
        return found

    def local_person(self, nick: str) -> Person | None:
        """A person of this server: of a session here, or a gateway user."""
        folded = casefold(nick)
        return self.clients.get(folded) or self.gateway_users.get(folded)

    def nick_taken(self, nick: str, by: L) -> bool:
        folded = casefold(nick)
        if folded in self.service_users or folded in self.gateway_users:
            return True
        owner = self.clients.get(folded)
        if owner is not None:
            return by not in owner.sessions
        if self.roster is not None and self.roster.find(folded) is not None:
            return True  # a person on another server of the network
        pending = self.reserved.get(folded)
        return pending is not None and pending is not by

    def account_person(self, account: str) -> C | None:
        """The person of a session here logged in to `account` (None: nobody is)."""
        found = self.by_account.get(casefold(account)) if account else None
        return found[0] if found else None

    def account_changed(self, client: C, old_account: str) -> None:
        """Keep `by_account` true after `client` logged in, out or elsewhere."""
        if old_account:
            self._unindex(client, old_account)
        if client.account and self.clients.get(casefold(client.nick)) is client:
            self._index(casefold(client.account), client)

    def _unindex(self, client: Person, account: str) -> None:
        folded = casefold(account)
        found = self.by_account.get(folded)
        if found is not None and client in found:
            rest = tuple(p for p in found if p is not client)
            if rest:
                self.by_account[folded] = rest
            else:
                del self.by_account[folded]

    def _index(self, folded: str, client: C) -> None:
        self.by_account[folded] = (*self.by_account.get(folded, ()), client)

    def mode_changed(self, person: Person, mode: str, on: bool) -> None:
        if mode in COUNTED_MODES and self.clients.get(casefold(person.nick)) is person:
            self.mode_counts[mode] += 1 if on else -1
        self.changed(person)

    def changed(self, person: Person) -> None:
        """What the roster shows of `person` and has no hook of its own changed (its
        modes, host, realname, or its activity by a step): the roster compares it at
        its next sweep, which visits only such persons."""
        roster = self.roster
        if roster is not None:
            roster.person_changed(person)

    def activity(self, person: Person, now: float) -> None:
        """`person` is active at `now` (about to be its `last_active`), and was last
        active before the current step, or `now` is past the step known: the roster
        shows a new step of its activity."""
        if not self.step_start <= now < self.step_end:
            start = now // ACTIVE_STEP * ACTIVE_STEP
            self.step_start, self.step_end = start, start + ACTIVE_STEP
        if person.last_active < self.step_start:
            self.changed(person)

    # -- coming and going

    def add(self, client: C) -> str:
        """A person of a session here comes online: found by nick, reached by uniform.

        Returns its key in `clients` (its casefolded nick), for other tables to share.
        """
        key = casefold(client.nick)
        self.clients[key] = client
        self.router.register(client)
        if client.account:
            folded = casefold(client.account)
            self._index(key if folded == key else folded, client)
        return key

    def tell_online(self, client: C) -> None:
        """Tell MONITOR watchers and the observers that `client` came online (after its
        front-end welcomed it, so what observers send it comes after the welcome)."""
        self.announce_online(client)
        for observer in self.observers:
            observer.person_online(client)

    def let_go(self, person: Person) -> None:
        """`person` is ended for good (KILL, GHOST): its last session leaving quits it
        even if a keeper would keep it online."""
        self.letting_go.add(person)

    def is_let_go(self, person: Person) -> bool:
        return person in self.letting_go

    def keeps(self, person: Person, reason: str) -> bool:
        """Whether `person`, whose last session left, stays online (always-on)."""
        if person in self.letting_go:
            return False
        return any(keep(person, reason) for keep in list(self.keepers))

    def tell_attached(self, client: C, session: L) -> None:
        """Tell the observers that `session` attached to `client` (multiclient), after
        its front-end sent it the welcome and the person's channels."""
        for observer in self.observers:
            observer.session_attached(client, session)

    def forget(self, client: Person) -> None:
        """Drop a person from the roster after its last session left."""
        self.letting_go.discard(client)
        folded = casefold(client.nick)
        if self.clients.get(folded) is client:
            del self.clients[folded]
            for mode in COUNTED_MODES & client.modes:
                self.mode_counts[mode] -= 1
        if client.account:
            self._unindex(client, client.account)
        self.router.unregister(client.uniform, client)
        self.remember(client)
        for folded in list(client.monitoring or ()):
            self.unmonitor(client, folded)
        self.announce_offline(client.nick)
        for observer in self.observers:
            observer.person_offline(client)

    def add_gateway_user(self, user: Person) -> None:
        """A gateway user comes online: in the router, the directory and the network's
        roster (it has no sessions here, so no `PersonObserver` hears of it)."""
        self.router.register(user)
        self.gateway_users[casefold(user.nick)] = user
        self.announce_online(user)
        if self.roster is not None:  # the other servers see it in our roster
            self.roster.person_online(user)

    def drop_gateway_user(self, user: Person) -> None:
        self.router.unregister(user.uniform, user)
        if self.gateway_users.get(casefold(user.nick)) is user:
            del self.gateway_users[casefold(user.nick)]
        self.remember(user)
        self.announce_offline(user.nick)
        if self.roster is not None:
            self.roster.person_offline(user)

    def gateway_away(self, user: Person) -> None:
        """A gateway user's away changed: the other front-ends show it."""
        for observer in self.observers:
            observer.gateway_away(user)
        self.changed(user)  # and the roster, to the other servers

    def remember(self, person: Person, server: str = "") -> None:
        """A nick that quit or changed (here, or on `server`): for WHOWAS."""
        self.whowas.appendleft(
            WhowasEntry(
                person.nick,
                person.user,
                person.host,
                person.realname,
                server or self.name,
                self.clock(),
            )
        )

    # -- MONITOR

    def unmonitor(self, watcher: Person, folded: str) -> None:
        if watcher.monitoring is not None:
            watcher.monitoring.pop(folded, None)
        watchers = self.monitors.get(folded)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self.monitors[folded]

    def watchers(self, nick: str) -> set[Person]:
        return self.monitors.get(casefold(nick), set())

    def announce_online(self, found: Person) -> None:
        for watcher in self.monitors.get(casefold(found.nick), ()):
            watcher.watched_online(found)

    def announce_offline(self, nick: str) -> None:
        for watcher in self.monitors.get(casefold(nick), ()):
            watcher.watched_offline(nick)
