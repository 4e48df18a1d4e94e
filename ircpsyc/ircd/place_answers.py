"""The answers of channels homed on other servers to what a session asked of them.

A place answers a change it makes with a cast (to every member, the one who asked
among them) and a refusal with an error to who asked.  A channel homed here does
both while the command is handled, so they are its reply (its labeled response).
A channel homed on another server answers over the network, later: the command
waits for it (`Session.later`, which also holds the connection's input), and the
answer, when it comes, is the command's reply.

Matching: an error is matched by the request's `_tag` (the place sends it back as
`_tag_relay`, as the router does when the place is gone).  A cast carries no tag:
it answers the oldest request of that person to that channel still waiting (a
place handles its requests in order, and its answers come back in order over the
same links).  No answer by network.request_timeout, or the home split off: the
session gets the command's `failed` reply.

Sans-IO: the owner ticks `requests` (timeouts) and has the network tell it of
lost servers; `Client` hands it the casts and errors it receives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.uniform import casefold, normalize

# What a command waiting for its answer sends then (`Session.later`'s `answer`).
Answer = Callable[[Callable[[], None]], None]


@dataclass(slots=True)
class Waiting:
    """One request to a channel homed elsewhere: the session that asked, how it is
    answered, and what it is sent on a refusal or when no answer comes."""

    session: object
    answer: Answer
    refused: Callable[[Packet], None]
    failed: Callable[[], None]
    key: tuple[str, str]  # (the person's uniform, the channel), normalized


class PlaceAnswers:
    """The requests of local persons to channels homed elsewhere that wait for the
    home's answer (for now METADATA SET and CLEAR)."""

    def __init__(self, clock: Callable[[], float], timeout: Callable[[], float]) -> None:
        self.requests: Requests[Waiting] = Requests("pa", clock, timeout, self._failed)
        self.waiting: dict[tuple[str, str], deque[str]] = {}  # key -> tags, oldest first

    def ask(
        self,
        session: object,
        answer: Answer,
        person: str,
        channel: str,
        home: str,
        refused: Callable[[Packet], None],
        failed: Callable[[], None],
    ) -> str:
        """`person` (its `session`) asks `channel`, homed on `home`, for a change: the
        tag its request must carry."""
        key = (normalize(person), casefold(channel))
        tag = self.requests.tag()
        self.requests.add(tag, home, Waiting(session, answer, refused, failed, key))
        self.waiting.setdefault(key, deque()).append(tag)
        return tag

    def cast(self, person: str, channel: str) -> Waiting | None:
        """A cast of `channel` caused by `person` came: the request it answers, if one waits."""
        tags = self.waiting.get((normalize(person), casefold(channel)))
        while tags:
            request = self.requests.pending.get(tags[0])
            if request is not None and self.requests.answered_by(request):
                self._forget(request)
                return request.data
            tags.popleft()  # gone already (never: forgotten with its request)
        return None

    def error(self, packet: Packet) -> Waiting | None:
        """An error came: the request it refuses, if it refuses one waiting here."""
        if V.TAG_RELAY not in packet.routing:
            return None
        request = self.requests.get(packet)
        if request is None or not self.requests.answered_by(request):
            return None
        self._forget(request)
        return request.data

    def _forget(self, request: Request[Waiting]) -> None:
        key = request.data.key
        tags = self.waiting.get(key)
        if tags is None:
            return
        try:
            tags.remove(request.tag)
        except ValueError:
            pass
        if not tags:
            del self.waiting[key]

    def _failed(self, request: Request[Waiting], why: Failure) -> None:
        self._forget(request)
        waiting = request.data
        waiting.answer(waiting.failed)
