"""Metric aggregation over named windows, each ad account in its own timezone.

One set-based query per call: the window becomes one (timezone, [start, end)) condition per
distinct account timezone, so campaigns in Tokyo and Los Angeles each get their own days.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.campaigns.models import Campaign
from core.errors import ValidationFailed
from core.metrics.kpis import Totals
from core.metrics.models import CampaignMetric
from core.metrics.schemas import Aggregate, Comparison, GroupBy, SeriesPoint
from core.metrics.upsert import upsert
from core.metrics.windows import Window, WindowSpec, as_spec

__all__ = ["WindowSpec", "aggregate", "compare", "resolve_windows", "series", "totals", "upsert"]

M = CampaignMetric
ORG_LABEL = "All campaigns"
_SUMS = (
    func.coalesce(func.sum(M.impressions), 0),
    func.coalesce(func.sum(M.clicks), 0),
    func.coalesce(func.sum(M.spend), 0),
    func.coalesce(func.sum(M.conversions), 0),
    func.coalesce(func.sum(M.conversion_value), 0),
)


async def resolve_windows(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    window: WindowSpec | str,
    ad_account_id: uuid.UUID | None = None,
) -> dict[str, Window]:
    """The window resolved once per timezone the org's ad accounts use."""
    spec = as_spec(window)
    query = select(AdAccount.timezone).where(AdAccount.org_id == org_id).distinct()
    if ad_account_id is not None:
        query = query.where(AdAccount.id == ad_account_id)
    zones = sorted(await session.scalars(query))
    return {tz: spec.resolve(tz) for tz in zones}


def window_condition(windows: dict[str, Window]) -> ColumnElement[bool]:
    """Rows inside the window of their own account's timezone (needs AdAccount joined)."""
    if not windows:
        return false()
    per_zone = or_(
        *(
            and_(AdAccount.timezone == tz, M.recorded_at >= w.start, M.recorded_at < w.end)
            for tz, w in windows.items()
        )
    )
    # The envelope of all zones lets the (org_id, recorded_at) index bound the scan.
    earliest = min(w.start for w in windows.values())
    latest = max(w.end for w in windows.values())
    return and_(M.recorded_at >= earliest, M.recorded_at < latest, per_zone)


def _group_columns(group_by: GroupBy) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    if group_by == "campaign":
        return Campaign.id.expression, Campaign.name.expression
    if group_by == "account":
        return AdAccount.id.expression, AdAccount.name.expression
    if group_by == "platform":
        return M.platform.expression, M.platform.expression
    if group_by == "org":
        return literal("all"), literal(ORG_LABEL)
    raise ValidationFailed(f"Cannot group metrics by {group_by!r}.", field="group_by")


def _scoped(
    query: Select[Any],
    org_id: uuid.UUID,
    campaign_ids: Sequence[uuid.UUID] | None,
    platform: str | None,
    ad_account_id: uuid.UUID | None,
) -> Select[Any]:
    query = (
        query.select_from(M)
        .join(Campaign, Campaign.id == M.campaign_id)
        .join(AdAccount, AdAccount.id == Campaign.ad_account_id)
        .where(M.org_id == org_id, Campaign.org_id == org_id)
    )
    if campaign_ids is not None:
        query = query.where(M.campaign_id.in_(list(campaign_ids)))
    if platform is not None:
        query = query.where(M.platform == platform)
    if ad_account_id is not None:
        query = query.where(Campaign.ad_account_id == ad_account_id)
    return query


def _totals(row: Sequence[Any]) -> Totals:
    impressions, clicks, spend, conversions, value = row
    return Totals(
        impressions=int(impressions),
        clicks=int(clicks),
        spend=Decimal(spend),
        conversions=Decimal(conversions),
        conversion_value=Decimal(value),
    )


async def _aggregate(
    session: AsyncSession,
    org_id: uuid.UUID,
    windows: dict[str, Window],
    group_by: GroupBy,
    filters: dict[str, Any],
) -> list[Aggregate]:
    key, label = _group_columns(group_by)
    query = _scoped(select(key, label, *_SUMS), org_id, **filters).where(window_condition(windows))
    if group_by != "org":
        query = query.group_by(key, label)
    aggregates = [
        Aggregate(key=str(row[0]), label=str(row[1]), totals=_totals(row[2:]))
        for row in await session.execute(query)
    ]
    if group_by == "org" and not aggregates:
        aggregates = [Aggregate(key="all", label=ORG_LABEL, totals=Totals())]
    return sorted(aggregates, key=lambda a: (-a.totals.spend, a.label, a.key))


