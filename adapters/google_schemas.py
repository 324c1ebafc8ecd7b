"""Google Ads REST answers as typed rows: customers, campaigns, metric rows and OAuth tokens.

The JSON mapping of proto3 leaves zero-valued fields out, so every figure defaults to 0; the
identity of a row (campaign id, date, hour) and the customer's currency are required.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from adapters.schemas import Count, CurrencyCode, Figure, NonEmpty, PlatformId, PlatformRow

Hour = Annotated[int, Field(ge=0, le=23)]


class Customer(PlatformRow):
    """`customer` as selected with `customer.currency_code` (and more for account listing)."""

    currency_code: CurrencyCode = Field(alias="currencyCode")


class CustomerInfo(Customer):
    id: PlatformId
    descriptive_name: str | None = Field(default=None, alias="descriptiveName")
    time_zone: NonEmpty = Field(alias="timeZone")
    manager: bool = False


class CustomerRow(PlatformRow):
    customer: CustomerInfo


class CampaignRef(PlatformRow):
    id: PlatformId


class Segments(PlatformRow):
    date: date


class HourlySegments(Segments):
    hour: Hour


class Metrics(PlatformRow):
    cost_micros: Figure = Field(default=Decimal(0), alias="costMicros")
    clicks: Count = 0
    impressions: Count = 0
    conversions: Figure = Decimal(0)
    conversions_value: Figure = Field(default=Decimal(0), alias="conversionsValue")


class MetricRow(PlatformRow):
    customer: Customer
    campaign: CampaignRef
    segments: Segments
    metrics: Metrics = Field(default_factory=Metrics)


class HourlyMetricRow(MetricRow):
    segments: HourlySegments


class Campaign(PlatformRow):
    id: PlatformId
    name: str = ""
    status: str = ""
    advertising_channel_type: str | None = Field(default=None, alias="advertisingChannelType")
    campaign_budget: str | None = Field(default=None, alias="campaignBudget")


class CampaignBudget(PlatformRow):
    amount_micros: Figure | None = Field(default=None, alias="amountMicros")


class CampaignRow(PlatformRow):
    customer: Customer
    campaign: Campaign
    campaign_budget: CampaignBudget = Field(default_factory=CampaignBudget, alias="campaignBudget")


class TokenAnswer(PlatformRow):
    access_token: NonEmpty
    refresh_token: str | None = None
    expires_in: int | None = None
    scope: str = ""
