"""The benchmark scenarios: connect, fanout, channels, privmsg, idle and crowd.

Each scenario gets a freshly started server (see :mod:`benchmarks.run`), sets up
its clients, brings them to a quiet state with a PING barrier, then measures.
Message scenarios send in *bursts* under a window: burst ``b`` is sent only once
the deliveries of burst ``b - window`` have all arrived. So the server is kept
busy without piling an unbounded backlog into its send queues, and the latency
figures are those of a loaded but not flooded server. Every message carries its
send time, which the sampling receivers subtract from their receive time.

The ``-paced`` variants of fanout, channels and privmsg send one burst a
second (each client one line a second, below the shipped flood control's
refill of 4 lines/s), so they measure the cost of a line at normal chat rates
instead of at saturation. ``crowd`` is many clients at a realistic rate: each
sends one line every 10 s at its own random phase, for a fixed time.

Sizes are dataclass fields with the defaults of the full run; ``QUICK`` holds
smaller ones, and ``--set scenario.field=value`` overrides any of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.loadgen import (
    IRCConn,
    RegistrationReport,
    Sink,
    connect_many,
    join_all,
    latency_summary,
    now_ns,
    ping_all,
)
from benchmarks.servers import CLK_TCK, ServerError, ServerHandle

__all__ = [
    "ON_REQUEST",
    "QUICK",
    "SCENARIOS",
    "Context",
    "Scenario",
    "ScenarioError",
    "crowd_schedule",
]

Result = dict[str, Any]


class ScenarioError(RuntimeError):
    """The scenario could not set itself up (e.g. clients failed to register)."""


@dataclass
class Context:
    """What a scenario runs against, and every connection it opened."""

    server: ServerHandle
    sink: Sink = field(default_factory=Sink)
    conns: list[IRCConn] = field(default_factory=list)
    tag: str = ""  # put into nicks, so runs against one external server do not collide
    websocket: bool = False  # clients connect over WebSocket (the ws- scenarios)
    spread: int = 0  # clients connected so far: the next one's index for port_of

    def track(self, conns: Sequence[IRCConn]) -> None:
        """Remember connections so the runner can close them after the server stopped."""
        self.conns.extend(conns)

    async def connect(
        self,
        prefix: str,
        count: int,
        *,
        concurrency: int,
        timeout: float = 30.0,
        sample: Callable[[int], bool] | None = None,
        require_all: bool = True,
        retries: int = 3,
    ) -> tuple[list[IRCConn], RegistrationReport]:
        nicks = [f"{prefix}{self.tag}{i}" for i in range(count)]
        try:  # one port per client: several linked processes share the clients
            ports = [self.server.port_of(self.spread + i, self.websocket) for i in range(count)]
        except ServerError as exc:
            raise ScenarioError(str(exc)) from None
        self.spread += count
        conns, report = await connect_many(
            self.server.host,
            ports,
            nicks,
            self.sink,
            concurrency=concurrency,
            timeout=timeout,
            sample=sample,
            retries=retries,
            websocket=self.websocket,
        )
        self.track(conns)
        if require_all and report.failed:
            raise ScenarioError(
                f"{report.failed} of {count} clients failed to register, e.g. "
                + "; ".join(report.failure_samples[:3])
            )
        return conns, report

    async def barrier(self, conns: Sequence[IRCConn], timeout: float = 120.0) -> None:
        failed = await ping_all(conns, timeout=timeout)
        if failed:
            raise ScenarioError(f"{failed} of {len(conns)} clients did not answer the sync PING")


def machine_busy_seconds() -> float | None:
    """CPU seconds that processes used (user, nice, system), all cores, since boot.

    Interrupt and softirq time is left out: loopback TCP traffic lands there.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:4]]
    except (OSError, ValueError):
        return None
    return sum(fields) / CLK_TCK


