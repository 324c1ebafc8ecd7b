"""Which orgs are due their daily summary, the once-a-day claim, and the summary's figures."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.models import ActionStatus, PendingAction
from core.campaigns.models import Campaign
from core.metrics import service as metrics
from core.metrics.kpis import Totals
from core.metrics.windows import WindowSpec, day_start
from core.orgs import service as orgs
from core.orgs.models import Organization
from core.rules.models import Alert, Rule
from core.summaries.schemas import (
    AVERAGE_DAYS,
    SUMMARY_HOUR,
    DailySpend,
    DailySummary,
    DueOrg,
    Mover,
    PlatformLine,
)

CHART_DAYS = 14
TOP_MOVERS = 3


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A bad stored zone must not stop everyone's summaries; the org gets UTC mornings.
        return ZoneInfo("UTC")


def local_due_date(timezone: str, last_summary_on: date | None, now: datetime) -> date | None:
    """The org's local date if its 06:00 has passed today and today's summary is not out."""
    local_now = now.astimezone(_zone(timezone))
    # Wall-clock hour in the org's zone: a DST change moves the UTC instant, never the 06:00.
    if local_now.hour < SUMMARY_HOUR:
        return None
    if last_summary_on is not None and last_summary_on >= local_now.date():
        return None
    return local_now.date()


async def due_orgs(*, session: AsyncSession, now: datetime | None = None) -> list[DueOrg]:
    """Every org (worker login) whose local summary time has come and that has not had it."""
    moment = now or datetime.now(UTC)
    rows = await session.execute(
        select(Organization.id, Organization.timezone, Organization.last_summary_on).order_by(
            Organization.id
        )
    )
    due: list[DueOrg] = []
    for org_id, timezone, last_summary_on in rows:
        local_date = local_due_date(timezone, last_summary_on, moment)
        if local_date is not None:
            due.append(DueOrg(org_id=org_id, local_date=local_date))
    return due


async def claim_day(*, session: AsyncSession, org_id: uuid.UUID, local_date: date) -> bool:
    """Mark the org's summary for `local_date` as sent; False when someone already did.

    One conditional UPDATE: it row-locks the org, so of two transactions racing for the same
    day the second re-reads the committed date after the first commits and updates nothing.
    Call it in the transaction that writes the summary's notifications.
    """
    result = await session.execute(
        update(Organization)
        .where(
            Organization.id == org_id,
            or_(Organization.last_summary_on.is_(None), Organization.last_summary_on < local_date),
        )
        .values(last_summary_on=local_date)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _day(first: date, last: date) -> WindowSpec:
    return WindowSpec(name="custom", start=first, end=last)


async def _platform_lines(
    session: AsyncSession, org_id: uuid.UUID, yesterday: date
) -> list[PlatformLine]:
    async def by_platform(first: date, last: date) -> dict[str, Totals]:
        groups = await metrics.aggregate(
            session=session, org_id=org_id, window=_day(first, last), group_by="platform"
        )
        return {group.key: group.totals for group in groups}

    day_before = yesterday - timedelta(days=1)
    current = await by_platform(yesterday, yesterday)
    previous = await by_platform(day_before, day_before)
    week = await by_platform(yesterday - timedelta(days=AVERAGE_DAYS), day_before)
    names = sorted(set(current) | set(previous) | set(week))
    return [
        PlatformLine(
            platform=name,
            yesterday=current.get(name, Totals()),
            day_before=previous.get(name, Totals()),
            average=_average(week.get(name, Totals()), AVERAGE_DAYS),
        )
        for name in names
    ]


def _average(total: Totals, days: int) -> Totals:
    """The average day; rounded to cents so the text and the narrative check agree on it."""
    cents = Decimal("0.01")
    return Totals(
        impressions=round(total.impressions / days),
        clicks=round(total.clicks / days),
        spend=(total.spend / days).quantize(cents),
        conversions=(total.conversions / days).quantize(cents),
        conversion_value=(total.conversion_value / days).quantize(cents),
    )


async def _movers(session: AsyncSession, org_id: uuid.UUID, yesterday: date) -> list[Mover]:
    day_before = yesterday - timedelta(days=1)
    spend: dict[str, list[Decimal]] = {}
    names: dict[str, str] = {}
    for index, day in enumerate((yesterday, day_before)):
        for group in await metrics.aggregate(
            session=session, org_id=org_id, window=_day(day, day), group_by="campaign"
        ):
            spend.setdefault(group.key, [Decimal(0), Decimal(0)])[index] = group.totals.spend
            names[group.key] = group.label
    platforms = {
        str(campaign_id): platform
        for campaign_id, platform in await session.execute(
            select(Campaign.id, Campaign.platform).where(Campaign.org_id == org_id)
        )
    }
    movers = [
        Mover(
            name=names[key],
            platform=platforms.get(key, ""),
            yesterday_spend=values[0],
            day_before_spend=values[1],
        )
        for key, values in spend.items()
        if values[0] != values[1]
    ]
    movers.sort(key=lambda mover: (-abs(mover.change), mover.name))
    return movers[:TOP_MOVERS]


async def _rules_fired(
    session: AsyncSession, org_id: uuid.UUID, yesterday: date, timezone: str
) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(Rule.name)
        .select_from(Alert)
        .outerjoin(Rule, Rule.id == Alert.rule_id)
        .where(
            Alert.org_id == org_id,
            Alert.created_at >= day_start(yesterday, timezone),
            Alert.created_at < day_start(yesterday + timedelta(days=1), timezone),
        )
    )
    fired = Counter(name or "a deleted rule" for (name,) in rows)
    return sorted(fired.items(), key=lambda item: (-item[1], item[0]))


async def _daily_spend(
    session: AsyncSession, org_id: uuid.UUID, yesterday: date
) -> list[DailySpend]:
    first = yesterday - timedelta(days=CHART_DAYS - 1)
    points = await metrics.series(
        session=session, org_id=org_id, window=_day(first, yesterday), group_by="org"
    )
    by_day = {point.day: point.totals.spend for point in points}
    return [
        DailySpend(day=day, spend=by_day.get(day, Decimal(0)))
        for day in (first + timedelta(days=offset) for offset in range(CHART_DAYS))
    ]


async def gather(*, session: AsyncSession, org_id: uuid.UUID, local_date: date) -> DailySummary:
    """The figures of the summary an org gets on `local_date` (about the day before)."""
    org = await orgs.get(session=session, org_id=org_id)
    timezone = _zone(org.timezone).key
    yesterday = local_date - timedelta(days=1)
    pending = await session.scalar(
        select(func.count())
        .select_from(PendingAction)
        .where(PendingAction.org_id == org_id, PendingAction.status == ActionStatus.PENDING)
    )
    return DailySummary(
        org_id=org_id,
        org_name=org.name,
        currency=org.currency,
        local_date=local_date,
        platforms=await _platform_lines(session, org_id, yesterday),
        movers=await _movers(session, org_id, yesterday),
        pending_approvals=int(pending or 0),
        rules_fired=await _rules_fired(session, org_id, yesterday, timezone),
        daily_spend=await _daily_spend(session, org_id, yesterday),
    )
