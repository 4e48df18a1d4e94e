"""Micro-benchmark of the per-command path: CPU per PRIVMSG, in-process, no sockets.

Run: `.venv/bin/python -m benchmarks.bench_commands` (about half a minute).

What the `privmsg` and `channels` scenarios of `benchmarks.run` measure, minus
the sockets and the asyncio adapter: registered sessions (wired like
`tests/helpers.py`'s World) are fed raw lines with `Session.handle_line`, their
output goes to a sink that drops it.  Cases:

- private: pairs of clients message each other, with private history off, kept
  in memory (no store) and in SQLite (a temporary file; the writer thread's CPU
  is included: the time is process CPU time, and the store is flushed before
  the clock stops);
- the same with clients that negotiated server-time, message-tags and
  echo-message (each line is tagged; the sender gets an echo);
- channel: channels of 5 members, one member speaks (µs per command and per
  delivered line), with channel history in SQLite.

Each figure is the best of a few rounds (µs of process CPU per command).  The
garbage collector is tuned as the server tunes it (`ircpsyc.server.tune_gc`)
unless `--default-gc` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ircpsyc.assemble import attach_store, front_end
from ircpsyc.channels.place import PlaceRegistry
from ircpsyc.config import Config, load
from ircpsyc.ircd.core import IRCServer
from ircpsyc.ircd.session import Session
from ircpsyc.psyc_backend.router import Router
from ircpsyc.server import tune_gc
from ircpsyc.store import Store

ROUNDS = 5
# What a modern client asks for: every line gets tags, and the sender an echo.
IRCV3_CAPS = "server-time message-tags echo-message"


class NullSink:
    """Counts what a session writes and drops it."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.lines += 1

    def close(self) -> None:
        pass


def make_core(history: str) -> tuple[IRCServer, Store | None]:
    """A server like `ircpsyc.server.Server` wires it; `history` is off, memory or sqlite."""
    config: Config = load(None)
    if history == "off":
        config = dataclasses.replace(
            config, history=dataclasses.replace(config.history, private=False)
        )
    router = Router(config.server.name)
    places = PlaceRegistry(router, config.server.name, config)
    core, _ = front_end(config, router, places)
    store = None
    if history == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-commands-")) / "store.db"
        store = Store(str(path))
        attach_store(core, store)
    return core, store


def close(store: Store | None) -> None:
    """Close the store and delete its temporary directory."""
    if store is not None:
        store.close()
        shutil.rmtree(Path(store.path).parent, ignore_errors=True)


def register(core: IRCServer, nick: str, sink: NullSink, caps: str = "") -> Session:
    session = Session(core, sink, "127.0.0.1", tls=False, now=time.monotonic())
    core.sessions[session] = None
    if caps:
        session.handle_line(b"CAP LS 302", time.monotonic())
        session.handle_line(f"CAP REQ :{caps}".encode(), time.monotonic())
    session.handle_line(f"NICK {nick}".encode(), time.monotonic())
    session.handle_line(b"USER u 0 * :Bench", time.monotonic())
    if caps:
        session.handle_line(b"CAP END", time.monotonic())
    assert session.registered, nick
    return session


def measure(run: Callable[[], int], store: Store | None) -> tuple[float, float]:
    """Best µs of CPU per command over ROUNDS calls of `run` (which returns how many
    commands it sent): of the whole process, and of this (the event loop's) thread;
    the difference is the store's writer thread."""
    best = (float("inf"), float("inf"))
    run()  # warm up (caches, the store's first batch)
    if store is not None:
        store.flush()
    for _ in range(ROUNDS):
        gc.collect()
        start, start_thread = time.process_time(), time.thread_time()
        done = run()
        if store is not None:
            store.flush()
        spent = (time.process_time() - start, time.thread_time() - start_thread)
        best = min(best, (spent[0] / done * 1e6, spent[1] / done * 1e6))
    return best


def private_case(history: str, pairs: int, messages: int, caps: str = "") -> tuple[float, float]:
    core, store = make_core(history)
    sink = NullSink()
    sessions = [register(core, f"p{i}", sink, caps) for i in range(2 * pairs)]
    lines = []
    for i in range(pairs):
        a, b = sessions[2 * i], sessions[2 * i + 1]
        lines.append(
            (a, f"PRIVMSG p{2 * i + 1} :hello there, message text of typical size".encode())
        )
        lines.append((b, f"PRIVMSG p{2 * i} :and a reply of about the same length, ok".encode()))

    def run() -> int:
        now = time.monotonic()
        for _ in range(messages // len(lines)):
            for session, raw in lines:
                session.handle_line(raw, now)
        return messages // len(lines) * len(lines)

    try:
        return measure(run, store)
    finally:
        close(store)


def channel_case(history: str, channels: int, members: int, messages: int) -> tuple[float, float]:
    core, store = make_core(history)
    sink = NullSink()
    speakers = []
    for c in range(channels):
        group = [register(core, f"c{c}m{m}", sink) for m in range(members)]
        for session in group:
            session.handle_line(f"JOIN #chan{c}".encode(), time.monotonic())
        speakers.append(
            (group[c % members], f"PRIVMSG #chan{c} :a channel line of a typical size".encode())
        )

    def run() -> int:
        now = time.monotonic()
        for _ in range(messages // len(speakers)):
            for session, raw in speakers:
                session.handle_line(raw, now)
        return messages // len(speakers) * len(speakers)

    try:
        return measure(run, store)
    finally:
        close(store)


def show(label: str, cpu: tuple[float, float], members: int = 0) -> None:
    process, main = cpu
    text = f"  {label:58} {process:6.2f}"
    if process - main > 0.5:
        text += f"  (event loop thread {main:.2f}, writer thread {process - main:.2f})"
    if members:
        text += f"  {process / (members - 1):.2f} per delivered line"
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="commands per round")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's default collector thresholds (the server tunes them: tune_gc)",
    )
    args = parser.parse_args()
    n = args.messages
    if not args.default_gc:
        tune_gc()
    print(f"µs of process CPU per command (best of {ROUNDS} rounds of {n})")
    for history in ("off", "memory", "sqlite"):
        show(f"PRIVMSG nick, history {history}", private_case(history, 50, n))
    show(
        "PRIVMSG nick, history memory, server-time + tags + echo",
        private_case("memory", 50, n, IRCV3_CAPS),
    )
    show("PRIVMSG #channel (5 members), history sqlite", channel_case("sqlite", 40, 5, n), 5)


if __name__ == "__main__":
    main()
