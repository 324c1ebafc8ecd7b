"""Derived KPIs. A zero denominator gives None: "no data", never an exception or infinity."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

_HUNDRED = Decimal(100)
_THOUSAND = Decimal(1000)


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


@dataclass(frozen=True)
class Totals:
    """Summed raw figures over some scope and window."""

    impressions: int = 0
    clicks: int = 0
    spend: Decimal = Decimal(0)
    conversions: Decimal = Decimal(0)
    conversion_value: Decimal = Decimal(0)

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            impressions=self.impressions + other.impressions,
            clicks=self.clicks + other.clicks,
            spend=self.spend + other.spend,
            conversions=self.conversions + other.conversions,
            conversion_value=self.conversion_value + other.conversion_value,
        )

    @property
    def ctr(self) -> Decimal | None:
        """Click-through rate in percent."""
        value = ratio(self.clicks, self.impressions)
        return None if value is None else value * _HUNDRED

    @property
    def cpc(self) -> Decimal | None:
        return ratio(self.spend, self.clicks)

    @property
    def cpm(self) -> Decimal | None:
        value = ratio(self.spend, self.impressions)
        return None if value is None else value * _THOUSAND

    @property
    def cpa(self) -> Decimal | None:
        return ratio(self.spend, self.conversions)

    @property
    def roas(self) -> Decimal | None:
        return ratio(self.conversion_value, self.spend)

    @property
    def conversion_rate(self) -> Decimal | None:
        """Conversions per click, in percent."""
        value = ratio(self.conversions, self.clicks)
        return None if value is None else value * _HUNDRED

    def metric(self, name: str) -> Decimal | None:
        """Any raw or derived metric by name (the names rules use)."""
        if name in RAW_METRICS:
            return Decimal(getattr(self, name))
        if name in DERIVED_METRICS:
            value: Decimal | None = getattr(self, name)
            return value
        raise KeyError(name)


RAW_METRICS = ("impressions", "clicks", "spend", "conversions", "conversion_value")
DERIVED_METRICS = ("ctr", "cpc", "cpm", "cpa", "roas", "conversion_rate")
ALL_METRICS = RAW_METRICS + DERIVED_METRICS
