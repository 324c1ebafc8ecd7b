"""relaxed_gc raises the young-generation threshold for a batch and always restores it."""

from __future__ import annotations

import gc

import pytest

from core.gc_tuning import relaxed_gc


def test_threshold_is_raised_then_restored_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), relaxed_gc(threshold0=123_456):
        assert gc.get_threshold() == (max(123_456, before[0]), *before[1:])
        assert gc.isenabled()
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
