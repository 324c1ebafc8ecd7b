"""Plan tiers and what each allows: the one table every quota check reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from core.orgs.models import PlanTier


@dataclass(frozen=True)
class Plan:
    tier: PlanTier
    ai_generations_per_month: int


PLANS: dict[PlanTier, Plan] = {
    PlanTier.FREE: Plan(PlanTier.FREE, ai_generations_per_month=50),
    PlanTier.STARTER: Plan(PlanTier.STARTER, ai_generations_per_month=500),
    PlanTier.PRO: Plan(PlanTier.PRO, ai_generations_per_month=5_000),
    PlanTier.AGENCY: Plan(PlanTier.AGENCY, ai_generations_per_month=50_000),
}


def plan_for(tier: PlanTier | str) -> Plan:
    return PLANS[PlanTier(tier)]


# Quota months are calendar months in UTC, the same for every org, so a reset is one date compare.
def period_start(now: datetime) -> date:
    """The first day of the quota month that contains `now`."""
    current = now.astimezone(UTC)
    return date(current.year, current.month, 1)


def next_reset(now: datetime) -> datetime:
    """When the quota month containing `now` ends: midnight UTC on the next month's first day."""
    current = now.astimezone(UTC)
    year, month = (
        (current.year + 1, 1) if current.month == 12 else (current.year, current.month + 1)
    )
    return datetime(year, month, 1, tzinfo=UTC)
