"""Report exports: per campaign per day figures over the last N days, and their CSV."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.campaigns.models import Campaign
from core.errors import ValidationFailed
from core.metrics import service as metrics
from core.metrics.kpis import Totals
from core.metrics.windows import WindowSpec, today_in
from core.orgs import service as orgs

MAX_EXPORT_DAYS = 366
CSV_COLUMNS = [
    "date",
    "campaign_id",
    "campaign",
    "platform",
    "currency",
    "impressions",
    "clicks",
    "spend",
    "conversions",
    "conversion_value",
    "ctr_percent",
    "cpc",
    "cpa",
    "roas",
]
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CampaignDay:
    day: date
    campaign_id: str
    campaign: str
    platform: str
    currency: str
    totals: Totals


@dataclass(frozen=True)
class ExportData:
    org_slug: str
    currency: str
    first_day: date
    last_day: date
    rows: list[CampaignDay]

    def spend_by_day(self) -> list[tuple[date, Decimal]]:
        """Org-wide spend per day, every day of the window (for the chart)."""
        spend: dict[date, Decimal] = {}
        for row in self.rows:
            spend[row.day] = spend.get(row.day, Decimal(0)) + row.totals.spend
        days = (self.last_day - self.first_day).days + 1
        return [
            (day, spend.get(day, Decimal(0)))
            for day in (self.first_day + timedelta(days=n) for n in range(days))
        ]


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_EXPORT_DAYS:
        raise ValidationFailed(
            f"An export covers 1 to {MAX_EXPORT_DAYS} days, not {days}.", field="days"
        )
    return days


async def campaign_days(
    *, session: AsyncSession, org_id: uuid.UUID, days: int, now: datetime | None = None
) -> ExportData:
    """The last `days` days up to today (org's timezone), one row per campaign per day."""
    check_days(days)
    org = await orgs.get(session=session, org_id=org_id)
    last = today_in(org.timezone, now)
    first = last - timedelta(days=days - 1)
    points = await metrics.series(
        session=session,
        org_id=org_id,
        window=WindowSpec(name="custom", start=first, end=last),
        group_by="campaign",
    )
    campaigns = {
        str(campaign_id): (platform, currency)
        for campaign_id, platform, currency in await session.execute(
            select(Campaign.id, Campaign.platform, Campaign.currency).where(
                Campaign.org_id == org_id
            )
        )
    }
    rows = [
        CampaignDay(
            day=point.day,
            campaign_id=point.key,
            campaign=point.label,
            platform=campaigns.get(point.key, ("", org.currency))[0],
            currency=campaigns.get(point.key, ("", org.currency))[1],
            totals=point.totals,
        )
        for point in points
    ]
    rows.sort(key=lambda row: (row.day, row.campaign, row.campaign_id))
    return ExportData(
        org_slug=org.slug, currency=org.currency, first_day=first, last_day=last, rows=rows
    )


def _safe_cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _decimal(value: Decimal | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def to_csv(data: ExportData) -> bytes:
    """UTF-8 CSV with a header row; money to cents, ratios to 4 places, empty when undefined."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in data.rows:
        t = row.totals
        writer.writerow(
            [
                row.day.isoformat(),
                row.campaign_id,
                _safe_cell(row.campaign),
                row.platform,
                row.currency,
                t.impressions,
                t.clicks,
                _decimal(t.spend, 2),
                _decimal(t.conversions, 2),
                _decimal(t.conversion_value, 2),
                _decimal(t.ctr, 4),
                _decimal(t.cpc, 4),
                _decimal(t.cpa, 4),
                _decimal(t.roas, 4),
            ]
        )
    return buffer.getvalue().encode("utf-8")
