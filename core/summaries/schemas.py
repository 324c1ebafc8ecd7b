"""The figures of one org's daily summary, as the queries returned them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from core.metrics.kpis import Totals

# The summary goes out once the org's local clock has passed this hour.
SUMMARY_HOUR = 6
# Yesterday is compared with the average day of this many days before it.
AVERAGE_DAYS = 7


@dataclass(frozen=True)
class DueOrg:
    """An org whose local summary time has come on `local_date` and that has not had it yet."""

    org_id: uuid.UUID
    local_date: date


@dataclass(frozen=True)
class PlatformLine:
    """One platform: yesterday, the day before, and the average day of the 7 days before."""

    platform: str
    yesterday: Totals
    day_before: Totals
    average: Totals


@dataclass(frozen=True)
class Mover:
    """A campaign whose spend moved most between the day before and yesterday."""

    name: str
    platform: str
    yesterday_spend: Decimal
    day_before_spend: Decimal

    @property
    def change(self) -> Decimal:
        return self.yesterday_spend - self.day_before_spend


@dataclass(frozen=True)
class DailySpend:
    day: date
    spend: Decimal


@dataclass(frozen=True)
class DailySummary:
    org_id: uuid.UUID
    org_name: str
    currency: str
    # The org's local date the summary is for (it reports on the day before).
    local_date: date
    platforms: list[PlatformLine]
    movers: list[Mover]
    pending_approvals: int
    # Rule name and how many times it fired yesterday (org's local day).
    rules_fired: list[tuple[str, int]]
    # Spend per local day, oldest first, for the chart.
    daily_spend: list[DailySpend]

    @property
    def yesterday(self) -> date:
        return self.local_date - timedelta(days=1)
