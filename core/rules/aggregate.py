"""Set-based figures for rule evaluation: one GROUP BY campaign query per distinct window.

Every ad account's timezone gets its own bounds, chosen inside the query with a CASE on
`ad_accounts.timezone`, so the number of statements depends on the windows only, never on
the number of rules, campaigns, orgs or timezones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.base import UTCDateTime
from core.campaigns.models import Campaign
from core.metrics.kpis import Totals
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
            Campaign.status,
            Campaign.daily_budget,
            Campaign.baseline_daily_budget,
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
            status=str(row[4].value if hasattr(row[4], "value") else row[4]),
            timezone=row[7] or "UTC",
            daily_budget=row[5],
            baseline_daily_budget=row[6],
        )
        for row in rows
    }


def _bound(bounds: dict[str, datetime]) -> ColumnElement[Any]:
    whens = {tz: literal(value, UTCDateTime()) for tz, value in bounds.items()}
    return case(whens, value=AdAccount.timezone)


def window_query(
    key: WindowKey, *, timezones: Iterable[str], now: datetime, org_filter: OrgFilter
) -> Select[Any]:
    """Sums per campaign over `key`, each row bounded in its own account's timezone."""
    windows = {tz: resolve(key, tz=tz, now=now) for tz in timezones}
    starts = {tz: w.start for tz, w in windows.items()}
    ends = {tz: w.end for tz, w in windows.items()}
    query = (
        select(
            _M.campaign_id,
            cast(func.sum(_M.impressions), BigInteger),
            cast(func.sum(_M.clicks), BigInteger),
            cast(func.sum(_M.spend_micros), BigInteger),
            cast(func.sum(_M.conversions_micros), BigInteger),
            cast(func.sum(_M.conversion_value_micros), BigInteger),
        )
        .select_from(CampaignMetric.__table__)
        .join(Campaign, Campaign.id == _M.campaign_id)
        .join(AdAccount, AdAccount.id == Campaign.ad_account_id)
        # The outer bounds let an index on recorded_at narrow the scan before the CASE.
        .where(_M.recorded_at >= literal(min(starts.values()), UTCDateTime()))
        .where(_M.recorded_at < literal(max(ends.values()), UTCDateTime()))
        .where(_M.recorded_at >= _bound(starts), _M.recorded_at < _bound(ends))
        .group_by(_M.campaign_id)
    )
    clause = _org_clause(org_filter)
    return query.where(clause) if clause is not None else query


def micros(value: int | Decimal | None) -> Decimal:
    return Decimal(int(value or 0)).scaleb(-6)


def totals_from(row: Any) -> Totals:
    return Totals(
        impressions=int(row[1] or 0),
        clicks=int(row[2] or 0),
        spend=micros(row[3]),
        conversions=micros(row[4]),
        conversion_value=micros(row[5]),
    )


async def fill_totals(
    session: AsyncSession,
    campaigns: dict[uuid.UUID, CampaignFacts],
    *,
    windows: Iterable[WindowKey],
    now: datetime,
    org_filter: OrgFilter,
) -> int:
    """Attach window sums to `campaigns`; returns the number of statements issued."""
    timezones = sorted({c.timezone for c in campaigns.values()})
    if not timezones:
        return 0
    issued = 0
    for key in sorted(windows, key=lambda k: (k.name, k.exclude_today, k.lag_hours)):
        query = window_query(key, timezones=timezones, now=now, org_filter=org_filter)
        result = await session.execute(query)
        issued += 1
        for row in result:
            facts = campaigns.get(row[0])
            if facts is not None:
                facts.totals[key] = totals_from(row)
    return issued


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
