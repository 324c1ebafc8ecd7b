"""The narrative check: figures as written must be figures the queries returned."""

from __future__ import annotations

from decimal import Decimal

from core.summaries.figures import numbers_in, unsupported_figures

DATA = [Decimal("1234.5678"), Decimal("-12.34"), Decimal("7"), Decimal("0.5")]


def test_numbers_are_read_as_people_write_them() -> None:
    assert numbers_in("spent 1,234.57 USD, down 12.3% over 7 days.") == [
        Decimal("1234.57"),
        Decimal("12.3"),
        Decimal("7"),
    ]


def test_a_faithful_narrative_passes_at_any_precision() -> None:
    text = "Spend reached 1,234.57 (about 1,235, or 1234.6), down 12.3% on the 7-day average."
    assert unsupported_figures(text, DATA) == []
    assert unsupported_figures("CPA fell 12.34% and ROAS is 0.5x.", DATA) == []


def test_an_invented_number_is_caught() -> None:
    assert unsupported_figures("Spend reached 1,300.00, down 12.3%.", DATA) == [Decimal("1300.00")]
    # A wrongly rounded figure is not the data either.
    assert unsupported_figures("down 12.4%", DATA) == [Decimal("12.4")]
    assert unsupported_figures("over 8 days", DATA) == [Decimal("8")]
