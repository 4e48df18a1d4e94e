"""Failed OPER passwords per address: a bound on guessing an operator's password."""

from __future__ import annotations

from collections import deque

from ircpsyc.netaddr import address_group


class OperAttempts:
    """Failed OPER passwords per address (IPv6 by /64).

    After `MAX_FAILURES` within `WINDOW` seconds OPER from that address is refused
    before any password check, so one address cannot guess an operator's password
    at the pace of the hashing threads.  A success clears the address."""

    MAX_FAILURES = 5
    WINDOW = 600.0
    MAX_ADDRESSES = 10_000  # addresses remembered at once (the oldest go first)

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> int:
        times = self._failures.get(address)
        if times is None:
            return 0
        while times and times[0] <= now - self.WINDOW:
            times.popleft()
        if not times:
            del self._failures[address]
            return 0
        return len(times)

    def refused(self, ip: str, now: float) -> bool:
        return self._recent(address_group(ip), now) >= self.MAX_FAILURES

    def failed(self, ip: str, now: float) -> None:
        address = address_group(ip)
        if address not in self._failures and len(self._failures) >= self.MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(address, deque()).append(now)

    def succeeded(self, ip: str) -> None:
        self._failures.pop(address_group(ip), None)
