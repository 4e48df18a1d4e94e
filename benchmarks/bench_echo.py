"""What durable echoes cost: echo-message latency with and without group commit.

Run: `.venv/bin/python -m benchmarks.bench_echo` (about half a minute).

A channel line's echo is its sender's acknowledgement, so it waits for the
history batch that holds the line to be committed (ircpsyc.ircd.durable; the
writer commits at least every 100 ms).  This starts a real server process
twice on loopback, once as shipped ("durable") and once with the echo sent at
once ("immediate", the behaviour before), and measures, for a sender with
echo-message in a channel of `MEMBERS` members:

- echo latency: from writing the PRIVMSG to reading its echo (p50/p99);
- delivery latency: the same line at another member (p50/p99), which must not
  change: delivery to the others never waits for the disk;

at two loads: `sparse` (one line every 50 ms: each line waits for a commit of
its own) and `stream` (bursts of 20 lines every 5 ms: the lines of ~100 ms
share one commit).  Each figure is the median of `ROUNDS` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
MEMBERS = 5  # the sender and the members who read
ROUNDS = 3
LOADS = {"sparse": (1, 0.05, 100), "stream": (20, 0.005, 4000)}  # burst, pause, lines


def _serve(config: str, immediate: bool) -> None:
    """The server process (`--serve`): ircpsyc as `ircpsyc serve` runs it; with
    `immediate`, echoes go out without waiting for the commit."""
    from ircpsyc.config import load
    from ircpsyc.server import Server

    async def main() -> None:
        server = Server(load(config), config)
        await server.start()
        if immediate:
            server.core.durable = None
            if server.store is not None:
                server.store.on_commit = None
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Figures:
    echo_p50: float
    echo_p99: float
    delivery_p50: float
    delivery_p99: float
    cpu_us: float  # server process CPU (both threads) per line sent


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, nick: str, caps: str) -> Conn:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        conn = cls(reader, writer)
        writer.write(
            f"CAP LS 302\r\nCAP REQ :{caps}\r\nNICK {nick}\r\nUSER b 0 * :b\r\nCAP END\r\n".encode()
        )
        await conn.until(b" 376 ", b" 422 ")
        return conn

    async def until(self, *marks: bytes) -> bytes:
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 30)
            if not line:
                raise ConnectionError("closed")
            if any(m in line for m in marks):
                return line


async def _run(port: int, pid: int, load: str) -> Figures:
    burst, pause, total = LOADS[load]
    channel = f"#bench{time.monotonic_ns()}"
    sender = await Conn.open(
        port, f"s{os.getpid() % 1000}x{time.monotonic_ns() % 10**6}", "echo-message"
    )
    others = [
        await Conn.open(port, f"m{i}x{time.monotonic_ns() % 10**6}", "") for i in range(MEMBERS - 1)
    ]
    for conn in [sender, *others]:
        conn.writer.write(f"JOIN {channel}\r\n".encode())
        await conn.until(b" 366 ")
    sent: dict[int, int] = {}
    cpu = _cpu_seconds(pid)
    echoes: list[float] = []
    deliveries: list[float] = []

    async def read(conn: Conn, into: list[float]) -> None:
        got = 0
        while got < total:
            line = await asyncio.wait_for(conn.reader.readline(), 30)
            now = time.perf_counter_ns()
            if b" PRIVMSG " not in line:
                continue
            number = int(line.rsplit(b" ", 1)[1].lstrip(b":"))
            into.append((now - sent[number]) / 1e6)
            got += 1

    readers = [
        asyncio.create_task(read(sender, echoes)),
        asyncio.create_task(read(others[0], deliveries)),
    ]
    n = 0
    while n < total:
        chunk = []
        for _ in range(burst):
            chunk.append(f"PRIVMSG {channel} :{n}\r\n")
            sent[n] = time.perf_counter_ns()
            n += 1
        sender.writer.write("".join(chunk).encode())
        await asyncio.sleep(pause)
    await asyncio.gather(*readers)
    cpu = _cpu_seconds(pid) - cpu
    for conn in [sender, *others]:
        conn.writer.close()
    return Figures(
        _percentile(echoes, 0.5),
        _percentile(echoes, 0.99),
        _percentile(deliveries, 0.5),
        _percentile(deliveries, 0.99),
        cpu * 1e6 / total,
    )


def _measure(immediate: bool, rounds: int) -> dict[str, Figures]:
    with tempfile.TemporaryDirectory(prefix="bench-echo-") as work:
        port = _free_port()
        config = Path(work) / "ircpsyc.toml"
        config.write_text(
            textwrap.dedent(
                f"""\
                [server]
                name = "bench.localhost"
                [listen]
                irc = ["{HOST}:{port}"]
                [storage]
                path = "{Path(work) / "db.sqlite3"}"
                [limits]
                flood_rate = 0.0
                ping_interval = 600.0
                """
            )
        )
        argv = [sys.executable, "-m", "benchmarks.bench_echo", "--serve", str(config)]
        if immediate:
            argv.append("--immediate")
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    import socket

                    socket.create_connection((HOST, port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the server did not start") from None
                    time.sleep(0.05)
            out: dict[str, Figures] = {}
            for load in LOADS:
                runs = [asyncio.run(_run(port, proc.pid, load)) for _ in range(rounds)]
                out[load] = Figures(
                    *(
                        statistics.median(getattr(r, f) for r in runs)
                        for f in Figures.__dataclass_fields__
                    )
                )
            return out
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--immediate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.immediate)
        return
    results = {
        "immediate (before)": _measure(True, args.rounds),
        "durable (after)": _measure(False, args.rounds),
    }
    print(
        "| echo | load | echo p50 ms | echo p99 ms | delivery p50 ms | delivery p99 ms "
        "| server CPU µs/line |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode, figures in results.items():
        for load, f in figures.items():
            print(
                f"| {mode} | {load} | {f.echo_p50:.1f} | {f.echo_p99:.1f} | "
                f"{f.delivery_p50:.1f} | {f.delivery_p99:.1f} | {f.cpu_us:.0f} |"
            )


if __name__ == "__main__":
    main()
