"""The AdPlatform port: what core needs from an ad platform, and the registry that finds one.

Core executes approved actions through this protocol without importing `adapters/`; the
composition roots register the concrete adapters (see `adapters.registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.errors import NotFound

PlatformStatus = Literal["ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "PENDING_REVIEW"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class TokenSet(_Frozen):
    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: list[str] = Field(default_factory=list)


class PlatformAccount(_Frozen):
    # No defaults: an account's currency and timezone come from the platform, never assumed.
    external_id: str
    name: str
    currency: str
    timezone: str


class PlatformCampaign(_Frozen):
    external_id: str
    account_id: str
    name: str
    status: PlatformStatus
    objective: str | None = None
    daily_budget: Decimal | None = None
    lifetime_budget: Decimal | None = None
    currency: str = "USD"


class CampaignDraft(_Frozen):
    name: str
    objective: str | None = None
    daily_budget: Decimal | None = None
    status: PlatformStatus = "PAUSED"


class CampaignChanges(_Frozen):
    name: str | None = None
    status: PlatformStatus | None = None
    daily_budget: Decimal | None = None


class MetricRow(_Frozen):
    """One campaign's figures for one day (in the account's timezone) or one hour."""

    campaign_external_id: str
    day: date
    hour: int | None = None
    impressions: int = 0
    clicks: int = 0
    spend: Decimal = Decimal(0)
    conversions: Decimal = Decimal(0)
    conversion_value: Decimal = Decimal(0)
    currency: str  # the account's; no default, so no adapter can forget it


class MutationResult(_Frozen):
    """What the platform answered to a change; stored on the executed action."""

    external_id: str
    status: PlatformStatus | None = None
    daily_budget: Decimal | None = None
    raw: dict[str, object] = Field(default_factory=dict)


@runtime_checkable
class AdPlatform(Protocol):
    """One ad platform. Money is Decimal in the account currency's major unit throughout."""

    name: str

    def authorization_url(self, *, state: str, redirect_uri: str) -> str: ...

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet: ...

    async def refresh_token(self, *, refresh_token: str) -> TokenSet: ...

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]: ...

    async def list_campaigns(
        self, account_id: str, *, access_token: str
    ) -> list[PlatformCampaign]: ...

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        """The campaign as the platform has it now (PlatformNotFound when it is not there)."""
        ...

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign: ...

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult: ...

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult: ...

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult: ...

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult: ...

    async def get_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]: ...


AdapterFactory = Callable[[], AdPlatform]


class PlatformRegistry:
    """Platform name -> adapter factory. Filled by a composition root, read by core."""

    def __init__(self) -> None:
        self._factories: dict[str, AdapterFactory] = {}

    def register(self, name: str, factory: AdapterFactory) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: str) -> AdPlatform:
        try:
            factory = self._factories[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise NotFound(f"Unknown ad platform {name!r} (known: {known}).") from None
        return factory()


@runtime_checkable
class HourlyMetricsSource(Protocol):
    """Optional extra an AdPlatform may offer: rows per hour (MetricRow.hour 0-23, account tz)."""

    async def get_hourly_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]: ...


class RevokeAnswer(StrEnum):
    """What a platform said to "revoke this grant"."""

    REVOKED = "revoked"
    # The platform no longer knew the token (expired, revoked by the user, or never valid).
    ALREADY_INVALID = "already_invalid"


@runtime_checkable
class TokenRevoker(Protocol):
    """Optional extra an AdPlatform may offer: end the grant at the platform itself.

    Raises a PlatformError when the platform could not be asked or refused for another
    reason; one attempt, no retries (the caller bounds it with a short timeout).
    """

    async def revoke_tokens(self, tokens: TokenSet) -> RevokeAnswer: ...
