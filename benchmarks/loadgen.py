"""Client side of the benchmark: many IRC connections driven from one asyncio process.

The client must stay cheap, because it shares the machine with the server under
test. So every connection is a bare :class:`asyncio.Protocol` (no streams, no
per-line tasks), parsing is minimal, and the hot path, a chunk of data that is
nothing but PRIVMSG lines, is handled with a couple of C-level ``bytes.count``
calls. Only the connections chosen as latency samplers look at each line, to
read the send timestamp that every benchmark message carries as its last word.

Everything here is bounded: connecting, joining and waiting for deliveries all
take a timeout, and waiting for deliveries gives up once nothing has arrived for
a while (the "stall timeout") instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import time
from array import array
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

__all__ = [
    "IRCConn",
    "RegistrationReport",
    "Sink",
    "WSConn",
    "abort_all",
    "connect_many",
    "join_all",
    "latency_summary",
    "message_line",
    "now_ns",
    "percentile",
    "ping_all",
    "raise_nofile_limit",
    "run_async",
]

T = TypeVar("T")

now_ns = time.perf_counter_ns

# Numeric replies that mean "what you asked for was refused". Seen after
# registration they count as errors in a scenario's report.
_ERROR_NUMERICS = frozenset(
    {
        b"401", b"403", b"404", b"405", b"407", b"411", b"412", b"421", b"437",
        b"451", b"461", b"471", b"473", b"474", b"475", b"477", b"482",
    }
)  # fmt: skip
_NICK_ERRORS = frozenset({b"431", b"432", b"433", b"436"})
_SAMPLE_LIMIT = 5  # how many example lines to keep for each kind of problem


def raise_nofile_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the new (soft, hard).

    Servers started afterwards inherit the raised limit too.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def message_line(target: bytes, body: bytes) -> bytes:
    """A PRIVMSG whose last word is the send time in ns, read back by the receivers."""
    return b"PRIVMSG %s :%s %d\r\n" % (target, body, now_ns())


class Sink:
    """Shared counters of one scenario: deliveries, latencies, errors and disconnects."""

    def __init__(self) -> None:
        self.delivered = 0
        self.latencies: array[int] = array("q")  # ns, send to receive
        self.last_delivery_ns = 0
        self.target: float = math.inf
        self._waiter: asyncio.Future[None] | None = None
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.disconnects = 0
        self.disconnect_samples: list[str] = []

    def reset(self) -> None:
        """Forget deliveries and latencies (after setup, before the measured phase)."""
        self.delivered = 0
        self.latencies = array("q")
        self.last_delivery_ns = 0

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def note_error(self, kind: str, line: bytes) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < _SAMPLE_LIMIT:
            self.error_samples.append(line.decode("utf-8", "replace"))

    def note_disconnect(self, nick: str, reason: str) -> None:
        self.disconnects += 1
        if len(self.disconnect_samples) < _SAMPLE_LIMIT:
            self.disconnect_samples.append(f"{nick}: {reason}")

    async def wait_delivered(self, target: int, stall_timeout: float) -> bool:
        """Wait until ``delivered >= target``.

        Gives up, returning False, once no delivery at all arrived for
        ``stall_timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        while self.delivered < target:
            before = self.delivered
            self.target = target
            self._waiter = loop.create_future()
            try:
                await asyncio.wait_for(self._waiter, stall_timeout)
            except TimeoutError:
                if self.delivered == before:
                    return False
            finally:
                self._waiter = None
                self.target = math.inf
        return True

    def problems(self) -> dict[str, Any]:
        return {
            "error_replies": dict(self.errors),
            "error_samples": list(self.error_samples),
            "disconnects": self.disconnects,
            "disconnect_samples": list(self.disconnect_samples),
        }


