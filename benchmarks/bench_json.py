"""Micro-benchmark of the history writer's JSON: the stdlib's encoder against orjson.

Run: `.venv/bin/python -m benchmarks.bench_json` (a few seconds).

The store's writer thread encodes every history line once, as an item of its
chunk (`ircpsyc.services.history.encode_row`), holding the GIL the event loop
wants meanwhile.  The stdlib's C encoder took 1.7-4 µs per private line of the
`privmsg` scenario (the higher figure with the event loop busy); orjson gives
the same text (checked here) for a tenth.  Reads decode chunks with
`orjson.loads`.  Figures: best µs per line of 5 rounds, chunks of 10 lines.
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable

import orjson

from ircpsyc.services.history import encode_row

STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
VARS = {
    "_nick": "bp363",
    "_prefix": "bp363!~u@ce11dd54.9c5f7910.7cfb12da.ip",
    "_nick_target": "bp362",
    "_id": "a98aaadc5a323a",
    "_time": "1796689900024",
}
BODY = "private benchmark message, some text to make it typical 29863572952811"
CHUNK = [
    [12858 + i, 1796689900024, 0, "_message_private", {"v": VARS, "b": BODY}] for i in range(10)
]
ROUNDS = 5
NUMBER = 20_000


def best(job: Callable[[], object]) -> float:
    times = timeit.repeat(job, number=NUMBER, repeat=ROUNDS)
    return min(times) / NUMBER / len(CHUNK) * 1e6


def main() -> None:
    text = STDLIB(CHUNK)
    assert encode_row(CHUNK) == text, "orjson's text differs from the stdlib's"
    print(f"µs per line (best of {ROUNDS} rounds of {NUMBER} chunks of {len(CHUNK)} lines)")
    print(
        f"  encode  stdlib {best(lambda: STDLIB(CHUNK)):6.2f}   encode_row (orjson) "
        f"{best(lambda: encode_row(CHUNK)):6.2f}"
    )
    print(
        f"  decode  stdlib {best(lambda: json.loads(text)):6.2f}   orjson.loads        "
        f"{best(lambda: orjson.loads(text)):6.2f}"
    )


if __name__ == "__main__":
    main()
