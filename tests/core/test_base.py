"""Shared column types: money round-trips exactly and prints plainly."""

from __future__ import annotations

import pytest

from core.base import from_micros, to_micros


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (120_000_000, "120"),
        (1_234_567, "1.234567"),
        (1_500_000, "1.5"),
        (0, "0"),
        (-2_500_000, "-2.5"),
    ],
)
def test_micros_read_back_as_plain_exact_decimals(micros: int, text: str) -> None:
    assert str(from_micros(micros)) == text
    assert to_micros(from_micros(micros)) == micros
