"""Server links: what one channel message costs between servers, and how long it takes.

For a channel of N members spread evenly over S linked ircpsyc servers (in a line
or a star), with its home on the first server:

* inter-server packets and bytes per channel message, read from the per-link
  counters (STATS L) before and after M messages, compared with what sending one
  copy per remote member (XMPP MUC style) would cost over the same links: each
  remote member's copy crosses every link between the home and its server;
* the latency of a message from a member on the home server to members on the
  home itself and 1 and 2 hops away (p50 and p99 over M messages sent one at a
  time), measured in a second run with two members per server, since with N
  members in this one process the load generator's own reading would dominate.

Everything runs on 127.0.0.1 with real processes.  Usage:

    python -m benchmarks.bench_links [--members 60] [--messages 200] [--markdown]
        [--case line:3] [--case star:5] ...   (default: line:2 line:3 star:5)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ircpsyc.ircd.linkinfo import read_rows

REPO = Path(__file__).resolve().parent.parent
OPER_PASSWORD = "bench links oper"
SECRET = "benchmark link secret, long enough"
RESULTS = REPO / "benchmarks" / "results" / "links.json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def edges_of(kind: str, count: int) -> list[tuple[int, int]]:
    if kind == "line":
        return [(i, i + 1) for i in range(count - 1)]
    if kind == "star":
        return [(0, i) for i in range(1, count)]
    raise ValueError(f"unknown topology {kind!r}")


def hops_from_home(kind: str, index: int) -> int:
    return index if kind == "line" else min(index, 1)


# --- servers -------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    irc: int
    psyc: int
    proc: subprocess.Popen[bytes] | None = None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def start_network(
    kind: str, count: int, workdir: Path, oper_hash: str
) -> tuple[list[Node], list[tuple[int, int]]]:
    nodes = [Node(f"s{i}.bench.local", free_port(), free_port()) for i in range(count)]
    edges = edges_of(kind, count)
    for index, node in enumerate(nodes):
        folder = workdir / node.name
        folder.mkdir(parents=True)
        lines = [
            "[server]",
            f"name = {_toml(node.name)}",
            "[listen]",
            f"irc = [{_toml(f'127.0.0.1:{node.irc}')}]",
            f"psyc = {_toml(f'127.0.0.1:{node.psyc}')}",
            "[storage]",
            f"path = {_toml(str(folder / 'data.sqlite3'))}",
            "[limits]",
            "flood_rate = 0",
            "max_per_ip = 10000",
            "sendq_bytes = 8388608",
            "[history]",
            "join_replay = 0",
            "[network]",
            f"servers = {_toml([n.name for n in nodes])}",
            "split_grace = 60.0",
            "reconnect_min = 0.2",
            "reconnect_max = 1.0",
        ]
        for a, b in edges:
            if index not in (a, b):
                continue
            other = nodes[b if index == a else a]
            address = f"127.0.0.1:{other.psyc}" if index < nodes.index(other) else ""
            lines += [
                "[[links]]",
                f"name = {_toml(other.name)}",
                f"address = {_toml(address)}",
                f"secret = {_toml(SECRET)}",
            ]
        lines += [
            "[[opers]]",
            'name = "bench"',
            f"password_hash = {_toml(oper_hash)}",
        ]
        (folder / "ircpsyc.toml").write_text("\n".join(lines) + "\n")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(folder / "stderr.log", "wb") as err:
            config = str(folder / "ircpsyc.toml")
            node.proc = subprocess.Popen(
                [sys.executable, "-m", "ircpsyc", "serve", "--config", config],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=folder,
                env=env,
                start_new_session=True,
            )
    deadline = time.monotonic() + 30
    for node in nodes:
        while True:
            try:
                socket.create_connection(("127.0.0.1", node.irc), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node.name} did not start") from None
                time.sleep(0.05)
    return nodes, edges


def stop_network(nodes: Iterable[Node]) -> None:
    for node in nodes:
        if node.proc is not None and node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGTERM)
    for node in nodes:
        if node.proc is not None:
            try:
                node.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)


# --- a small IRC client ----------------------------------------------------------------


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = ""

    @classmethod
    async def connect(cls, port: int, nick: str) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(reader, writer)
        client.nick = nick
        client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        await client.until(lambda words: words[1:2] in (["376"], ["422"]))
        return client

    def send(self, *lines: str) -> None:
        self.writer.write(b"".join(line.encode() + b"\r\n" for line in lines))

    async def line(self) -> list[str]:
        raw = await asyncio.wait_for(self.reader.readline(), 30)
        if not raw:
            raise ConnectionError(f"{self.nick}: closed")
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("PING "):
            self.send("PONG " + text[5:])
        head, _, trailing = text.partition(" :")
        words = head.split(" ")
        if _ or trailing:
            words.append(trailing)
        return words

    async def until(self, match: Any) -> list[str]:
        while True:
            words = await self.line()
            if match(words):
                return words

    async def sync(self) -> None:
        token = f"sync{time.monotonic_ns()}"
        self.send(f"PING {token}")
        await self.until(lambda w: w[1:2] == ["PONG"] and w[-1] == token)

    def close(self) -> None:
        self.writer.close()


async def stats(oper: Client) -> dict[str, Any]:
    oper.send("STATS L")
    rows: list[str] = []
    while True:
        words = await oper.line()
        if words[1] == "249":
            rows.append(words[-1])
        elif words[1] == "219":
            break
    summary = read_rows(rows)
    return {"summary": summary, "links": list(summary["links"].values())}


def totals(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, int]:
    out = {"packets": 0, "bytes": 0, "casts": 0}
    for b, a in zip(before, after, strict=True):
        for link_b, link_a in zip(b["links"], a["links"], strict=True):
            out["packets"] += link_a["packets_out"] - link_b["packets_out"]
            out["bytes"] += link_a["bytes_out"] - link_b["bytes_out"]
            out["casts"] += link_a["casts_out"] - link_b["casts_out"]
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


@dataclass
class Result:
    topology: str
    servers: int
    members: int
    messages: int
    links_packets_per_message: float = 0.0
    links_bytes_per_message: float = 0.0
    muc_packets_per_message: float = 0.0
    muc_bytes_per_message: float = 0.0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)


async def measure(kind: str, count: int, members: int, messages: int) -> Result:
    from ircpsyc.passwords import hash_password
    from ircpsyc.psyc_backend.network import rendezvous

    workdir = Path(tempfile.mkdtemp(prefix="bench-links-"))
    nodes, _ = start_network(kind, count, workdir, hash_password(OPER_PASSWORD))
    clients: list[Client] = []
    try:
        names = [n.name for n in nodes]
        home = names[0]
        channel = next(f"#b{i}" for i in range(1000) if rendezvous(f"#b{i}", names) == home)
        opers = []
        for index, node in enumerate(nodes):
            oper = await Client.connect(node.irc, f"oper{index}")
            oper.send(f"OPER bench :{OPER_PASSWORD}")
            await oper.until(lambda w: w[1:2] == ["381"])
            opers.append(oper)
        deadline = time.monotonic() + 30
        while True:
            snaps = [await stats(o) for o in opers]
            if all(len(s["summary"]["reachable"]) == count for s in snaps):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"network did not converge: {snaps}")
            await asyncio.sleep(0.2)
        per_server = [0] * count
        for n in range(members):
            index = n % count
            client = await Client.connect(nodes[index].irc, f"m{n}")
            client.send(f"JOIN {channel}")
            await client.until(lambda w: w[1:2] == ["366"])
            clients.append(client)
            per_server[index] += 1
        await asyncio.sleep(1.5)  # every JOIN and the operators' +o reach every server
        for client in clients:
            await client.sync()
        # Volume: M messages from a member on the home server.
        sender = clients[0]
        last = clients[-1]
        before = [await stats(o) for o in opers]
        for n in range(messages):
            sender.send(f"PRIVMSG {channel} :volume {n}")
        await last.until(lambda w: w[1:2] == ["PRIVMSG"] and w[-1] == f"volume {messages - 1}")
        after = [await stats(o) for o in opers]
        used = totals([s for s in before], [s for s in after])
        result = Result(kind, count, members, messages)
        result.links_packets_per_message = used["packets"] / messages
        result.links_bytes_per_message = used["bytes"] / messages
        copy_bytes = used["bytes"] / max(1, used["casts"])
        target_line = len(":_target\tpsyc://s0.bench.local/~m00\n")
        muc_copies = sum(per_server[i] * hops_from_home(kind, i) for i in range(count))
        result.muc_packets_per_message = float(muc_copies)
        result.muc_bytes_per_message = muc_copies * (copy_bytes + target_line)
        # Latency: one message at a time, to a member 0, 1 and 2 hops from the home.
        for client in clients:
            await client.sync()
        probes: dict[str, Client] = {"0 hops": clients[count] if count < members else sender}
        for index in range(1, count):
            hops = hops_from_home(kind, index)
            probes.setdefault(f"{hops} hop{'s' if hops > 1 else ''}", clients[index])
        samples: dict[str, list[float]] = {label: [] for label in probes}
        for n in range(min(messages, 200)):
            text = f"latency {n}"
            start = time.perf_counter()
            sender.send(f"PRIVMSG {channel} :{text}")
            for label, probe in probes.items():
                await probe.until(lambda w, t=text: w[1:2] == ["PRIVMSG"] and w[-1] == t)
                samples[label].append((time.perf_counter() - start) * 1000)
        for label, values in samples.items():
            result.latency_ms[label] = {
                "p50": round(percentile(values, 0.5), 3),
                "p99": round(percentile(values, 0.99), 3),
            }
        return result
    finally:
        for client in clients:
            client.close()
        stop_network(nodes)
        shutil.rmtree(workdir, ignore_errors=True)


def markdown(results: list[Result]) -> str:
    lines = [
        "| topology | servers | members | packets/msg (links) | packets/msg (one per member) "
        "| bytes/msg (links) | bytes/msg (one per member) | latency p50/p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        latency = ", ".join(
            f"{label}: {v['p50']:.2f}/{v['p99']:.2f}" for label, v in r.latency_ms.items()
        )
        lines.append(
            f"| {r.topology} | {r.servers} | {r.members} | {r.links_packets_per_message:.2f} "
            f"| {r.muc_packets_per_message:.0f} | {r.links_bytes_per_message:.0f} "
            f"| {r.muc_bytes_per_message:.0f} | {latency} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=60)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--case", action="append", default=[], help="TOPOLOGY:SERVERS")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    cases = args.case or ["line:2", "line:3", "star:5"]
    results = []
    for case in cases:
        kind, _, count = case.partition(":")
        result = asyncio.run(measure(kind, int(count), args.members, args.messages))
        # Latency with two members per server: with N members in this one process, the
        # load generator's own reading of N sockets would be what is measured.
        small = asyncio.run(measure(kind, int(count), 2 * int(count), args.messages))
        result.latency_ms = small.latency_ms
        results.append(result)
        print(json.dumps(asdict(result)), flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    if args.markdown:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
