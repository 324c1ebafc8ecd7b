"""Platform units to Decimal and back, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.money import (
    exact_in_currency,
    from_meta_minor,
    from_micros,
    to_meta_minor,
    to_micros,
)
from core.errors import InvalidRequest


def test_micros_are_exact() -> None:
    assert from_micros(1234567) == Decimal("1.234567")
    assert from_micros("50000000") == Decimal("50")
    assert to_micros(Decimal("0.000001")) == 1
    with pytest.raises(InvalidRequest):
        to_micros(Decimal("0.0000001"))


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [
        (1999, "USD", Decimal("19.99")),
        (500, "JPY", Decimal("500")),
        ("5000", "EUR", Decimal("50")),
        (1234, "HUF", Decimal("1234")),
        (7, "KRW", Decimal("7")),
    ],
)
def test_meta_minor_units_follow_the_currency_offset(minor, currency, major) -> None:
    assert from_meta_minor(minor, currency) == major
    assert to_meta_minor(major, currency) == int(minor)


def test_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        to_meta_minor(Decimal("500.5"), "JPY")
    with pytest.raises(InvalidRequest):
        exact_in_currency(Decimal("10.001"), "USD")
    assert exact_in_currency(Decimal("10.5"), "USD") == Decimal("10.50")
