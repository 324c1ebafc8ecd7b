"""relaxed_gc raises the young-generation threshold for a batch and always restores it."""

from __future__ import annotations

import gc

import pytest

from core.gc_tuning import relaxed_gc


def _fail_inside_batch(seen: list[tuple[int, ...]]) -> None:
    with relaxed_gc(threshold0=123_456):
        seen.append(gc.get_threshold())
        raise RuntimeError("boom")


def test_threshold_is_raised_then_restored_even_on_error() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    with pytest.raises(RuntimeError):
        _fail_inside_batch(seen)
    assert seen == [(max(123_456, before[0]), *before[1:])]
    assert gc.isenabled()
    assert gc.get_threshold() == before