class IRCConn(asyncio.Protocol):
    """One client connection. Answers PING, tracks registration, JOIN and PONG replies."""

    def __init__(self, nick: str, sink: Sink, *, sample: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.nick = nick
        self.sink = sink
        self.sample = sample  # read the timestamp of every PRIVMSG received
        self.received = 0  # PRIVMSG lines received
        self.sent = 0  # benchmark messages sent
        self.transport: asyncio.Transport | None = None
        self.registered: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.welcome_ns = 0  # time of RPL_WELCOME (001)
        self.registered_ns = 0  # time of end of MOTD (376) or no MOTD (422)
        self.closing = False  # we asked for the close: not a disconnect to report
        self.error_line = b""
        self._buf = b""
        self._pongs: dict[bytes, asyncio.Future[int]] = {}
        self._joins: dict[bytes, asyncio.Future[None]] = {}

    # --- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.error_line.decode("utf-8", "replace") or (repr(exc) if exc else "EOF")
        fut = self.registered
        registered = fut.done() and not fut.cancelled() and fut.exception() is None
        if registered and not self.closing:
            # (a failure to register is reported by connect_many instead)
            self.sink.note_disconnect(self.nick, reason)
        failure = ConnectionError(f"{self.nick}: connection lost: {reason}")
        if not self.registered.done():
            self.registered.set_exception(failure)
            self.registered.exception()  # mark retrieved: the caller may be gone
        waiters: list[asyncio.Future[Any]] = [*self._pongs.values(), *self._joins.values()]
        for fut in waiters:
            if not fut.done():
                fut.set_exception(failure)
                fut.exception()
        self._pongs.clear()
        self._joins.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._buf:
            data = self._buf + data
        end = data.rfind(b"\n") + 1
        if end == 0:
            self._buf = data
            return
        if end < len(data):
            self._buf = data[end:]
            data = data[:end]
        else:
            self._buf = b""
        privmsgs = data.count(b" PRIVMSG ")
        if privmsgs:
            now = now_ns()
            self.received += privmsgs
            sink = self.sink
            sink.delivered += privmsgs
            sink.last_delivery_ns = now
            if self.sample:
                self._sample(data, now)
            if sink.delivered >= sink.target:
                sink.wake()
            if privmsgs == data.count(b"\n"):
                return
        self._lines(data)

    # --- line handling ------------------------------------------------------

    def _sample(self, data: bytes, now: int) -> None:
        append = self.sink.latencies.append
        for line in data.split(b"\n"):
            if b" PRIVMSG " in line:
                try:
                    append(now - int(line[line.rfind(b" ") + 1 :]))
                except ValueError:
                    pass  # not one of ours

    def _lines(self, data: bytes) -> None:
        for raw in data.split(b"\n"):
            line = raw.rstrip(b"\r")
            if not line:
                continue
            rest = line
            if rest[:1] == b":":
                rest = rest[rest.find(b" ") + 1 :]
            command, _, params = rest.partition(b" ")
            if command == b"PRIVMSG":
                continue  # counted in data_received
            if command == b"PING":
                self.write(b"PONG " + params + b"\r\n")
            elif command == b"PONG":
                token = params.rpartition(b" ")[2].lstrip(b":")
                fut = self._pongs.pop(token, None)
                if fut is not None and not fut.done():
                    fut.set_result(now_ns())
            elif command == b"366":  # RPL_ENDOFNAMES: <me> <channel> :End
                parts = params.split(b" ", 2)
                if len(parts) >= 2:
                    join = self._joins.pop(parts[1].lower(), None)
                    if join is not None and not join.done():
                        join.set_result(None)
            elif command in (b"376", b"422"):
                if not self.registered.done():
                    self.registered_ns = now_ns()
                    self.registered.set_result(None)
            elif command == b"001":
                self.welcome_ns = now_ns()
            elif command in _NICK_ERRORS and not self.registered.done():
                self.sink.note_error(command.decode(), line)
                self.registered.set_exception(
                    ConnectionError(f"{self.nick}: {line.decode('utf-8', 'replace')}")
                )
                self.registered.exception()
            elif command in _ERROR_NUMERICS:
                self.sink.note_error(command.decode(), line)
                self._fail_join(params, line)
            elif command == b"ERROR":
                self.error_line = line

    def _fail_join(self, params: bytes, line: bytes) -> None:
        parts = params.split(b" ", 2)
        if len(parts) >= 2:
            join = self._joins.pop(parts[1].lower(), None)
            if join is not None and not join.done():
                join.set_exception(ConnectionError(line.decode("utf-8", "replace")))
                join.exception()

    # --- commands -----------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def register(self) -> None:
        self.write(b"NICK %s\r\nUSER u 0 * :ircpsyc bench\r\n" % self.nick.encode())

    def join(self, channel: bytes) -> asyncio.Future[None]:
        """Send JOIN; the future completes on the channel's end of NAMES (366)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._joins[channel.lower()] = fut
        self.write(b"JOIN %s\r\n" % channel)
        return fut

    def ping(self, token: bytes) -> asyncio.Future[int]:
        """Send PING; the future's result is the perf_counter_ns of the matching PONG."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pongs[token] = fut
        self.write(b"PING :%s\r\n" % token)
        return fut

    def send_privmsg(self, target: bytes, body: bytes) -> None:
        self.sent += 1
        self.write(message_line(target, body))

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class WSConn(IRCConn):
    """The same client over WebSocket (IRCv3 websocket, text.ircv3.net), framed by
    `websockets`' sans-IO client: each message received is one line for IRCConn's
    parsing, each line written one message."""

    def __init__(self, nick: str, sink: Sink, *, sample: bool = False) -> None:
        super().__init__(nick, sink, sample=sample)
        from websockets.client import ClientProtocol
        from websockets.typing import Subprotocol
        from websockets.uri import parse_uri

        self._ws = ClientProtocol(
            parse_uri("ws://127.0.0.1/"),
            subprotocols=[Subprotocol("text.ircv3.net")],
            max_size=None,
        )
        self._open = False
        self._pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._ws.send_request(self._ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode

        ws = self._ws
        ws.receive_data(data)
        lines: list[bytes] = []
        for event in ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                    lines.append(bytes(event.data))
            elif not self._open:
                self._open = True
                pending, self._pending = self._pending, []
                for chunk in pending:
                    self.write(chunk)
        self._flush()
        if lines:
            lines.append(b"")
            super().data_received(b"\r\n".join(lines))

    def write(self, data: bytes) -> None:
        if not self._open:
            self._pending.append(data)
            return
        for line in data.split(b"\r\n"):
            if line:
                self._ws.send_text(line)
        self._flush()

    def _flush(self) -> None:
        out = self._ws.data_to_send()
        transport = self.transport
        if out and transport is not None and not transport.is_closing():
            transport.write(b"".join(out))


@dataclass
class RegistrationReport:
    """How a batch of connections went: who registered, how fast, and what failed."""

    attempted: int = 0
    registered: int = 0
    failed: int = 0
    retried: int = 0  # attempts that failed but were tried again
    wall_s: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)  # connect start to end of MOTD
    welcome_ns: list[int] = field(default_factory=list)  # connect start to 001
    failure_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.registered / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "registered": self.registered,
            "failed": self.failed,
            "retried": self.retried,
            "wall_s": round(self.wall_s, 3),
            "registrations_per_s": round(self.rate, 1),
            "latency_ms": latency_summary(self.latencies_ns),
            "welcome_latency_ms": latency_summary(self.welcome_ns),
            "failure_samples": self.failure_samples,
        }


