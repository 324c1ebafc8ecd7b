"""No transaction is held across the platform call: the claim is committed before it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from core.errors import Conflict, PlatformError
from core.ports import MutationResult
from core.users.models import Role, User
from tests import factories
from tests.core.approvals.fakes import FakePlatform, registry_with


@dataclass
class WritingPlatform(FakePlatform):
    """Like the sandbox: the platform writes to the same database from its own connection."""

    database: Database | None = None
    seen_status: str | None = None

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        assert self.database is not None
        async with self.database.system() as session:
            # On SQLite this write would wait for the decider's write lock and fail with
            # "database is locked" if the decider still held its transaction.
            await session.execute(text("DELETE FROM processed_events WHERE channel = 'none'"))
            self.seen_status = await session.scalar(
                select(PendingAction.status).where(PendingAction.arguments_hash != "")
            )
        return await super().pause_campaign(account_id, campaign_id, access_token=access_token)


async def test_claim_is_committed_before_the_platform_is_called(database: Database) -> None:
    async with database.system() as session:
        org = await factories.org(session)
        manager = await factories.user(session, org, role=Role.MANAGER)
        account = await factories.ad_account(session, org, platform="fake")
        campaign = await factories.campaign(session, account, daily_budget=Decimal("50"))
        action = await service.propose(
            session=session,
            org_id=org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="Pause",
        )
        org_id, code, manager_id, campaign_id = org.id, action.short_code, manager.id, campaign.id

    platform = WritingPlatform(database=database)
    platform.adopt(campaign)
    async with database.tenant(org_id) as session:
        user = await session.get(User, manager_id)
        assert user is not None
        result = await flows.decide(
            session=session,
            org_id=org_id,
            action_ref=code,
            user=user,
            approve=True,
            channel="console",
            registry=registry_with(platform, "fake"),
        )
        assert result.status is ActionStatus.EXECUTED
    assert platform.seen_status == ActionStatus.APPROVED.value
    async with database.tenant(org_id) as session:
        stored = await session.scalar(select(PendingAction).where(PendingAction.short_code == code))
        assert stored is not None
        assert stored.status is ActionStatus.EXECUTED
        paused = await session.get(Campaign, campaign_id)
        assert paused is not None
        assert paused.status is CampaignStatus.PAUSED


@dataclass
class GatedPlatform(FakePlatform):
    """Holds the first budget change at the platform until the test releases it."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        if not self.entered.is_set():
            self.entered.set()
            await self.release.wait()
        return await super().update_budget(
            account_id, campaign_id, daily_budget, access_token=access_token
        )


async def test_two_approved_changes_to_one_campaign_cannot_both_run(database: Database) -> None:
    """While one change is at the platform, a second approval on that campaign is refused."""
    async with database.system() as session:
        org = await factories.org(session)
        managers = [await factories.user(session, org, role=Role.MANAGER) for _ in range(2)]
        account = await factories.ad_account(session, org, platform="fake")
        campaign = await factories.campaign(session, account, daily_budget=Decimal("100"))
        codes = []
        # Together +40.50 of the window's +50: both cards may stand open at once.
        for budget in ("120", "120.5"):
            action = await service.propose(
                session=session,
                org_id=org.id,
                kind="set_budget",
                arguments={"campaign_id": str(campaign.id), "daily_budget": budget},
                summary=f"Budget 100 -> {budget}",
            )
            codes.append(action.short_code)
        org_id, campaign_id = org.id, campaign.id
        manager_ids = [manager.id for manager in managers]

    platform = GatedPlatform()
    platform.adopt(campaign)
    registry = registry_with(platform, "fake")

    async def approve(code: str, manager_id: object) -> object:
        async with database.tenant(org_id) as session:
            user = await session.get(User, manager_id)
            assert user is not None
            try:
                return await flows.decide(
                    session=session,
                    org_id=org_id,
                    action_ref=code,
                    user=user,
                    approve=True,
                    channel="slack",
                    registry=registry,
                )
            except Conflict as exc:
                return exc

    first = asyncio.create_task(approve(codes[0], manager_ids[0]))
    await platform.entered.wait()  # the first change is now at the platform
    second = await approve(codes[1], manager_ids[1])
    platform.release.set()
    result = await first
    assert isinstance(second, Conflict)
    assert "being executed" in second.message
    assert [call.budget for call in platform.calls] == [Decimal("120")]
    assert getattr(result, "status", None) is ActionStatus.EXECUTED
    async with database.tenant(org_id) as session:
        stored = await session.get(Campaign, campaign_id)
        assert stored is not None
        assert stored.daily_budget == Decimal("120")


@dataclass
class ArchivingPlatform(FakePlatform):
    """While the pause is at the platform, someone archives the campaign in AdPilot."""

    database: Database | None = None
    org_id: object = None

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        assert self.database is not None
        async with self.database.system() as session:
            await session.execute(
                text("UPDATE campaigns SET status = 'archived' WHERE external_id = :id"),
                {"id": campaign_id},
            )
        return await super().pause_campaign(account_id, campaign_id, access_token=access_token)


async def test_a_failure_to_record_keeps_the_platform_answer(database: Database) -> None:
    async with database.system() as session:
        org = await factories.org(session)
        manager = await factories.user(session, org, role=Role.MANAGER)
        account = await factories.ad_account(session, org, platform="fake")
        campaign = await factories.campaign(session, account)
        action = await service.propose(
            session=session,
            org_id=org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="Pause",
        )
        org_id, code, manager_id = org.id, action.short_code, manager.id

    platform = ArchivingPlatform(database=database)
    platform.adopt(campaign)
    async with database.tenant(org_id) as session:
        user = await session.get(User, manager_id)
        assert user is not None
        with pytest.raises(PlatformError, match="recording it failed"):
            await flows.decide(
                session=session,
                org_id=org_id,
                action_ref=code,
                user=user,
                approve=True,
                channel="slack",
                registry=registry_with(platform, "fake"),
            )
    async with database.tenant(org_id) as session:
        stored = await session.scalar(select(PendingAction).where(PendingAction.short_code == code))
        assert stored is not None
        assert stored.status is ActionStatus.FAILED
        assert stored.result is not None
        assert stored.result["reason"] == "record"
        assert stored.result["platform"]["status"] == "PAUSED"
