"""What goes into and comes out of the metrics service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from core.metrics.kpis import ALL_METRICS, Totals

GroupBy = Literal["campaign", "platform", "account", "org"]


@dataclass(frozen=True, slots=True)
class MetricIn:
    """One bucket of figures for one campaign; (campaign_id, platform, recorded_at) is the key.

    A plain slotted dataclass, not a pydantic model: ingest builds millions of these and
    `metrics.upsert` validates them in one pass anyway.
    """

    campaign_id: uuid.UUID
    platform: str
    # Start of the bucket (a day in the account's timezone, or an hour); must be aware.
    recorded_at: datetime
    org_id: uuid.UUID
    impressions: int = 0
    clicks: int = 0
    spend: Decimal = Decimal(0)
    conversions: Decimal = Decimal(0)
    conversion_value: Decimal = Decimal(0)


@dataclass(frozen=True)
class UpsertResult:
    received: int
    # Distinct natural keys after collapsing duplicates in the input (the last one wins).
    distinct: int
    # Rows inserted or changed; unchanged re-sends are skipped and not counted.
    written: int


@dataclass(frozen=True)
class Aggregate:
    """Totals of one group: `key` is a campaign/account id, a platform name, or "all"."""

    key: str
    label: str
    totals: Totals


@dataclass(frozen=True)
class Delta:
    absolute: Decimal | None
    # Percent change against the previous period; None when that was zero or missing.
    percent: Decimal | None


def delta(current: Decimal | None, previous: Decimal | None) -> Delta:
    if current is None or previous is None:
        return Delta(absolute=None, percent=None)
    absolute = current - previous
    percent = None if previous == 0 else absolute / abs(previous) * 100
    return Delta(absolute=absolute, percent=percent)


@dataclass(frozen=True)
class Comparison:
    """A group's totals in a window and in the equally long window just before it."""

    key: str
    label: str
    current: Totals
    previous: Totals
    deltas: dict[str, Delta] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, label: str, current: Totals, previous: Totals) -> Comparison:
        deltas = {name: delta(current.metric(name), previous.metric(name)) for name in ALL_METRICS}
        return cls(key=key, label=label, current=current, previous=previous, deltas=deltas)


@dataclass(frozen=True)
class SeriesPoint:
    """One day (in the account's timezone) of one group's figures."""

    key: str
    label: str
    day: date
    totals: Totals
