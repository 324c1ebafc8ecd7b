"""Garbage-collector settings for large in-memory batch passes (rule evaluation)."""

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