class Meter:
    """Server CPU (from /proc), load generator CPU and wall time of a measured phase.

    ``other_cpu_s`` is the CPU the rest of the machine used meanwhile: when it is
    not small, something else competed with the server and the load generator,
    and rates and latencies are pessimistic (CPU per delivery is not affected).
    """

    def __init__(self, server: ServerHandle) -> None:
        self.server = server
        self.start_ns = 0
        self.cpu0: float | None = None
        self.each0: list[float] | None = None
        self.own0 = 0.0
        self.busy0: float | None = None
        self.sys0: float | None = None

    def start(self) -> None:
        self.each0 = self.server.cpu_seconds_each()
        self.sys0 = self.server.system_seconds()
        self.cpu0 = None if self.each0 is None else sum(self.each0)
        self.own0 = time.process_time()
        self.busy0 = machine_busy_seconds()
        self.start_ns = now_ns()

    def stop(self, end_ns: int | None = None) -> Result:
        """Stop measuring; ``end_ns`` (e.g. the last delivery) overrides "now" for wall time."""
        stop_ns = now_ns()
        each1 = self.server.cpu_seconds_each()
        sys1 = self.server.system_seconds()
        cpu1 = None if each1 is None else sum(each1)
        own = time.process_time() - self.own0
        busy1 = machine_busy_seconds()
        end = end_ns if end_ns and end_ns > self.start_ns else stop_ns
        wall = (end - self.start_ns) / 1e9
        server_cpu = None if cpu1 is None or self.cpu0 is None else cpu1 - self.cpu0
        other = share = None
        if busy1 is not None and self.busy0 is not None:
            other = max(0.0, busy1 - self.busy0 - own - (server_cpu or 0.0))
            span = (stop_ns - self.start_ns) / 1e9
            share = round(other / span, 2) if span > 0 else None
        return {
            "wall_s": round(wall, 3),
            "server_cpu_s": None if server_cpu is None else round(server_cpu, 3),
            # The kernel's part (sockets): what a server in C pays as well.
            "server_sys_s": (
                None if sys1 is None or self.sys0 is None else round(sys1 - self.sys0, 3)
            ),
            "server_cpu_util": (
                None if server_cpu is None or wall <= 0 else round(server_cpu / wall, 3)
            ),
            # ircpsyc-xN: the CPU utilisation of each process (is one of them the limit?)
            "server_cpu_util_each": (
                None
                if each1 is None or self.each0 is None or wall <= 0 or len(each1) < 2
                else [round((b - a) / wall, 3) for a, b in zip(self.each0, each1, strict=True)]
            ),
            "loadgen_cpu_s": round(own, 3),
            "loadgen_cpu_util": round(own / wall, 3) if wall > 0 else None,
            "other_cpu_s": None if other is None else round(other, 3),
            "other_cpu_share": share,  # cores' worth of CPU used by other processes
        }


def _per(value: float | None, count: int, scale: float = 1.0, digits: int = 3) -> float | None:
    if value is None or count <= 0:
        return None
    return round(value / count * scale, digits)


async def run_bursts(
    sink: Sink,
    *,
    bursts: int,
    per_burst: int,
    window: int,
    stall_timeout: float,
    interval: float,
    send_burst: Callable[[int], None],
) -> tuple[int, bool]:
    """Send ``bursts`` bursts with at most ``window`` of them undelivered at a time.

    Returns how many bursts were sent and whether delivery stalled (nothing
    arrived for ``stall_timeout`` seconds while some was still due), which ends
    the sending early.
    """
    window = max(1, window)
    sent = 0
    for b in range(bursts):
        if b >= window:
            due = (b - window + 1) * per_burst
            if not await sink.wait_delivered(due, stall_timeout):
                return sent, True
        send_burst(b)
        sent += 1
        await asyncio.sleep(interval)  # also lets the readers run between bursts
    return sent, not await sink.wait_delivered(sent * per_burst, stall_timeout)


def _delivery_report(
    sink: Sink,
    meter: Result,
    expected: Sequence[tuple[IRCConn, int]],
    sent_messages: int,
    stalled: bool,
    rate_name: str,
) -> Result:
    """Common figures of the message scenarios."""
    lost = sum(max(0, want - c.received) for c, want in expected)
    extra = sum(max(0, c.received - want) for c, want in expected)
    short = sum(1 for c, want in expected if c.received < want)
    delivered = sink.delivered
    lat = latency_summary(sink.latencies)
    wall = meter["wall_s"]
    return {
        "messages_sent": sent_messages,
        "deliveries_expected": sum(want for _, want in expected),
        "delivered": delivered,
        rate_name: round(delivered / wall, 1) if wall > 0 else None,
        "latency_p50_ms": lat.get("p50"),
        "latency_p99_ms": lat.get("p99"),
        "latency": lat,
        "lost": lost,
        "duplicated_or_unexpected": extra,
        "clients_missing_messages": short,
        "stalled": stalled,
        "server_cpu_us_per_delivery": _per(meter["server_cpu_s"], delivered, 1e6),
        "server_sys_us_per_delivery": _per(meter["server_sys_s"], delivered, 1e6),
        **meter,
    }


