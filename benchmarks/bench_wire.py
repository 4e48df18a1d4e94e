"""Micro-benchmark of the PSYC wire codec: packets per second rendered and parsed.

Run: `.venv/bin/python benchmarks/bench_wire.py` (takes a few seconds).

The packet is a typical channel line as a place casts it to a remote server:
context, speaker, counter, the speaker's nick, `_message_public` and a short body.
Parsing is measured twice: one packet per `feed` call (a quiet link) and a
stream of packets fed in 64 KiB chunks (a busy link).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ircpsyc.psyc_backend.packet import Packet
from ircpsyc.psyc_backend.wire import Parser, render

SECONDS_PER_CASE = 1.5


def typical_packet(counter: int = 4711) -> Packet:
    return Packet(
        "_message_public",
        routing={
            "_context": "psyc://irc.example.net/@ircpsyc",
            "_source_relay": "psyc://irc.example.net/~alice",
            "_counter": str(counter),
        },
        vars={"_nick": "alice"},
        body="hello everyone, did the new release fix the netsplit issue?",
    )


def rate(run: Callable[[], int]) -> float:
    """Call `run` (which returns how many packets it handled) for a while; packets/s."""
    run()  # warm up
    done = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < SECONDS_PER_CASE:
        done += run()
        elapsed = time.perf_counter() - start
    return done / elapsed


def main() -> None:
    packet = typical_packet()
    data = render(packet)
    batch = 1000

    def render_batch() -> int:
        for _ in range(batch):
            render(packet)
        return batch

    def parse_single() -> int:
        parser = Parser()
        for _ in range(batch):
            parser.feed(data)
        return batch

    stream = data * 5000
    chunk = 65536
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]

    def parse_stream() -> int:
        parser = Parser()
        n = 0
        for piece in chunks:
            n += len(parser.feed(piece))
        return n

    def roundtrip() -> int:
        parser = Parser()
        for _ in range(batch):
            parser.feed(render(packet))
        return batch

    assert Parser().feed(data) == [packet]
    print(f"packet: {len(data)} bytes, _message_public with 3 routing vars, 1 entity var")
    for name, run in (
        ("render", render_batch),
        ("parse, one packet per feed", parse_single),
        ("parse, 64 KiB chunks", parse_stream),
        ("render + parse", roundtrip),
    ):
        print(f"{name:28s} {rate(run):>10,.0f} packets/s")


if __name__ == "__main__":
    main()
