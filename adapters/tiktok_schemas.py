"""TikTok Business API v1.3 answers as typed rows: advertisers, tokens and report rows.

Report metrics arrive as strings; TikTok writes "-" where a figure has no data (no event of that
kind was tracked, or the metric does not apply to the campaign's objective). The figures we keep
are additive counts and sums, so "no data" adds nothing: "-" reads as 0, and the report does not
fail. Ratios (CTR, CPA, ROAS) are always recomputed from the sums, never read from TikTok.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field

from adapters.schemas import (
    CurrencyCode,
    Figure,
    NonEmpty,
    PlatformId,
    PlatformRow,
    parse_count,
    parse_figure,
)

NO_DATA = "-"
# Purchase value of the two event sources TikTok reports on (names from the v1.3 metric list;
# see docs/decisions.md): web pixel "Complete Payment" and in-app "Purchase". They count
# different events, so their sum is the campaign's purchase value.
WEB_PURCHASE_VALUE = "total_complete_payment_rate"
APP_PURCHASE_VALUE = "total_purchase_value"
REPORT_METRICS = [
    "spend",
    "impressions",
    "clicks",
    "conversion",
    WEB_PURCHASE_VALUE,
    APP_PURCHASE_VALUE,
]
_STAMP = "%Y-%m-%d %H:%M:%S"


def _tiktok_figure(value: object) -> Decimal:
    return Decimal(0) if value == NO_DATA else parse_figure(value)


def _tiktok_count(value: object) -> int:
    return 0 if value == NO_DATA else parse_count(value)


def _stamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("expected 'YYYY-MM-DD HH:MM:SS'")
    try:
        return datetime.strptime(value, _STAMP)
    except ValueError:
        raise ValueError("expected 'YYYY-MM-DD HH:MM:SS'") from None


TikTokFigure = Annotated[Decimal, BeforeValidator(_tiktok_figure)]
TikTokCount = Annotated[int, BeforeValidator(_tiktok_count)]
Stamp = Annotated[datetime, BeforeValidator(_stamp)]


class ReportMetrics(PlatformRow):
    """Every metric we request comes back in every row; a missing one is a renamed metric."""

    spend: TikTokFigure
    impressions: TikTokCount
    clicks: TikTokCount
    conversion: TikTokFigure
    total_complete_payment_rate: TikTokFigure
    total_purchase_value: TikTokFigure

    @property
    def purchase_value(self) -> Decimal:
        return self.total_complete_payment_rate + self.total_purchase_value


class DailyDimensions(PlatformRow):
    campaign_id: PlatformId
    stat_time_day: Stamp


class HourlyDimensions(PlatformRow):
    campaign_id: PlatformId
    stat_time_hour: Stamp


class DailyReportRow(PlatformRow):
    dimensions: DailyDimensions
    metrics: ReportMetrics


class HourlyReportRow(PlatformRow):
    dimensions: HourlyDimensions
    metrics: ReportMetrics


class AdvertiserInfo(PlatformRow):
    """/advertiser/info/: the account's currency and timezone are required, never assumed."""

    advertiser_id: PlatformId
    name: str | None = None
    currency: CurrencyCode
    timezone: NonEmpty


class AuthorizedAdvertiser(PlatformRow):
    """One item of /oauth2/advertiser/get/."""

    advertiser_id: PlatformId


class Campaign(PlatformRow):
    """An item of /campaign/get/; `budget` is in the advertiser currency's major unit."""

    campaign_id: PlatformId
    campaign_name: str = ""
    operation_status: str = ""
    objective_type: str | None = None
    budget: Figure | None = None
    budget_mode: str | None = None


class AccessTokenData(PlatformRow):
    """The `data` of /oauth2/access_token/."""

    access_token: NonEmpty
    scope: list[int | str] = Field(default_factory=list)