# --- connect -----------------------------------------------------------------


@dataclass
class ConnectParams:
    clients: int = 2000
    concurrency: int = 200
    timeout: float = 30.0  # per client, connect to end of MOTD
    time_limit: float = 300.0


async def run_connect(ctx: Context, p: ConnectParams) -> Result:
    meter = Meter(ctx.server)
    meter.start()
    _, report = await ctx.connect(
        "bc", p.clients, concurrency=p.concurrency, require_all=False, retries=0
    )
    m = meter.stop()
    reg = report.as_dict()
    return {
        "registered": report.registered,
        "failed": report.failed,
        "registrations_per_s": reg["registrations_per_s"],
        "latency_p50_ms": reg["latency_ms"].get("p50"),
        "latency_p99_ms": reg["latency_ms"].get("p99"),
        "server_cpu_ms_per_registration": _per(m["server_cpu_s"], report.registered, 1e3),
        "registration": reg,
        **m,
    }


# --- fanout ------------------------------------------------------------------


@dataclass
class FanoutParams:
    members: int = 1000  # in the one channel, senders included
    senders: int = 10
    messages: int = 200  # per sender; one per sender per burst
    window: int = 2  # bursts in flight
    interval: float = 0.0  # extra pause between bursts, seconds
    sample_every: int = 10  # every n-th member records latencies
    concurrency: int = 200
    join_concurrency: int = 50
    stall_timeout: float = 15.0
    time_limit: float = 600.0


async def run_fanout(ctx: Context, p: FanoutParams) -> Result:
    every = max(1, p.sample_every)
    conns, report = await ctx.connect(
        "bf", p.members, concurrency=p.concurrency, sample=lambda i: i % every == 0
    )
    channel = b"#fanout"
    failed = await join_all([(c, channel) for c in conns], concurrency=p.join_concurrency)
    if failed:
        raise ScenarioError(f"{failed} of {len(conns)} JOINs failed")
    await ctx.barrier(conns)
    ctx.sink.reset()
    senders = conns[: p.senders]
    body = b"fanout benchmark message, some text to make it typical"

    def send_burst(_: int) -> None:
        for s in senders:
            s.send_privmsg(channel, body)

    meter = Meter(ctx.server)
    meter.start()
    bursts, stalled = await run_bursts(
        ctx.sink,
        bursts=p.messages,
        per_burst=len(senders) * (len(conns) - 1),
        window=p.window,
        stall_timeout=p.stall_timeout,
        interval=p.interval,
        send_burst=send_burst,
    )
    m = meter.stop(ctx.sink.last_delivery_ns)
    total = sum(s.sent for s in senders)
    expected = [(c, total - c.sent) for c in conns]
    out = _delivery_report(ctx.sink, m, expected, total, stalled, "deliveries_per_s")
    out["setup_registrations_per_s"] = round(report.rate, 1)
    out["bursts_sent"] = bursts
    return out


# --- channels ----------------------------------------------------------------


@dataclass
class ChannelsParams:
    channels: int = 200
    members: int = 5  # per channel; every member sends
    messages: int = 40  # per member; one per member per burst
    window: int = 2
    interval: float = 0.0
    sample_every: int = 1
    concurrency: int = 200
    join_concurrency: int = 200
    stall_timeout: float = 15.0
    time_limit: float = 600.0


