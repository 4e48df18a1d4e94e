"""Channel flood protection (+f), decided by the place with its own clock.

`MODE #chan +f 5:10` allows each member 5 lines (PRIVMSG and NOTICE; TAGMSG,
e.g. typing notifications, is not counted) within any 10 seconds.  The line
that goes over the limit is refused (ERR_CANNOTSENDTOCHAN) and the member is

* quieted (the default): the place sets `+b m:*!user@host` itself, from the
  server, and lifts it again after QUIET_SECONDS (also visible as a MODE); or
* kicked, when the parameter starts with `k` (`+f k5:10`).

Halfops and above are never counted.  The parameter is kept in the canonical
form `[k]LINES:SECONDS`, LINES 1..MAX_LINES and SECONDS 1..MAX_SECONDS.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

QUIET_SECONDS = 60
MAX_LINES = 1000
MAX_SECONDS = 3600
_PARAM = re.compile(r"\A(k?)(\d{1,4}):(\d{1,4})\Z")


@dataclass(frozen=True, slots=True)
class FloodLimit:
    lines: int
    seconds: int
    kick: bool = False

    def __str__(self) -> str:
        return f"{'k' if self.kick else ''}{self.lines}:{self.seconds}"

    @property
    def action(self) -> str:
        return "kick" if self.kick else "quiet"


def parse_flood(param: str) -> FloodLimit | None:
    """`5:10` or `k5:10` -> FloodLimit; None when malformed or out of range."""
    found = _PARAM.match(param.strip().lower())
    if found is None:
        return None
    lines, seconds = int(found.group(2)), int(found.group(3))
    if not (1 <= lines <= MAX_LINES and 1 <= seconds <= MAX_SECONDS):
        return None
    return FloodLimit(lines, seconds, bool(found.group(1)))


class FloodCounter:
    """The times of one member's recent lines; `hit` says when the limit is passed."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def hit(self, limit: FloodLimit, now: float) -> bool:
        times = self.times
        horizon = now - limit.seconds
        while times and times[0] <= horizon:
            times.popleft()
        times.append(now)
        if len(times) > limit.lines:
            times.clear()
            return True
        return False
