"""One ad account's sync: its campaigns and daily metrics from the platform, stored idempotently.

Platform calls happen with no session open; each batch is then written in its own short
transaction, so a sync holds no database connection across the platform's latency.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from core.accounts.service import AccountRef
from core.base import utcnow
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from core.metrics import upsert as metrics_upsert
from core.metrics.schemas import MetricIn
from core.metrics.windows import day_start, today_in
from core.ports import AdPlatform, MetricRow, PlatformCampaign

# Days per metrics request in a long backfill: a request per day would multiply the calls.
CHUNK_DAYS = 7

DaysDone = Callable[[int], None]


@dataclass(frozen=True)
class SyncResult:
    campaigns: int
    days: int
    rows_received: int
    rows_written: int


def lookback(timezone: str, days: int, *, now: datetime | None = None) -> tuple[date, date]:
    """The last `days` days up to today, in the account's own timezone."""
    last = today_in(timezone, now)
    return last - timedelta(days=days - 1), last


def chunks(first: date, last: date, size: int = CHUNK_DAYS) -> Iterator[tuple[date, date]]:
    start = first
    while start <= last:
        end = min(start + timedelta(days=size - 1), last)
        yield start, end
        start = end + timedelta(days=1)


async def store_campaigns(
    *, database: Database, account: AccountRef, campaigns: Sequence[PlatformCampaign]
) -> dict[str, uuid.UUID]:
    """Insert new campaigns and refresh known ones; returns external id -> campaign id."""
    async with database.system() as session:
        known = {
            campaign.external_id: campaign
            for campaign in await session.scalars(
                select(Campaign).where(Campaign.ad_account_id == account.id)
            )
        }
        now = utcnow()
        for remote in campaigns:
            row = known.get(remote.external_id)
            if row is None:
                row = Campaign(
                    org_id=account.org_id,
                    ad_account_id=account.id,
                    platform=account.platform,
                    external_id=remote.external_id,
                    # What a rule's cumulative budget cap measures against, from first sight.
                    baseline_daily_budget=remote.daily_budget,
                    extra={},
                )
                session.add(row)
                known[remote.external_id] = row
            row.name = remote.name
            row.status = CampaignStatus(remote.status.lower())
            row.objective = remote.objective
            row.daily_budget = remote.daily_budget
            row.lifetime_budget = remote.lifetime_budget
            row.currency = remote.currency
            row.updated_at = now
        await session.flush()
        return {external_id: row.id for external_id, row in known.items() if external_id}


def metric_rows(
    rows: Sequence[MetricRow], ids: dict[str, uuid.UUID], account: AccountRef
) -> list[MetricIn]:
    """Daily platform rows as metric inputs; rows of campaigns we do not hold are skipped."""
    return [
        MetricIn(
            campaign_id=ids[row.campaign_external_id],
            platform=account.platform,
            recorded_at=day_start(row.day, account.timezone),
            org_id=account.org_id,
            impressions=row.impressions,
            clicks=row.clicks,
            spend=row.spend,
            conversions=row.conversions,
            conversion_value=row.conversion_value,
        )
        for row in rows
        if row.hour is None and row.campaign_external_id in ids
    ]


async def sync_account(
    *,
    database: Database,
    platform: AdPlatform,
    account: AccountRef,
    access_token: str,
    first: date,
    last: date,
    on_days: DaysDone | None = None,
) -> SyncResult:
    """Campaigns, then metrics chunk by chunk from `first` to `last`; safe to repeat.

    Platform errors (RateLimited, AuthExpired, ...) go up untouched: the caller decides
    whether to defer, refresh or give up. Chunks already stored stay stored.
    """
    campaigns = await platform.list_campaigns(account.external_id, access_token=access_token)
    ids = await store_campaigns(database=database, account=account, campaigns=campaigns)
    received = written = days = 0
    for start, end in chunks(first, last):
        rows = await platform.get_metrics(account.external_id, None, start, end, access_token)
        metrics = metric_rows(rows, ids, account)
        async with database.system() as session:
            result = await metrics_upsert.upsert(
                session=session, rows=metrics, org_id=account.org_id
            )
        received += result.received
        written += result.written
        span = (end - start).days + 1
        days += span
        if on_days is not None:
            on_days(span)
    return SyncResult(
        campaigns=len(campaigns), days=days, rows_received=received, rows_written=written
    )
