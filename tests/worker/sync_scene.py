"""What the sync and token-refresh tests share: a connected account and a fake platform."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool

from channels.turns import dump_job, load_job
from core.accounts.models import AdAccount
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.errors import AuthExpired
from core.orgs.models import Organization
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
from core.security import crypto
from core.users.models import ChannelIdentity, Role
from tests import factories


@dataclass
class FakePlatform:
    """The AdPlatform protocol with two campaigns and a metric row per campaign and day.

    `failure` is raised by every read; `refresh_failure` by refresh_token. `gate`, when set,
    holds list_campaigns and the first refresh_token until released, so tests can overlap calls.
    """

    name: str = "meta"
    failure: Exception | None = None
    refresh_failure: Exception | None = None
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    peak: int = 0
    reads: int = 0
    refreshes: list[str] = field(default_factory=list)
    tokens_seen: list[str] = field(default_factory=list)

    async def _hold(self) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        return redirect_uri

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet:
        raise NotImplementedError

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        self.refreshes.append(refresh_token)
        if len(self.refreshes) == 1:  # only the first call waits: a second one shows at once
            await self._hold()
        if self.refresh_failure is not None:
            raise self.refresh_failure
        return TokenSet(
            access_token=f"fresh-{len(self.refreshes)}",
            expires_at=utcnow() + timedelta(days=60),
        )

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        raise NotImplementedError

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        self.tokens_seen.append(access_token)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            # Every job yields here, so jobs running together really overlap.
            await asyncio.sleep(0.02)
            await self._hold()
            self.reads += 1
            if self.failure is not None:
                raise self.failure
            return [
                PlatformCampaign(
                    external_id=f"{account_id}-{n}",
                    account_id=account_id,
                    name=f"Campaign {n}",
                    status="ACTIVE",
                    daily_budget=Decimal("25.50"),
                )
                for n in (1, 2)
            ]
        finally:
            self.in_flight -= 1

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        raise NotImplementedError

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        raise NotImplementedError

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        raise NotImplementedError

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        raise NotImplementedError

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        raise NotImplementedError

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        raise NotImplementedError

    async def get_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]:
        days = [start_date + timedelta(days=n) for n in range((end_date - start_date).days + 1)]
        return [
            MetricRow(
                campaign_external_id=f"{account_id}-{n}",
                day=day,
                impressions=1000 * n,
                clicks=10 * n,
                spend=Decimal("12.34") * n,
                conversions=Decimal(n),
                currency="USD",
            )
            for day in days
            for n in (1, 2)
        ]


def registry_of(platform: FakePlatform) -> PlatformRegistry:
    registry = PlatformRegistry()
    registry.register(platform.name, lambda: platform)
    return registry


@dataclass(frozen=True)
class Scene:
    org_id: uuid.UUID
    account_id: uuid.UUID
    admin_chat: str


async def connected_account(
    database: Database,
    *,
    platform: str = "meta",
    access_token: str = "EAAB-old-token",
    refresh_token: str | None = None,
    expires_at: datetime | None = None,
) -> Scene:
    """An org with an admin reachable on Telegram and one connected ad account."""
    async with database.system() as session:
        organization = await factories.org(session)
        admin = await factories.user(session, organization, role=Role.ADMIN)
        await factories.user(session, organization, role=Role.USER)
        chat = str(700_000_000 + uuid.uuid4().int % 1_000_000)
        session.add(
            ChannelIdentity(
                org_id=organization.id, user_id=admin.id, channel="telegram", external_user_id=chat
            )
        )
        account = await factories.ad_account(session, organization, platform=platform)
        account.access_token_encrypted = crypto.encrypt(access_token)
        account.refresh_token_encrypted = crypto.encrypt_optional(refresh_token)
        account.token_expires_at = expires_at
        await session.flush()
        return Scene(org_id=organization.id, account_id=account.id, admin_chat=chat)


async def add_account(database: Database, org_id: uuid.UUID, platform: str = "meta") -> uuid.UUID:
    async with database.system() as session:
        organization = await session.get(Organization, org_id)
        assert organization is not None
        account = await factories.ad_account(session, organization, platform=platform)
        account.access_token_encrypted = crypto.encrypt("EAAB-token")
        await session.flush()
        return account.id


async def account_row(database: Database, account_id: uuid.UUID) -> AdAccount:
    async with database.system() as session:
        account = await session.get(AdAccount, account_id)
        assert account is not None
        return account


@asynccontextmanager
async def arq_pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        RedisSettings.from_dsn(redis_url), job_serializer=dump_job, job_deserializer=load_job
    )
    try:
        yield pool
    finally:
        await pool.aclose()


def job_ctx(
    database: Database, settings: Settings, platform: FakePlatform, redis: ArqRedis, tries: int = 1
) -> dict[str, Any]:
    return {
        "database": database,
        "settings": settings,
        "registry": registry_of(platform),
        "redis": redis,
        "job_try": tries,
    }


def refused() -> AuthExpired:
    return AuthExpired("Meta error 190/463: Error validating access token: Session has expired.")
