"""Exact figures for rules: integer sums per window, metrics as integer ratios.

A metric is a numerator/denominator pair of integers (money in micros), so comparisons are
exact cross-multiplications and about ten times cheaper than Decimal division.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.metrics.kpis import Totals
from core.rules.schemas import RuleSpec, WindowKey, guard_window, iter_conditions, window_key

Raw = tuple[int, int, int, int, int]
ZERO: Raw = (0, 0, 0, 0, 0)
M = 1_000_000


def fraction(metric: str, raw: Raw) -> tuple[int, int] | None:
    """A metric as an exact numerator/denominator (denominator > 0), None on a zero one.

    Integer cross-multiplication keeps comparisons exact and ~10x cheaper than Decimal.
    """
    impressions, clicks, spend, conversions, value = raw
    if metric == "spend":
        return spend, M
    if metric == "impressions":
        return impressions, 1
    if metric == "clicks":
        return clicks, 1
    if metric == "conversions":
        return conversions, M
    if metric == "conversion_value":
        return value, M
    pair = _DERIVED[metric](impressions, clicks, spend, conversions, value)
    return None if pair[1] == 0 else pair


_DERIVED: dict[str, Callable[[int, int, int, int, int], tuple[int, int]]] = {
    "ctr": lambda i, c, s, v, cv: (100 * c, i),
    "cpc": lambda i, c, s, v, cv: (s, c * M),
    "cpm": lambda i, c, s, v, cv: (1000 * s, i * M),
    "cpa": lambda i, c, s, v, cv: (s, v),
    "roas": lambda i, c, s, v, cv: (cv, s),
    "conversion_rate": lambda i, c, s, v, cv: (100 * v, c * M),
}


# Which of the five summed figures each metric reads (daily_budget is an attribute).
FIGURES: dict[str, tuple[int, ...]] = {
    "impressions": (0,),
    "clicks": (1,),
    "spend": (2,),
    "conversions": (3,),
    "conversion_value": (4,),
    "ctr": (0, 1),
    "cpc": (1, 2),
    "cpm": (0, 2),
    "cpa": (2, 3),
    "roas": (2, 4),
    "conversion_rate": (1, 3),
    "daily_budget": (),
}


def needed_figures(spec: RuleSpec) -> dict[WindowKey, set[int]]:
    """Per window, the summed figures this rule can read (conditions, references, guards)."""
    needs: dict[WindowKey, set[int]] = {}
    for condition in iter_conditions(spec.conditions):
        key = window_key(spec, condition.window)
        needs.setdefault(key, set()).update(FIGURES[condition.metric])
        if condition.compare_to is not None:
            ref_key = window_key(spec, condition.compare_to.window or condition.window)
            needs.setdefault(ref_key, set()).update(FIGURES[condition.compare_to.metric])
    guard_key = window_key(spec, guard_window(spec))
    needs.setdefault(guard_key, set())
    if spec.guards.min_spend is not None or spec.guards.min_conversions is not None:
        needs[guard_key].update((2, 3))
    return needs


def to_totals(raw: Raw) -> Totals:
    return Totals(
        impressions=raw[0],
        clicks=raw[1],
        spend=Decimal(raw[2]).scaleb(-6),
        conversions=Decimal(raw[3]).scaleb(-6),
        conversion_value=Decimal(raw[4]).scaleb(-6),
    )


def as_decimal(pair: tuple[int, int] | None) -> Decimal | None:
    return None if pair is None else Decimal(pair[0]) / Decimal(pair[1])


def budget_micros(members: Sequence[CampaignFacts]) -> tuple[int, int] | None:
    budgets = [m.daily_budget for m in members if m.daily_budget is not None]
    if not budgets:
        return None
    numerator, denominator = sum(budgets, Decimal(0)).as_integer_ratio()
    return numerator, denominator


@dataclass(slots=True)
class CampaignFacts:
    """One campaign as rules see it: attributes plus summed figures per window."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    platform: str
    status: str
    timezone: str
    daily_budget: Decimal | None
    baseline_daily_budget: Decimal | None
    # Per window: impressions, clicks, spend, conversions, conversion value (money in micros).
    raw: dict[WindowKey, Raw] = field(default_factory=dict)
    scope_key: str = ""

    def __post_init__(self) -> None:
        self.scope_key = str(self.id)

    # The same reading interface as a blended subject, so one campaign needs no wrapper.
    def figures(self, key: WindowKey) -> Raw:
        return self.raw.get(key, ZERO)

    def fraction(self, metric: str, key: WindowKey) -> tuple[int, int] | None:
        if metric == "daily_budget":
            budget = self.daily_budget
            return None if budget is None else budget.as_integer_ratio()
        return fraction(metric, self.raw.get(key, ZERO))

    def value(self, metric: str, key: WindowKey) -> Decimal | None:
        return as_decimal(self.fraction(metric, key))


def fmt(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    # Decimal's format rounds half-even, like quantize, at a fraction of the cost.
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
