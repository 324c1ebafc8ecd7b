"""Bot fixtures: a seeded org (admin, manager, user), a fake ad platform, a Bot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pydantic_ai import models as ai_models

from bot.engine import Bot, TurnContext
from core.campaigns.models import Campaign
from core.config import Settings
from core.db import Database
from core.errors import PlatformNotFound
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
from core.users.models import Role
from tests import factories
from tests.core.approvals.fakes import platform_copy

# No test may reach a real model provider.
ai_models.ALLOW_MODEL_REQUESTS = False


@dataclass
class FakePlatform:
    """Implements core.ports.AdPlatform in memory and records every call."""

    name: str = "sandbox"
    calls: list[tuple[str, str]] = field(default_factory=list)
    # The platform's own copy of each campaign, read before an approved change executes.
    live: dict[str, PlatformCampaign] = field(default_factory=dict)

    def adopt(self, campaign: Campaign) -> None:
        live = platform_copy(campaign)
        self.live[live.external_id] = live

    def _record(self, campaign_id: str, **changes: object) -> None:
        if campaign_id in self.live:
            self.live[campaign_id] = self.live[campaign_id].model_copy(update=changes)

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        try:
            return self.live[campaign_id]
        except KeyError:
            raise PlatformNotFound(f"No campaign {campaign_id} on {self.name}.") from None

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        return f"https://example.test/auth?state={state}"

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet:
        return TokenSet(access_token="token")

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        return TokenSet(access_token="token")

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        return []

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        return []

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        self.calls.append(("create", draft.name))
        return PlatformCampaign(
            external_id="new-1", account_id=account_id, name=draft.name, status="ACTIVE"
        )

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        self.calls.append(("update", campaign_id))
        if changes.status is not None:
            self._record(campaign_id, status=changes.status)
        return MutationResult(external_id=campaign_id, status=changes.status)

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        self.calls.append(("pause", campaign_id))
        self._record(campaign_id, status="PAUSED")
        return MutationResult(external_id=campaign_id, status="PAUSED")

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        self.calls.append(("resume", campaign_id))
        self._record(campaign_id, status="ACTIVE")
        return MutationResult(external_id=campaign_id, status="ACTIVE")

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        self.calls.append(("budget", campaign_id))
        self._record(campaign_id, daily_budget=daily_budget)
        return MutationResult(external_id=campaign_id, daily_budget=daily_budget)

    async def get_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]:
        return []


@dataclass
class World:
    org_id: uuid.UUID
    admin_id: uuid.UUID
    manager_id: uuid.UUID
    user_id: uuid.UUID
    other_org_id: uuid.UUID
    other_admin_id: uuid.UUID
    campaign_ids: dict[str, uuid.UUID]

    def ctx(self, who: str = "admin", conversation: str = "conv-1") -> TurnContext:
        user_id = {"admin": self.admin_id, "manager": self.manager_id, "user": self.user_id}[who]
        return TurnContext(
            org_id=self.org_id,
            user_id=user_id,
            channel="console",
            workspace="",
            conversation_id=conversation,
        )

    def other_ctx(self) -> TurnContext:
        return TurnContext(
            org_id=self.other_org_id,
            user_id=self.other_admin_id,
            channel="console",
            workspace="",
            conversation_id="other",
        )


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def registry(platform: FakePlatform) -> PlatformRegistry:
    registry = PlatformRegistry()
    registry.register("sandbox", lambda: platform)
    return registry


@pytest.fixture
async def world(database: Database, platform: FakePlatform) -> World:
    """Org A: three sandbox campaigns with 14 days of metrics; org B: one look-alike campaign."""
    today = date.today()
    async with database.system() as session:
        org = await factories.org(session, name="Acme")
        admin = await factories.user(session, org, role=Role.ADMIN)
        manager = await factories.user(session, org, role=Role.MANAGER)
        plain = await factories.user(session, org, role=Role.USER)
        account = await factories.ad_account(session, org)
        ids: dict[str, uuid.UUID] = {}
        for name in ("Summer Sale", "Summer Shoes", "Winter Boots"):
            campaign = await factories.campaign(session, account, name=name)
            platform.adopt(campaign)
            ids[name] = campaign.id
            await factories.daily_metrics(
                session, campaign, first_day=today - timedelta(days=13), days=14
            )
        other = await factories.org(session, name="Rival")
        other_admin = await factories.user(session, other, role=Role.ADMIN)
        other_account = await factories.ad_account(session, other)
        rival = await factories.campaign(session, other_account, name="Rival Sale")
        platform.adopt(rival)
        ids["Rival Sale"] = rival.id
    return World(
        org_id=org.id,
        admin_id=admin.id,
        manager_id=manager.id,
        user_id=plain.id,
        other_org_id=other.id,
        other_admin_id=other_admin.id,
        campaign_ids=ids,
    )


@pytest.fixture
def bot(database: Database, registry: PlatformRegistry, settings: Settings) -> Bot:
    return Bot(database=database, registry=registry, settings=settings)
