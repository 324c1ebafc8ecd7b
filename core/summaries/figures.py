"""The narrative check: every figure a model wrote must be one the summary's queries returned."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# A number as people write it: 1,234.56 or 12.5 or 3; a sign or unit around it is not part of it.
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[Decimal]:
    """Every number written in `text`, without sign (a fall is written "down 12%", not -12)."""
    found: list[Decimal] = []
    for match in _NUMBER.finditer(text):
        raw = match.group().rstrip(",").replace(",", "")
        try:
            found.append(Decimal(raw))
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            continue
    return found


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def matches(written: Decimal, allowed: Iterable[Decimal]) -> bool:
    """True when `written` is an allowed figure shown at the precision it was written with."""
    places = _places(written)
    quantum = Decimal(1).scaleb(-places)
    return any(abs(value).quantize(quantum, rounding=ROUND_HALF_UP) == written for value in allowed)


def unsupported_figures(narrative: str, allowed: Iterable[Decimal]) -> list[Decimal]:
    """The numbers in `narrative` that are not in `allowed` (empty: the narrative may go out)."""
    figures = [abs(value) for value in allowed]
    return [number for number in numbers_in(narrative) if not matches(number, figures)]
