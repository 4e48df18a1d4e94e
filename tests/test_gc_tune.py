"""The server's garbage-collector tuning (`ircpsyc.server.tune_gc`)."""

from __future__ import annotations

import gc
import weakref

from ircpsyc.server import GC_THRESHOLDS, tune_gc


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_tune_gc_sets_aside_startup_and_still_collects_cycles() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what existed is out of the collector's walk
        # A cycle made while serving is still garbage the collector finds.
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
