"""A fake ad platform implementing core.ports.AdPlatform, recording every call it gets.

It keeps its own copy of each campaign it was told about (`adopt`), changed only by its own
mutations, so a test can change the platform "behind our back" (`live[...]`) and see the
executor notice; a campaign it never heard of is PlatformNotFound, as on a real platform.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.campaigns.models import Campaign, CampaignStatus
from core.errors import PlatformError, PlatformNotFound
from core.ports import (
    CampaignChanges,
    CampaignDraft,
    MetricRow,
    MutationResult,
    PlatformAccount,
    PlatformCampaign,
    PlatformRegistry,
    TokenSet,
)


@dataclass
class Call:
    method: str
    account_id: str
    campaign_id: str | None
    access_token: str
    budget: Decimal | None = None
    status: str | None = None


def platform_copy(campaign: Campaign) -> PlatformCampaign:
    """The platform's view of one of our campaigns, as a sync would have left it."""
    assert campaign.external_id is not None
    return PlatformCampaign(
        external_id=campaign.external_id,
        account_id="",
        name=campaign.name,
        status=CampaignStatus(campaign.status).value.upper(),
        daily_budget=campaign.daily_budget,
    )


@dataclass
class FakePlatform:
    """In-memory platform; set `fail_with` to make the next mutations raise it."""

    name: str = "fake"
    calls: list[Call] = field(default_factory=list)
    fail_with: Exception | None = None
    delay: float = 0.0
    created: int = 0
    live: dict[str, PlatformCampaign] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def adopt(self, *campaigns: Campaign) -> None:
        """Put our campaigns on the platform as they are now (what a sync would have seen)."""
        for campaign in campaigns:
            live = platform_copy(campaign)
            self.live[live.external_id] = live

    def change_behind_our_back(self, external_id: str, **changes: object) -> None:
        """What someone in the platform's own UI (or another tool) did since our last sync."""
        self.live[external_id] = self.live[external_id].model_copy(update=changes)

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        self.reads.append(campaign_id)
        try:
            return self.live[campaign_id]
        except KeyError:
            raise PlatformNotFound(f"No campaign {campaign_id} on {self.name}.") from None

    def _record(self, campaign_id: str, **changes: object) -> None:
        if campaign_id in self.live:
            self.live[campaign_id] = self.live[campaign_id].model_copy(update=changes)

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        return f"https://fake.example/auth?state={state}&redirect_uri={redirect_uri}"

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet:
        return TokenSet(access_token=f"token-{code}")

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        return TokenSet(access_token=f"refreshed-{refresh_token}")

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        return []

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        return []

    async def _mutate(self, call: Call) -> None:
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        await self._mutate(
            Call("create_campaign", account_id, None, access_token, status=draft.status)
        )
        self.created += 1
        return PlatformCampaign(
            external_id=f"new-{self.created}",
            account_id=account_id,
            name=draft.name,
            status=draft.status,
            daily_budget=draft.daily_budget,
        )

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        call = Call("update_campaign", account_id, campaign_id, access_token, status=changes.status)
        await self._mutate(call)
        if changes.status is not None:
            self._record(campaign_id, status=changes.status)
        return MutationResult(
            external_id=campaign_id, status=changes.status, raw={"id": campaign_id, "success": True}
        )

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._mutate(Call("pause_campaign", account_id, campaign_id, access_token))
        self._record(campaign_id, status="PAUSED")
        return MutationResult(external_id=campaign_id, status="PAUSED", raw={"success": True})

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._mutate(Call("resume_campaign", account_id, campaign_id, access_token))
        self._record(campaign_id, status="ACTIVE")
        return MutationResult(external_id=campaign_id, status="ACTIVE", raw={"success": True})

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        call = Call("update_budget", account_id, campaign_id, access_token, budget=daily_budget)
        await self._mutate(call)
        self._record(campaign_id, daily_budget=daily_budget)
        return MutationResult(
            external_id=campaign_id,
            daily_budget=daily_budget,
            raw={"success": True, "daily_budget": str(daily_budget)},
        )

    async def get_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]:
        return []


def registry_with(platform: FakePlatform, *names: str) -> PlatformRegistry:
    """A registry that hands out `platform` under each name (default: sandbox)."""
    registry = PlatformRegistry()
    for name in names or ("sandbox",):
        registry.register(name, lambda: platform)
    return registry


class Boom(Exception):
    """An unexpected, untyped failure deep inside an adapter."""


__all__ = ["Boom", "Call", "FakePlatform", "PlatformError", "registry_with"]