async def connect_many(
    host: str,
    port: int | Sequence[int],
    nicks: Sequence[str],
    sink: Sink,
    *,
    concurrency: int = 200,
    timeout: float = 30.0,
    sample: Callable[[int], bool] | None = None,
    retries: int = 0,
    websocket: bool = False,
) -> tuple[list[IRCConn], RegistrationReport]:
    """Connect and register one client per nick, at most ``concurrency`` at a time.

    A client counts as registered on end of MOTD (376) or "no MOTD" (422). A
    client whose attempt fails is tried again up to ``retries`` times, as
    ``NICK_1``, ``NICK_2``...; its latency counts from its first attempt.
    Returns the registered connections, in the order of ``nicks``, and a report.
    Failed ones are aborted and left out (the report says how many). ``port`` may
    be one port per nick (clients spread over the processes of a network).
    """
    loop = asyncio.get_running_loop()
    report = RegistrationReport(attempted=len(nicks))
    slots = asyncio.Semaphore(max(1, concurrency))
    results: list[IRCConn | None] = [None] * len(nicks)

    async def attempt(i: int, nick: str) -> IRCConn:
        conn: IRCConn | None = None
        try:
            wants_sample = sample(i) if sample is not None else False
            async with asyncio.timeout(timeout):
                kind = WSConn if websocket else IRCConn
                _, conn = await loop.create_connection(
                    lambda: kind(nick, sink, sample=wants_sample),
                    host,
                    port if isinstance(port, int) else port[i],
                )
                conn.register()
                await conn.registered
        except BaseException:
            if conn is not None:
                conn.abort()
            raise
        return conn

    async def one(i: int, nick: str) -> None:
        async with slots:
            start = now_ns()
            for n in range(retries + 1):
                name = nick if n == 0 else f"{nick}_{n}"
                try:
                    conn = await attempt(i, name)
                except (OSError, TimeoutError) as exc:
                    if len(report.failure_samples) < _SAMPLE_LIMIT:
                        report.failure_samples.append(f"{name}: {exc!r}")
                    if n < retries:
                        report.retried += 1
                        continue
                    report.failed += 1
                    return
                break
            report.registered += 1
            report.latencies_ns.append(conn.registered_ns - start)
            if conn.welcome_ns:
                report.welcome_ns.append(conn.welcome_ns - start)
            results[i] = conn

    started = now_ns()
    await asyncio.gather(*(one(i, nick) for i, nick in enumerate(nicks)))
    report.wall_s = (now_ns() - started) / 1e9
    return [c for c in results if c is not None], report


