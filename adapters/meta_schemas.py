"""Meta Graph answers as typed rows: ad accounts, campaigns, tokens and insights rows.

Insights leave `actions` and `action_values` out when nothing happened, so those default to
empty; the identity of a row (campaign id, day, hour) and the account's currency are required.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from adapters.schemas import (
    Count,
    CurrencyCode,
    Figure,
    NonEmpty,
    PlatformId,
    PlatformRow,
)

# The first action type present counts as "conversions"; the kinds overlap, so never add them up.
CONVERSION_ACTIONS = (
    "omni_purchase",
    "purchase",
    "offsite_conversion.fb_pixel_purchase",
    "lead",
    "onsite_conversion.lead_grouped",
    "offsite_conversion.fb_pixel_lead",
    "complete_registration",
    "mobile_app_install",
)
# "00:00:00 - 00:59:59": the hour bucket of the hourly breakdown, in the account's timezone.
HourRange = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):00:00 - \d\d:59:59$")]


class Action(PlatformRow):
    action_type: NonEmpty
    value: Figure


class InsightsRow(PlatformRow):
    campaign_id: PlatformId
    date_start: date
    spend: Figure
    impressions: Count = 0
    clicks: Count = 0
    actions: list[Action] = Field(default_factory=list)
    action_values: list[Action] = Field(default_factory=list)

    def conversions(self) -> tuple[Decimal, Decimal]:
        """(count, value) of the first conversion kind present, by CONVERSION_ACTIONS order."""
        counts = {action.action_type: action.value for action in self.actions}
        values = {action.action_type: action.value for action in self.action_values}
        for action_type in CONVERSION_ACTIONS:
            if action_type in counts:
                return counts[action_type], values.get(action_type, Decimal(0))
        return Decimal(0), Decimal(0)


class HourlyInsightsRow(InsightsRow):
    hourly_stats_aggregated_by_advertiser_time_zone: HourRange

    @property
    def hour(self) -> int:
        return int(self.hourly_stats_aggregated_by_advertiser_time_zone[:2])


class AdAccount(PlatformRow):
    """An item of /me/adaccounts (fields account_id, name, currency, timezone_name)."""

    account_id: PlatformId
    name: str | None = None
    currency: CurrencyCode
    timezone_name: NonEmpty


class AccountCurrency(PlatformRow):
    """/act_<id>?fields=currency,timezone_name: where an account's money unit comes from."""

    currency: CurrencyCode


class Campaign(PlatformRow):
    id: PlatformId
    account_id: PlatformId | None = None
    name: str = ""
    status: str = ""
    objective: str | None = None
    daily_budget: Figure | None = None
    lifetime_budget: Figure | None = None


class TokenAnswer(PlatformRow):
    """/oauth/access_token: `expires_in` is absent for tokens that do not expire."""

    access_token: NonEmpty
    expires_in: int | None = None
