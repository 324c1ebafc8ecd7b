"""Set-based figures for rule evaluation: one GROUP BY campaign scan for all windows.

Every distinct window becomes five FILTERed sums in the same statement; each ad account's
timezone gets its own bounds through a small derived table joined on `ad_accounts.timezone`.
The statement count is therefore constant, whatever the number of rules, campaigns, orgs,
timezones or windows.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.base import UTCDateTime
from core.campaigns.models import Campaign
from core.metrics.models import CampaignMetric
from core.metrics.windows import Window, resolve_window
from core.rules.engine import CampaignFacts
from core.rules.models import Alert
from core.rules.schemas import WindowKey

OrgFilter = Select[Any] | Iterable[uuid.UUID] | None
_M = CampaignMetric.__table__.c


def resolve(key: WindowKey, *, tz: str, now: datetime) -> Window:
    """UTC bounds of a rule window in `tz`, honouring exclude-today and the lag buffer."""
    if key.lag_hours:
        # Only days that ended at least lag_hours ago: "now" moves back, and its day is open.
        return resolve_window(
            key.name, tz=tz, now=now - timedelta(hours=key.lag_hours), exclude_today=True
        )
    return resolve_window(key.name, tz=tz, now=now, exclude_today=key.exclude_today)


def _org_clause(org_filter: OrgFilter) -> ColumnElement[bool] | None:
    if org_filter is None:
        return None
    if isinstance(org_filter, Select):
        return Campaign.org_id.in_(org_filter)
    return Campaign.org_id.in_(list(org_filter))


async def load_campaigns(
    session: AsyncSession, *, org_filter: OrgFilter, statuses: Iterable[str]
) -> dict[uuid.UUID, CampaignFacts]:
    """Campaign attributes and account timezone for every campaign rules may look at."""
    query = (
        select(
            Campaign.id,
            Campaign.org_id,
            Campaign.name,
            Campaign.platform,
            type_coerce(Campaign.status, String),
            # Raw micros: 50,000 Decimal conversions per cycle are measurable.
            type_coerce(Campaign.daily_budget, BigInteger),
            type_coerce(Campaign.baseline_daily_budget, BigInteger),
            AdAccount.timezone,
        )
        .join(AdAccount, AdAccount.id == Campaign.ad_account_id)
        .where(Campaign.status.in_(list(statuses)))
    )
    clause = _org_clause(org_filter)
    if clause is not None:
        query = query.where(clause)
    rows = (await session.execute(query)).all()
    return {
        row[0]: CampaignFacts(
            id=row[0],
            org_id=row[1],
            name=row[2],
            platform=row[3],
            status=str(row[4]),
            timezone=row[7] or "UTC",
            daily_budget=None if row[5] is None else Decimal(row[5]).scaleb(-6),
            baseline_daily_budget=None if row[6] is None else Decimal(row[6]).scaleb(-6),
        )
        for row in rows
    }


_SUMMED = ("impressions", "clicks", "spend_micros", "conversions_micros", "conversion_value_micros")


def _bounds_table(
    keys: list[WindowKey], timezones: Iterable[str], now: datetime
) -> tuple[Any, datetime, datetime]:
    """A small derived table: one row per timezone with [start, end) of every window."""
    selects = []
    lowest: datetime | None = None
    highest: datetime | None = None
    for tz in timezones:
        columns: list[Any] = [literal(tz).label("tz")]
        for index, key in enumerate(keys):
            window = resolve(key, tz=tz, now=now)
            columns.append(literal(window.start, UTCDateTime()).label(f"s{index}"))
            columns.append(literal(window.end, UTCDateTime()).label(f"e{index}"))
            lowest = window.start if lowest is None else min(lowest, window.start)
            highest = window.end if highest is None else max(highest, window.end)
        selects.append(select(*columns))
    assert lowest is not None
    assert highest is not None
    table = (selects[0] if len(selects) == 1 else union_all(*selects)).subquery("bounds")
    return table, lowest, highest


Needs = Mapping[WindowKey, Collection[int]]


def windows_query(
    keys: list[WindowKey],
    *,
    timezones: Iterable[str],
    now: datetime,
    org_filter: OrgFilter,
    needs: Needs | None = None,
) -> tuple[Select[Any], list[tuple[int, int]]]:
    """Sums per campaign for every window in one scan; each row bounded in its account's tz.

    Only the (window, figure) pairs some rule reads are summed (`needs`, default all five).
    Returns the query and, per result column after the id, its (window index, figure index).
    """
    bounds, lowest, highest = _bounds_table(keys, timezones, now)
    aggregates, layout = [], []
    for index, key in enumerate(keys):
        inside = and_(
            _M.recorded_at >= bounds.c[f"s{index}"], _M.recorded_at < bounds.c[f"e{index}"]
        )
        wanted = range(5) if needs is None else sorted(needs.get(key, ()))
        for figure in wanted:
            raw = type_coerce(_M[_SUMMED[figure]], BigInteger)
            aggregates.append(cast(func.sum(raw).filter(inside), BigInteger))
            layout.append((index, figure))
    query = (
        select(_M.campaign_id, *aggregates)
        .select_from(CampaignMetric.__table__)
        .join(Campaign, Campaign.id == _M.campaign_id)
        .join(AdAccount, AdAccount.id == Campaign.ad_account_id)
        .join(bounds, bounds.c.tz == AdAccount.timezone)
        # The outer bounds let an index on recorded_at narrow the scan.
        .where(_M.recorded_at >= literal(lowest, UTCDateTime()))
        .where(_M.recorded_at < literal(highest, UTCDateTime()))
        .group_by(_M.campaign_id)
    )
    clause = _org_clause(org_filter)
    return (query.where(clause) if clause is not None else query), layout


async def fill_totals(
    session: AsyncSession,
    campaigns: dict[uuid.UUID, CampaignFacts],
    *,
    windows: Iterable[WindowKey],
    now: datetime,
    org_filter: OrgFilter,
    needs: Needs | None = None,
) -> int:
    """Attach window sums to `campaigns`; returns the number of statements issued (0 or 1).

    Figures no rule reads stay 0 in the tuples (they are never looked at).
    """
    timezones = sorted({c.timezone for c in campaigns.values()})
    keys = sorted(windows, key=lambda k: (k.name, k.exclude_today, k.lag_hours))
    if not timezones or not keys:
        return 0
    query, layout = windows_query(
        keys, timezones=timezones, now=now, org_filter=org_filter, needs=needs
    )
    result = await session.execute(query)
    for row in result:
        facts = campaigns.get(row[0])
        if facts is None:
            continue
        figures = [[0, 0, 0, 0, 0] for _ in keys]
        for column, (index, figure) in enumerate(layout, start=1):
            figures[index][figure] = row[column] or 0
        for index, key in enumerate(keys):
            values = figures[index]
            facts.raw[key] = (values[0], values[1], values[2], values[3], values[4])
    return 1


async def last_firings(
    session: AsyncSession,
    *,
    since: datetime,
    org_id: uuid.UUID | None = None,
) -> dict[tuple[uuid.UUID, str], datetime]:
    """The newest alert per (rule, scope) since `since`: what cooldowns are measured from."""
    query = (
        select(Alert.rule_id, Alert.scope_key, func.max(Alert.created_at))
        .where(Alert.rule_id.is_not(None), Alert.created_at >= since)
        .group_by(Alert.rule_id, Alert.scope_key)
    )
    if org_id is not None:
        query = query.where(Alert.org_id == org_id)
    rows = (await session.execute(query)).all()
    return {(row[0], row[1]): _aware(row[2]) for row in rows if row[0] is not None}


def _aware(value: Any) -> datetime:
    # func.max keeps the column type on PostgreSQL; SQLite may hand back naive UTC text.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
