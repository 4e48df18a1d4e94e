"""What one idle registered client costs the server in memory, by allocation site.

Runs the real server in this process (uvloop, the benchmark's configuration of
`benchmarks/servers.py`: no flood control, no DNS) and connects N clients from a
child process over loopback, each registering with NICK and USER as the `idle`
scenario's do (nicks idle00000 ..., or Idle00000 ... with `--capitalized`, a nick
whose uniform is not its own key form).  With tracemalloc on from before the first
connection, it prints the bytes per client (traced: Python objects, uvloop's
transports and handles) and the RSS growth per client, and with `--top K` the K
allocation sites that grew most (`--depth D`: grouped by D frames of traceback).

    .venv/bin/python -m benchmarks.idle_memory [N] [--top K] [--depth D] [--no-trace]
        [--capitalized]
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from pathlib import Path

from ircpsyc.config import load
from ircpsyc.server import Server, tune_gc

CLIENT = """
import asyncio, sys
from benchmarks.loadgen import Sink, connect_many, raise_nofile_limit
async def main():
    raise_nofile_limit()
    n, port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    conns, report = await connect_many(
        "127.0.0.1", port, [f"{prefix}{i:05d}" for i in range(n)], Sink(), concurrency=200
    )
    print(len(conns), flush=True)
    sys.stdin.readline()
asyncio.run(main())
"""


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def measure(count: int, top: int, depth: int, trace: bool, prefix: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="idle-memory-"))
    conf = workdir / "ircpsyc.toml"
    conf.write_text(
        textwrap.dedent(
            f"""\
            [server]
            name = "bench.example.org"
            [listen]
            irc = ["127.0.0.1:0"]
            [storage]
            path = "{workdir / "db.sqlite3"}"
            [limits]
            max_clients = {count + 100}
            max_per_ip = {count + 100}
            flood_rate = 0.0
            registration_timeout = 60.0
            ping_interval = 600.0
            """
        )
    )
    server = Server(load(str(conf)), str(conf))
    await server.start()
    tune_gc()
    port = server.listeners[0].sockets[0].getsockname()[1]
    gc.collect()
    if trace:
        tracemalloc.start(depth)
    first = tracemalloc.take_snapshot() if trace and top else None
    traced0 = tracemalloc.get_traced_memory()[0] if trace else 0
    rss0 = rss()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        str(count),
        str(port),
        prefix,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    registered = int(await child.stdout.readline())
    await asyncio.sleep(3.0)  # a few ticks of the server's timer sweep (1 s)
    rss_garbage = rss()
    # Cyclic garbage the server's rare collections (`tune_gc`) have not freed yet.
    cycles = gc.collect()
    traced1 = tracemalloc.get_traced_memory()[0] if trace else 0
    rss1 = rss()
    assert registered == count == len(server.core.clients), (registered, count)
    print(f"{count} idle registered clients")
    if trace:
        print(f"  traced: {(traced1 - traced0) / count:.0f} bytes/client")
    grown = (rss1 - rss0) / count
    print(f"  RSS:    {grown:.0f} bytes/client ({grown / 1024:.2f} KiB)")
    print(
        f"  before gc.collect(): {(rss_garbage - rss0) / count:.0f} bytes/client RSS, "
        f"{cycles / count:.1f} objects/client in garbage cycles"
    )
    if first is not None:
        second = tracemalloc.take_snapshot()
        key = "traceback" if depth > 1 else "lineno"
        for stat in second.compare_to(first, key)[:top]:
            print(f"{stat.size_diff / count:8.1f} B {stat.count_diff / count:6.2f} blocks")
            for frame in stat.traceback.format()[-2 * depth :: 2]:
                print("          ", frame.strip())
    child.stdin.write(b"\n")
    await child.stdin.drain()
    await child.wait()
    await server.stop()


def main() -> None:
    args = sys.argv[1:]
    count = int(next((a for a in args if a.isdigit()), "2000"))
    top = int(args[args.index("--top") + 1]) if "--top" in args else 0
    depth = int(args[args.index("--depth") + 1]) if "--depth" in args else 1
    import uvloop

    prefix = "Idle" if "--capitalized" in args else "idle"  # a nick not in key form
    uvloop.run(measure(count, top, depth, "--no-trace" not in args, prefix))


if __name__ == "__main__":
    main()