async def aggregate(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    window: WindowSpec | str,
    group_by: GroupBy = "campaign",
    campaign_ids: Sequence[uuid.UUID] | None = None,
    platform: str | None = None,
    ad_account_id: uuid.UUID | None = None,
) -> list[Aggregate]:
    """Totals per campaign, platform, account or the whole org; groups without rows are left out.

    Sorted by spend, highest first. KPIs (ctr, cpc, cpm, cpa, roas, conversion_rate) are
    properties of each `Aggregate.totals`.
    """
    windows = await resolve_windows(
        session=session, org_id=org_id, window=window, ad_account_id=ad_account_id
    )
    filters = {"campaign_ids": campaign_ids, "platform": platform, "ad_account_id": ad_account_id}
    return await _aggregate(session, org_id, windows, group_by, filters)


async def totals(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    window: WindowSpec | str,
    campaign_ids: Sequence[uuid.UUID] | None = None,
    platform: str | None = None,
    ad_account_id: uuid.UUID | None = None,
) -> Totals:
    """Blended totals over everything in scope (e.g. several campaigns across platforms)."""
    [result] = await aggregate(
        session=session,
        org_id=org_id,
        window=window,
        group_by="org",
        campaign_ids=campaign_ids,
        platform=platform,
        ad_account_id=ad_account_id,
    )
    return result.totals


async def compare(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    window: WindowSpec | str,
    group_by: GroupBy = "campaign",
    campaign_ids: Sequence[uuid.UUID] | None = None,
    platform: str | None = None,
    ad_account_id: uuid.UUID | None = None,
) -> list[Comparison]:
    """Each group in the window against the equally long window just before it."""
    spec = as_spec(window)
    if spec.name.lower() == "lifetime":
        raise ValidationFailed("Lifetime has no previous period to compare with.", field="window")
    windows = await resolve_windows(
        session=session, org_id=org_id, window=spec, ad_account_id=ad_account_id
    )
    previous_windows = {tz: w.previous() for tz, w in windows.items()}
    filters = {"campaign_ids": campaign_ids, "platform": platform, "ad_account_id": ad_account_id}
    current = await _aggregate(session, org_id, windows, group_by, filters)
    previous = {
        a.key: a for a in await _aggregate(session, org_id, previous_windows, group_by, filters)
    }
    comparisons = [
        Comparison.of(
            a.key, a.label, a.totals, previous.pop(a.key).totals if a.key in previous else Totals()
        )
        for a in current
    ]
    comparisons += [Comparison.of(a.key, a.label, Totals(), a.totals) for a in previous.values()]
    return comparisons


async def series(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    window: WindowSpec | str,
    group_by: Literal["campaign", "platform", "account", "org"] = "campaign",
    campaign_ids: Sequence[uuid.UUID] | None = None,
    platform: str | None = None,
    ad_account_id: uuid.UUID | None = None,
) -> list[SeriesPoint]:
    """Daily totals per group for charts (days in each account's timezone, gaps as zeros)."""
    windows = await resolve_windows(
        session=session, org_id=org_id, window=window, ad_account_id=ad_account_id
    )
    key, label = _group_columns(group_by)
    query = _scoped(
        select(key, label, AdAccount.timezone, M.recorded_at, *_SUMS),
        org_id,
        campaign_ids=campaign_ids,
        platform=platform,
        ad_account_id=ad_account_id,
    ).where(window_condition(windows))
    grouping = [] if group_by == "org" else [key, label]
    query = query.group_by(*grouping, AdAccount.timezone, M.recorded_at)
    buckets: dict[tuple[str, str], dict[date, Totals]] = defaultdict(dict)
    for row in await session.execute(query):
        day = _local_day(row[3], row[2])
        days = buckets[str(row[0]), str(row[1])]
        days[day] = days.get(day, Totals()) + _totals(row[4:])
    lifetime = as_spec(window).name.lower() == "lifetime"
    return _filled(buckets, windows, from_first_data=lifetime)


def _local_day(instant: datetime, tz: str) -> date:
    return instant.astimezone(ZoneInfo(tz)).date()


def _filled(
    buckets: dict[tuple[str, str], dict[date, Totals]],
    windows: dict[str, Window],
    *,
    from_first_data: bool,
) -> list[SeriesPoint]:
    points: list[SeriesPoint] = []
    if not windows:
        return points
    window_first = min(w.first_day for w in windows.values())
    last = max(w.last_day for w in windows.values())
    for (key, label), days in sorted(buckets.items(), key=lambda item: (item[0][1], item[0][0])):
        # Lifetime starts in 2000; its chart starts at the group's first day with data instead.
        first = min(days) if from_first_data else window_first
        points.extend(
            SeriesPoint(key=key, label=label, day=day, totals=days.get(day, Totals()))
            for day in _days(first, last)
        )
    return points


def _days(first: date, last: date) -> Iterable[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)
