"""The answers of channels homed on other servers to what a session asked of them.

A place answers a change it makes with a cast (to every member, the one who asked
among them) and a refusal with an error to who asked.  A channel homed here does
both while the command is handled, so they are its reply (its labeled response).
A channel homed on another server answers over the network, later: the command
waits for it (`Session.later`, which also holds the connection's input), and the
answer, when it comes, is the command's reply (ircpsyc.ircd.commands.changes).

An answer comes in parts.  METADATA's and KICK's are one part, a cast or an error;
INVITE's is one too, its echo (`_echo_place_invite`, 341) or an error (KICK's and
INVITE's after an operator's override notice, which never ends an answer).  TOPIC's
and MODE's may be several (MODE +ob refused for one and done for the other, an
operator's override notice and its change) or none (MODE +o of an operator): the
home ends them with an echo (`_echo_place_topic`, `_echo_place_mode`) to a tagged
request.  What the parts send the asking session is kept and sent with the echo,
so a labeled command gets it all in its labeled response (an ACK for nothing);
an unlabeled one gets each part as it comes, as it always did.

Matching: an error, a list and the echo are matched by the request's `_tag` (the
place sends it back as `_tag_relay`, as the router does when the place is gone:
an error that names the request's method, `_method_relay`, refuses it as a whole,
so it ends the answer).  A cast carries no tag: it answers the oldest request of
that person to that channel still waiting (a place handles its requests in order,
and its answers come back in order over the same links).  No end by
network.request_timeout, or the home split off: the session gets what came, then
the command's `failed` reply.

Sans-IO: the owner ticks `requests` (timeouts) and has the network tell it of
lost servers; `Client` hands it the casts and errors it receives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ircpsyc.psyc_backend import vocabulary as V
from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.requests import Failure, Request, Requests
from ircpsyc.psyc_backend.uniform import casefold, normalize

# What a command waiting for its answer sends then (`Session.later`'s `answer`).
Answer = Callable[[Callable[[], None]], None]


class Asker(Protocol):
    """What the answers need of the session that asked (`ircpsyc.ircd.session.Session`)."""

    @property
    def labeled(self) -> bool: ...

    def capture(self, into: list[bytes], send: Callable[[], None]) -> None: ...

    def send(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Waiting:
    """One request to a channel homed elsewhere: the session that asked, how it is
    answered, and what it is sent on a refusal or when no answer comes."""

    session: Asker
    answer: Answer
    refused: Callable[[Packet], None] | None  # None: the refusal's numerics, as ever
    failed: Callable[[], None]
    key: tuple[str, str]  # (the person's uniform, the channel), normalized
    echoed: bool  # the home ends its answer with an echo; else its first part is all
    lines: list[bytes] | None  # the asking session's part so far; None: it is not labeled
    after: Callable[[], None] | None = None  # the command's own lines after the answer
    overridable: bool = False  # an operator's override notice may come first (KICK, INVITE)


class PlaceAnswers:
    """The requests of local persons to channels homed elsewhere that wait for the
    home's answer (METADATA SET and CLEAR, TOPIC, MODE, KICK, INVITE)."""

    def __init__(self, clock: Callable[[], float], timeout: Callable[[], float]) -> None:
        self.requests: Requests[Waiting] = Requests("pa", clock, timeout, self._failed)
        self.waiting: dict[tuple[str, str], deque[str]] = {}  # key -> tags, oldest first

    def ask(
        self,
        session: Asker,
        answer: Answer,
        person: str,
        channel: str,
        home: str,
        failed: Callable[[], None],
        refused: Callable[[Packet], None] | None = None,
        echoed: bool = False,
        after: Callable[[], None] | None = None,
        overridable: bool = False,
    ) -> str:
        """`person` (its `session`) asks `channel`, homed on `home`, for a change: the
        tag its request must carry.  `after` sends what the command itself says after
        the answer (INVITE's 301 RPL_AWAY), or after the failure.  `overridable`: the
        home may announce an operator's override before an answer of one part."""
        key = (normalize(person), casefold(channel))
        tag = self.requests.tag()
        lines: list[bytes] | None = [] if session.labeled else None
        waiting = Waiting(
            session, answer, refused, failed, key, echoed, lines, after, echoed or overridable
        )
        self.requests.add(tag, home, waiting)
        self.waiting.setdefault(key, deque()).append(tag)
        return tag

    def cast(self, person: str, channel: str, override: bool = False) -> Request[Waiting] | None:
        """A cast of `channel` caused by `person` came: the request it answers, if one
        waits (`override`: an override notice, a part of the answer to a request that
        may be overridden, never all of it)."""
        tags = self.waiting.get((normalize(person), casefold(channel)))
        while tags:
            request = self.requests.pending.get(tags[0])
            if request is not None:
                return request if request.data.overridable or not override else None
            tags.popleft()  # gone already (never: forgotten with its request)
        return None

    def tagged(self, packet: Packet) -> Request[Waiting] | None:
        """The waiting request an error, list or echo answers (by its `_tag_relay`)."""
        if V.TAG_RELAY not in packet.routing:
            return None
        return self.requests.get(packet)

    def take(
        self,
        request: Request[Waiting] | None,
        send: Callable[[], None],
        last: bool = False,
        more: bool = False,
    ) -> None:
        """`send` sends a part of the answer to `request` (to every session concerned):
        what it sends the asking session is kept for its labeled reply.  The part is
        the `last` one, or the only one of an answer without echo: the reply goes out;
        never after a part that `more` is to follow (an override notice).
        No request (nobody waits for this packet): `send` as it is."""
        if request is None:
            send()
            return
        waiting = request.data
        if waiting.lines is None:
            send()
        else:
            waiting.session.capture(waiting.lines, send)
        if last or not (waiting.echoed or more):
            self.finish(request)

    def refusal(
        self, request: Request[Waiting] | None, packet: Packet, send: Callable[[], None]
    ) -> None:
        """An error for `request`: its `refused` reply, else `send` (the numerics).  An
        error naming the method (no such place, ...) is all the answer there will be."""
        if request is None:
            send()
            return
        refused = request.data.refused
        reply = send if refused is None else lambda: refused(packet)
        self.take(request, reply, V.METHOD_RELAY in packet.vars)

    def finish(self, request: Request[Waiting]) -> None:
        """All of the answer to `request` came: its reply goes out."""
        if not self.requests.answered_by(request):
            return
        self._forget(request)
        self._reply(request.data)

    def _reply(self, waiting: Waiting, then: Callable[[], None] | None = None) -> None:
        lines, session, after = waiting.lines or [], waiting.session, waiting.after

        def reply() -> None:
            for data in lines:
                session.send(data)
            if then is not None:
                then()
            if after is not None:
                after()

        waiting.answer(reply)

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
        self._reply(request.data, request.data.failed)  # what came, then the failure
