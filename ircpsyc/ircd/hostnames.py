"""Host names of client connections: reverse DNS with forward confirmation.

A connection's address is looked up as it connects (`[limits] resolve_hostnames`):
the PTR name of the address, then the A/AAAA addresses of that name, which
must contain the address again (forward confirmation: whoever controls the
reverse zone of an address cannot claim somebody else's name).  The name found
is the connection's real host (`Session.host`, then `Client.real_host`): what
K-lines, oper blocks and channel bans match, and what the person itself and
auspex operators see in WHOIS.  The cloak (+x) is still what everybody else sees.

Registration waits for the answer, at most `[limits] resolve_timeout` seconds;
then the address stays the host.  The client is told, as other ircds do:

    NOTICE * :*** Looking up your hostname...
    NOTICE * :*** Found your hostname          (or: Couldn't look up your hostname)

A loopback address is `localhost` at once, without a lookup.

`HostLookups` is the sans-IO part (one per server, `IRCServer.hostnames`): it
starts lookups through a `Resolver`, times them out on the clock it is given,
and hands registration on.  `SystemResolver` is the asyncio resolver the server
installs: the system's resolver (getnameinfo, getaddrinfo) in threads of its own,
so a slow DNS server never holds up the event loop or the password hashing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ircpsyc.netaddr import parse_address

if TYPE_CHECKING:
    from ircpsyc.ircd.ports import LookupSession, Registrar

log = logging.getLogger(__name__)

LOOKING_UP = "*** Looking up your hostname..."
FOUND = "*** Found your hostname"
NOT_FOUND = "*** Couldn't look up your hostname"
LOCALHOST = "localhost"
HOSTLEN = 63  # longest host name kept (HOSTLEN of other ircds); longer: the address
DNS_THREADS = 8  # lookups at once; more wait (and time out like a slow answer)
# Labels of letters, digits and hyphens (and the underscore some PTR records have).
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*")

Done = Callable[[str], None]
S = TypeVar("S", bound="LookupSession")  # the connection type of the core


class Resolver(Protocol):
    """Finds the confirmed host name of an address."""

    def resolve(self, ip: str, timeout: float, done: Done) -> None:
        """Look `ip` up and call `done(name)` once ("" for none).  The caller times the
        lookup out on its own as well, so a resolver that never answers is harmless."""


def valid_hostname(name: str) -> bool:
    """Whether `name` may be a host: DNS labels, not too long, not an address in
    disguise (a name that is all digits and dots would pass for an IP in masks)."""
    if not name or len(name) > HOSTLEN or not _HOSTNAME.fullmatch(name):
        return False
    return any(c.isalpha() for c in name)


def is_loopback(ip: str) -> bool:
    address = parse_address(ip)
    return address is not None and address.is_loopback


def confirms(ip: str, addresses: list[str]) -> bool:
    """Whether the forward lookup's `addresses` contain `ip` again."""
    mine = parse_address(ip)
    return mine is not None and any(parse_address(a) == mine for a in addresses)


async def confirmed_name(
    ip: str,
    reverse: Callable[[str], Awaitable[str]],
    forward: Callable[[str], Awaitable[list[str]]],
) -> str:
    """The PTR name of `ip` if its forward lookup gives `ip` back; else ""."""
    name = (await reverse(ip)).rstrip(".")
    if not valid_hostname(name):
        return ""
    return name if confirms(ip, await forward(name)) else ""


class HostLookups(Generic[S]):
    """The lookups of this server's registering connections (sans-IO)."""

    def __init__(self, core: Registrar[S]) -> None:
        self.core = core
        self.resolver: Resolver | None = None  # none: hosts stay addresses (but localhost)
        self.pending: dict[S, float] = {}  # waiting connection -> deadline
        # Connections ready to register meanwhile: their input waits (`Session.later`),
        # so a JOIN right after USER is not refused as "not registered".
        self.held: dict[S, Callable[[Callable[[], None]], None]] = {}

    def start(self, session: S, now: float) -> None:
        """A connection came in (`now` on the clock `tick` gets): find its host name."""
        limits = self.core.config.limits
        if not limits.resolve_hostnames or parse_address(session.ip) is None:
            return
        if is_loopback(session.ip):
            session.note(LOOKING_UP)
            session.host = LOCALHOST
            session.note(FOUND)
            return
        if self.resolver is None:
            return
        session.note(LOOKING_UP)
        self.pending[session] = now + limits.resolve_timeout
        try:
            self.resolver.resolve(
                session.ip, limits.resolve_timeout, lambda name: self.done(session, name)
            )
        except Exception:  # a resolver that cannot even start: the address it is
            log.exception("host name lookup of %s failed", session.ip)
            self.done(session, "")

    def waiting(self, session: S) -> bool:
        """Whether registration waits for this connection's lookup; if so, the
        connection's input waits too, and registration goes on with the answer."""
        if session not in self.pending:
            return False
        if session not in self.held:
            self.held[session] = session.later()
        return True

    def done(self, session: S, name: str) -> None:
        """The answer (or "" for none, or the timeout): tell the client, go on registering."""
        if self.pending.pop(session, None) is None or session.closed:
            return  # already timed out, or gone
        if name and valid_hostname(name):
            session.host = name
            session.note(FOUND)
        else:
            session.note(NOT_FOUND)
        answer = self.held.pop(session, None)
        if answer is not None:  # registration was waiting: it goes on, then the input
            answer(lambda: self.core.try_register(session))

    def forget(self, session: S) -> None:
        self.pending.pop(session, None)
        self.held.pop(session, None)

    def tick(self, now: float) -> None:
        """Give up on lookups past their deadline (a resolver that never answers)."""
        for session, deadline in list(self.pending.items()):
            if now >= deadline:
                self.done(session, "")


class SystemResolver:
    """`Resolver` through the system's resolver, in a pool of threads of its own.

    `reverse` and `forward` replace the two lookups (tests)."""

    def __init__(
        self,
        reverse: Callable[[str], Awaitable[str]] | None = None,
        forward: Callable[[str], Awaitable[list[str]]] | None = None,
    ) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self.reverse = reverse or self._getnameinfo
        self.forward = forward or self._getaddrinfo
        self._tasks: set[asyncio.Task[None]] = set()

    def resolve(self, ip: str, timeout: float, done: Done) -> None:
        task = asyncio.get_running_loop().create_task(self._resolve(ip, timeout, done))
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, ip: str, timeout: float, done: Done) -> None:
        try:
            name = await asyncio.wait_for(confirmed_name(ip, self.reverse, self.forward), timeout)
        except (OSError, TimeoutError, UnicodeError, ValueError):
            name = ""  # no PTR, no answer in time, or a name that does not encode
        except Exception:
            log.exception("host name lookup of %s failed", ip)
            name = ""
        done(name)

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="dns")
        return self._pool

    async def _getnameinfo(self, ip: str) -> str:
        loop = asyncio.get_running_loop()
        flags = socket.NI_NAMEREQD  # a name or an error, never the address as text
        name, _ = await loop.run_in_executor(self._threads(), socket.getnameinfo, (ip, 0), flags)
        return str(name)

    async def _getaddrinfo(self, name: str) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.run_in_executor(
            self._threads(), socket.getaddrinfo, name, None, 0, socket.SOCK_STREAM
        )
        return [str(info[4][0]) for info in infos]

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
