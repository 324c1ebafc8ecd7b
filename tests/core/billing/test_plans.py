"""The plan table and quota month arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from core.billing.plans import PLANS, next_reset, period_start, plan_for
from core.orgs.models import PlanTier


def test_every_tier_has_a_plan_and_limits_grow_with_the_tier() -> None:
    assert set(PLANS) == set(PlanTier)
    limits = [plan_for(tier).ai_generations_per_month for tier in PlanTier]
    assert limits == sorted(limits)
    assert plan_for("free").ai_generations_per_month == 50


@pytest.mark.parametrize(
    ("now", "start", "reset"),
    [
        (
            datetime(2026, 11, 25, 12, tzinfo=UTC),
            date(2026, 11, 1),
            datetime(2026, 12, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            date(2026, 12, 1),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
        (datetime(2027, 1, 1, tzinfo=UTC), date(2027, 1, 1), datetime(2027, 2, 1, tzinfo=UTC)),
        # 1 Mar 01:00 in Berlin is still February in UTC.
        (
            datetime(2027, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            date(2027, 2, 1),
            datetime(2027, 3, 1, tzinfo=UTC),
        ),
    ],
)
def test_period_boundaries_are_utc_calendar_months(
    now: datetime, start: date, reset: datetime
) -> None:
    assert period_start(now) == start
    assert next_reset(now) == reset