async def join_all(
    pairs: Iterable[tuple[IRCConn, bytes]],
    *,
    concurrency: int = 100,
    timeout: float = 60.0,
) -> int:
    """JOIN each (connection, channel) pair, ``concurrency`` at a time; return failures."""
    slots = asyncio.Semaphore(max(1, concurrency))
    failures = 0

    async def one(conn: IRCConn, channel: bytes) -> None:
        nonlocal failures
        async with slots:
            try:
                await asyncio.wait_for(conn.join(channel), timeout)
            except (OSError, TimeoutError):
                failures += 1

    await asyncio.gather(*(one(c, ch) for c, ch in pairs))
    return failures


async def ping_all(conns: Sequence[IRCConn], *, timeout: float = 60.0) -> int:
    """A barrier: PING every connection and wait for all PONGs; return how many failed.

    A PONG is queued behind everything the server already had for that client,
    so afterwards no setup traffic (JOIN echoes, NAMES) is still on its way.
    """
    token = b"sync%d" % now_ns()
    futures = [c.ping(token) for c in conns]
    if not futures:
        return 0
    done, pending = await asyncio.wait(futures, timeout=timeout)
    for fut in pending:
        fut.cancel()
    return len(pending) + sum(1 for f in done if f.exception() is not None)


def abort_all(conns: Iterable[IRCConn]) -> None:
    for conn in conns:
        conn.abort()


def percentile(sorted_values: Sequence[int] | Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, nearest-rank; nan if empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_summary(values_ns: Iterable[int]) -> dict[str, float | int]:
    """count, p50, p90, p99, max (in ms, 3 decimals) of latencies given in ns."""
    ordered = sorted(values_ns)
    if not ordered:
        return {"count": 0}
    out: dict[str, float | int] = {"count": len(ordered)}
    for name, q in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0)):
        out[name] = round(percentile(ordered, q) / 1e6, 3)
    out["max"] = round(ordered[-1] / 1e6, 3)
    return out


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, str]:
    """Run ``main()`` on uvloop when it is installed, else on asyncio's loop.

    Returns the result and the name of the event loop used.
    """
    try:
        import uvloop
    except ImportError:
        with asyncio.Runner() as runner:
            return runner.run(main()), "asyncio"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        version = getattr(uvloop, "__version__", "?")
        return runner.run(main()), f"uvloop {version}"
