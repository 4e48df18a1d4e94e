"""draft/read-marker on IRC: whose markers a person has, and the MARKREAD line.

The markers are `ircpsyc.services.marks.ReadMarkers` (`IRCServer.readmarkers`);
MARKREAD is `ircpsyc.ircd.commands.readmarker`, and `Client` sends a channel's
marker after JOIN, before the end of NAMES.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Protocol

from ircpsyc.ircd import caps as C
from ircpsyc.ircd.lines import line, server_time
from ircpsyc.persons.person import Person
from ircpsyc.services.marks import owner_of

if TYPE_CHECKING:
    from ircpsyc.services.marks import ReadMarkers

MARKREAD = "MARKREAD"
NO_MARKER = "*"  # a target without a marker


def owner(person: Person) -> str:
    """Who a person's markers belong to: its account, else the person while online."""
    return owner_of(person.account, f"{id(person):x}")


def markread(server: str, target: str, stamp: int | None) -> bytes:
    """`MARKREAD <target> timestamp=...` (or `*` without a marker)."""
    value = NO_MARKER if stamp is None else "timestamp=" + server_time(stamp)
    return line(server, MARKREAD, target, value)


class MarkerSession(Protocol):
    """A connection a marker is sent to (`ircpsyc.ircd.session.Session`)."""

    @property
    def caps(self) -> AbstractSet[str]: ...

    def send(self, data: bytes) -> None: ...


def send_marker(
    server: str, session: MarkerSession, markers: ReadMarkers, person: Person, target: str
) -> None:
    """The marker of `target` to one session, if it negotiated draft/read-marker."""
    if C.READ_MARKER in session.caps:
        stamp = markers.get(owner(person), target)
        session.send(markread(server, target, stamp))


def tell(
    server: str,
    persons: Iterable[Person],
    mine: str,
    target: str,
    stamp: int,
    skip: object = None,
) -> None:
    """A marker of owner `mine` moved: MARKREAD to every session (but `skip`) of its
    persons here that negotiated draft/read-marker."""
    data = markread(server, target, stamp)
    for person in persons:
        if not person.sessions or owner(person) != mine:
            continue
        for session in person.sessions:
            if session is not skip and C.READ_MARKER in session.caps and not session.closed:
                session.send(data)
