"""No transaction is held across the platform call: the claim is committed before it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, text

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
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