async def run_channels(ctx: Context, p: ChannelsParams) -> Result:
    every = max(1, p.sample_every)
    count = p.channels * p.members
    conns, report = await ctx.connect(
        "bm", count, concurrency=p.concurrency, sample=lambda i: i % every == 0
    )
    names = [b"#chan%d" % (i // p.members) for i in range(count)]
    failed = await join_all(zip(conns, names, strict=True), concurrency=p.join_concurrency)
    if failed:
        raise ScenarioError(f"{failed} of {count} JOINs failed")
    await ctx.barrier(conns)
    ctx.sink.reset()
    body = b"channel benchmark message, some text to make it typical"
    targets = list(zip(conns, names, strict=True))

    def send_burst(_: int) -> None:
        for conn, name in targets:
            conn.send_privmsg(name, body)

    meter = Meter(ctx.server)
    meter.start()
    bursts, stalled = await run_bursts(
        ctx.sink,
        bursts=p.messages,
        per_burst=count * (p.members - 1),
        window=p.window,
        stall_timeout=p.stall_timeout,
        interval=p.interval,
        send_burst=send_burst,
    )
    m = meter.stop(ctx.sink.last_delivery_ns)
    expected: list[tuple[IRCConn, int]] = []
    for start in range(0, count, p.members):
        group = conns[start : start + p.members]
        group_sent = sum(c.sent for c in group)
        expected.extend((c, group_sent - c.sent) for c in group)
    total = sum(c.sent for c in conns)
    out = _delivery_report(ctx.sink, m, expected, total, stalled, "deliveries_per_s")
    out["setup_registrations_per_s"] = round(report.rate, 1)
    out["bursts_sent"] = bursts
    return out


# --- privmsg -----------------------------------------------------------------


@dataclass
class PrivmsgParams:
    pairs: int = 500
    messages: int = 100  # per client; one per client per burst
    window: int = 4
    interval: float = 0.0
    sample_every: int = 1
    concurrency: int = 200
    stall_timeout: float = 15.0
    time_limit: float = 600.0


async def run_privmsg(ctx: Context, p: PrivmsgParams) -> Result:
    every = max(1, p.sample_every)
    count = 2 * p.pairs
    conns, report = await ctx.connect(
        "bp", count, concurrency=p.concurrency, sample=lambda i: i % every == 0
    )
    await ctx.barrier(conns)
    ctx.sink.reset()
    targets = [(c, conns[i ^ 1].nick.encode()) for i, c in enumerate(conns)]
    body = b"private benchmark message, some text to make it typical"

    def send_burst(_: int) -> None:
        for conn, partner in targets:
            conn.send_privmsg(partner, body)

    meter = Meter(ctx.server)
    meter.start()
    bursts, stalled = await run_bursts(
        ctx.sink,
        bursts=p.messages,
        per_burst=count,
        window=p.window,
        stall_timeout=p.stall_timeout,
        interval=p.interval,
        send_burst=send_burst,
    )
    m = meter.stop(ctx.sink.last_delivery_ns)
    expected = [(c, conns[i ^ 1].sent) for i, c in enumerate(conns)]
    total = sum(c.sent for c in conns)
    out = _delivery_report(ctx.sink, m, expected, total, stalled, "messages_per_s")
    out["setup_registrations_per_s"] = round(report.rate, 1)
    out["bursts_sent"] = bursts
    return out


# --- idle --------------------------------------------------------------------


@dataclass
class IdleParams:
    clients: int = 10000
    probes: int = 4  # extra clients that measure PING round trips
    pings: int = 200  # in all, split across the probes, one at a time per probe
    concurrency: int = 200
    settle: float = 2.0  # seconds to let the server settle before reading RSS
    quiet: float = 5.0  # seconds over which idle CPU use is measured
    ping_timeout: float = 10.0
    time_limit: float = 600.0


async def run_idle(ctx: Context, p: IdleParams) -> Result:
    probes, _ = await ctx.connect("bq", p.probes, concurrency=p.probes)
    await ctx.barrier(probes)
    await asyncio.sleep(p.settle)
    rss0 = ctx.server.rss_bytes()
    meter = Meter(ctx.server)
    meter.start()
    conns, report = await ctx.connect("bi", p.clients, concurrency=p.concurrency)
    m = meter.stop()
    await ctx.barrier(conns, timeout=300.0)
    # From here on the server only idles and answers PINGs: the "other load"
    # of this span says how undisturbed the RSS and round-trip figures are.
    after = Meter(ctx.server)
    after.start()
    await asyncio.sleep(p.settle)
    rss1 = ctx.server.rss_bytes()

    cpu0 = ctx.server.cpu_seconds()
    await asyncio.sleep(p.quiet)
    cpu1 = ctx.server.cpu_seconds()
    idle_cpu = None if cpu0 is None or cpu1 is None else round((cpu1 - cpu0) / p.quiet, 4)

    rtts: list[int] = []
    timeouts = 0
    ping_meter = Meter(ctx.server)
    ping_meter.start()
    per_probe = math.ceil(p.pings / max(1, len(probes)))

    async def probe(conn: IRCConn, index: int) -> None:
        nonlocal timeouts
        for k in range(per_probe):
            if index * per_probe + k >= p.pings:
                return
            sent = now_ns()
            try:
                got = await asyncio.wait_for(conn.ping(b"p%d-%d" % (index, k)), p.ping_timeout)
            except (TimeoutError, OSError):
                timeouts += 1
                continue
            rtts.append(got - sent)

    await asyncio.gather(*(probe(c, i) for i, c in enumerate(probes)))
    ping_phase = ping_meter.stop()
    after_phase = after.stop()
    rtt = latency_summary(rtts)
    per_conn = None
    if rss0 is not None and rss1 is not None and report.registered:
        per_conn = round((rss1 - rss0) / report.registered / 1024, 2)
    return {
        "clients": report.registered,
        "registration_retries": report.retried,
        "rss_before_mib": None if rss0 is None else round(rss0 / 2**20, 1),
        "rss_after_mib": None if rss1 is None else round(rss1 / 2**20, 1),
        "rss_per_client_kib": per_conn,
        "ping_p50_ms": rtt.get("p50"),
        "ping_p99_ms": rtt.get("p99"),
        "ping": rtt,
        "ping_timeouts": timeouts,
        "idle_server_cpu_util": idle_cpu,
        "registrations_per_s": round(report.rate, 1),
        "registration": report.as_dict(),
        "server_cpu_ms_per_registration": _per(m["server_cpu_s"], report.registered, 1e3),
        "connect_phase": m,
        "ping_phase": ping_phase,
        "other_cpu_share": after_phase["other_cpu_share"],
    }


# --- at normal chat rates ------------------------------------------------------

# A client's lines per second in the paced variants: below the shipped flood
# control's refill rate ([limits] flood_rate = 4/s), so it never delays a line.
PACED_INTERVAL = 1.0


@dataclass
class PacedFanoutParams(FanoutParams):
    messages: int = 30
    interval: float = PACED_INTERVAL


@dataclass
class PacedChannelsParams(ChannelsParams):
    messages: int = 30
    interval: float = PACED_INTERVAL


@dataclass
class PacedPrivmsgParams(PrivmsgParams):
    messages: int = 30
    interval: float = PACED_INTERVAL


# --- crowd -------------------------------------------------------------------


@dataclass
class CrowdParams:
    clients: int = 10000
    channels: int = 2000  # client i is in channel i % channels: 5 members each by default
    period: float = 10.0  # seconds between two lines of one client
    duration: float = 60.0  # measured phase: lines are sent for this long
    seed: int = 16  # of the random phases, so runs send the same schedule
    concurrency: int = 500
    join_concurrency: int = 500
    stall_timeout: float = 15.0
    time_limit: float = 900.0


def crowd_schedule(
    clients: int, period: float, duration: float, seed: int
) -> list[tuple[float, int]]:
    """(offset in seconds, client index) of every line, in time order: each client
    sends every ``period`` seconds from its own random phase in [0, period) while
    the offset is below ``duration``."""
    rng = random.Random(seed)
    out: list[tuple[float, int]] = []
    for i in range(clients):
        t = rng.uniform(0.0, period)
        while t < duration:
            out.append((t, i))
            t += period
    out.sort()
    return out


async def run_crowd(ctx: Context, p: CrowdParams) -> Result:
    rss0 = ctx.server.rss_bytes()
    conns, report = await ctx.connect("bc", p.clients, concurrency=p.concurrency)
    channels = max(1, min(p.channels, len(conns)))
    names = [b"#crowd%d" % (i % channels) for i in range(len(conns))]
    failed = await join_all(zip(conns, names, strict=True), concurrency=p.join_concurrency)
    if failed:
        raise ScenarioError(f"{failed} of {len(conns)} JOINs failed")
    await ctx.barrier(conns, timeout=300.0)
    rss1 = ctx.server.rss_bytes()
    for conn in conns:
        conn.sample = True
    ctx.sink.reset()
    schedule = crowd_schedule(len(conns), p.period, p.duration, p.seed)
    body = b"crowd benchmark message, some text to make it typical"
    lateness: list[int] = []  # ns each line went out after its due time

    meter = Meter(ctx.server)
    meter.start()
    start = meter.start_ns
    for offset, i in schedule:
        due = start + int(offset * 1e9)
        ahead = due - now_ns()
        if ahead > 1_000_000:  # more than 1 ms early: sleep; else send at once
            await asyncio.sleep(ahead / 1e9)
        lateness.append(max(0, now_ns() - due))
        conns[i].send_privmsg(names[i], body)
    # Each member gets the lines of the others in its channel.
    group_sent = [0] * channels
    for i, conn in enumerate(conns):
        group_sent[i % channels] += conn.sent
    expected = [(c, group_sent[i % channels] - c.sent) for i, c in enumerate(conns)]
    drained = await ctx.sink.wait_delivered(sum(w for _, w in expected), p.stall_timeout)
    m = meter.stop(ctx.sink.last_delivery_ns)
    rss2 = ctx.server.rss_bytes()
    out = _delivery_report(ctx.sink, m, expected, len(schedule), not drained, "deliveries_per_s")
    late = latency_summary(lateness)
    out.update(
        {
            "clients": len(conns),
            "channels": channels,
            "lines_per_s_offered": round(len(conns) / p.period, 1),
            "send_lateness": late,  # the load generator's own lag: small when it kept pace
            "rss_before_mib": None if rss0 is None else round(rss0 / 2**20, 1),
            "rss_setup_mib": None if rss1 is None else round(rss1 / 2**20, 1),
            "rss_mib": None if rss2 is None else round(rss2 / 2**20, 1),
            "setup_registrations_per_s": round(report.rate, 1),
            "registration_retries": report.retried,
        }
    )
    return out


# --- over WebSocket -------------------------------------------------------------


async def run_ws_connect(ctx: Context, p: ConnectParams) -> Result:
    ctx.websocket = True
    return await run_connect(ctx, p)


async def run_ws_fanout(ctx: Context, p: FanoutParams) -> Result:
    ctx.websocket = True
    return await run_fanout(ctx, p)


# --- registry ----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    params: type[Any]
    run: Callable[[Context, Any], Coroutine[Any, Any, Result]]
    # (result key, column label) of the figures shown in the summary table
    headline: tuple[tuple[str, str], ...]


_DELIVERY_HEADLINE = (
    ("deliveries_per_s", "deliveries/s"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
    ("server_sys_us_per_delivery", "of it kernel"),
    ("server_cpu_util", "server CPU util"),
    ("loadgen_cpu_util", "loadgen CPU util"),
    ("lost", "lost"),
)
_PRIVMSG_HEADLINE = (
    ("messages_per_s", "msgs/s"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("server_cpu_us_per_delivery", "server CPU µs/msg"),
    ("server_sys_us_per_delivery", "of it kernel"),
    ("server_cpu_util", "server CPU util"),
    ("loadgen_cpu_util", "loadgen CPU util"),
    ("lost", "lost"),
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "connect",
            "register N clients, ~200 at a time; rate until end of MOTD",
            ConnectParams,
            run_connect,
            (
                ("registrations_per_s", "registrations/s"),
                ("latency_p50_ms", "p50 ms"),
                ("latency_p99_ms", "p99 ms"),
                ("server_cpu_ms_per_registration", "server CPU ms/reg"),
                ("failed", "failed"),
            ),
        ),
        Scenario(
            "fanout",
            "1000 members in one channel, 10 of them send; everyone reads",
            FanoutParams,
            run_fanout,
            _DELIVERY_HEADLINE,
        ),
        Scenario(
            "ws-connect",
            "connect, every client over WebSocket (IRCv3 websocket, text)",
            ConnectParams,
            run_ws_connect,
            (
                ("registrations_per_s", "registrations/s"),
                ("latency_p50_ms", "p50 ms"),
                ("latency_p99_ms", "p99 ms"),
                ("server_cpu_ms_per_registration", "server CPU ms/reg"),
                ("failed", "failed"),
            ),
        ),
        Scenario(
            "ws-fanout",
            "fanout, every member over WebSocket (IRCv3 websocket, text)",
            FanoutParams,
            run_ws_fanout,
            _DELIVERY_HEADLINE,
        ),
        Scenario(
            "channels",
            "200 channels of 5 members, everyone sends to their channel",
            ChannelsParams,
            run_channels,
            _DELIVERY_HEADLINE,
        ),
        Scenario(
            "privmsg",
            "pairs of clients exchanging private messages",
            PrivmsgParams,
            run_privmsg,
            _PRIVMSG_HEADLINE,
        ),
        Scenario(
            "fanout-paced",
            "fanout at a chat rate: each of the 10 senders one line a second",
            PacedFanoutParams,
            run_fanout,
            _DELIVERY_HEADLINE,
        ),
        Scenario(
            "channels-paced",
            "channels at a chat rate: every member one line a second",
            PacedChannelsParams,
            run_channels,
            _DELIVERY_HEADLINE,
        ),
        Scenario(
            "privmsg-paced",
            "privmsg at a chat rate: every client one line a second",
            PacedPrivmsgParams,
            run_privmsg,
            _PRIVMSG_HEADLINE,
        ),
        Scenario(
            "crowd",
            "10,000 clients in 2,000 channels of 5, each one line per 10 s at a random phase, 60 s",
            CrowdParams,
            run_crowd,
            (
                ("deliveries_per_s", "deliveries/s"),
                ("latency_p50_ms", "p50 ms"),
                ("latency_p99_ms", "p99 ms"),
                ("server_cpu_util", "server CPU util"),
                ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                ("rss_mib", "RSS MiB"),
                ("lost", "lost"),
            ),
        ),
        Scenario(
            "idle",
            "10,000 idle clients: memory per client, PING round trip under that load",
            IdleParams,
            run_idle,
            (
                ("rss_per_client_kib", "RSS KiB/client"),
                ("rss_after_mib", "RSS MiB total"),
                ("ping_p50_ms", "PING p50 ms"),
                ("ping_p99_ms", "PING p99 ms"),
                ("idle_server_cpu_util", "idle CPU util"),
                ("registrations_per_s", "registrations/s"),
            ),
        ),
    )
}

QUICK: dict[str, dict[str, Any]] = {
    "connect": {"clients": 300, "concurrency": 50},
    "fanout": {"members": 200, "senders": 5, "messages": 40},
    "ws-connect": {"clients": 300, "concurrency": 50},
    "ws-fanout": {"members": 200, "senders": 5, "messages": 40},
    "channels": {"channels": 40, "messages": 10},
    "privmsg": {"pairs": 100, "messages": 20},
    "idle": {"clients": 1000, "pings": 50, "quiet": 2.0, "settle": 1.0},
    "fanout-paced": {"members": 200, "senders": 5, "messages": 5, "interval": 0.5},
    "channels-paced": {"channels": 40, "messages": 5, "interval": 0.5},
    "privmsg-paced": {"pairs": 100, "messages": 5, "interval": 0.5},
    "crowd": {"clients": 1000, "channels": 200, "duration": 15.0, "concurrency": 200},
}

# Scenarios that run only when named: not part of the default "all".
ON_REQUEST = frozenset({"fanout-paced", "channels-paced", "privmsg-paced", "crowd"})


def make_params(name: str, quick: bool, overrides: dict[str, str]) -> Any:
    """The parameters of scenario ``name``: defaults, then quick sizes, then overrides."""
    cls = SCENARIOS[name].params
    params = cls()
    if quick:
        params = dataclasses.replace(params, **QUICK.get(name, {}))
    types = {f.name: type(getattr(params, f.name)) for f in dataclasses.fields(params)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in types:
            raise ValueError(f"{name} has no parameter {key!r}; it has {', '.join(types)}")
        changes[key] = types[key](value)
    return dataclasses.replace(params, **changes)
