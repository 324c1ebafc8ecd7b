"""50 approvers press the button at once on PostgreSQL: one wins, 49 learn who did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.audit.models import AuditLog
from core.campaigns.models import Campaign
from core.config import Settings
from core.db import Database
from core.errors import AlreadyDecided
from core.users.models import Role, User
from tests import factories
from tests.conftest import truncate_all
from tests.core.approvals.fakes import FakePlatform, registry_with

APPROVERS = 50


@pytest.fixture
async def pg_database(pg_url: str) -> AsyncIterator[Database]:
    """The app's own engines (RLS role, worker role) on the test PostgreSQL, committing."""
    db = Database(Settings(database_url=pg_url))
    try:
        yield db
    finally:
        await db.dispose()
        owner = create_async_engine(pg_url)
        await truncate_all(owner)
        await owner.dispose()


@pytest.mark.postgres
async def test_fifty_concurrent_approvals_have_one_winner(pg_database: Database) -> None:
    async with pg_database.system() as session:
        org = await factories.org(session)
        account = await factories.ad_account(session, org)
        campaign = await factories.campaign(session, account, daily_budget=Decimal("50"))
        approvers = [
            await factories.user(session, org, role=Role.MANAGER) for _ in range(APPROVERS)
        ]
        action = await service.propose(
            session=session,
            org_id=org.id,
            kind="set_budget",
            arguments={"campaign_id": str(campaign.id), "daily_budget": "70"},
            summary="Budget 50 -> 70",
        )
        org_id, code, action_id = org.id, action.short_code, action.id
        emails = {approver.id: approver.email for approver in approvers}

    # No row lock is held across the platform call: the winner commits its claim first. A slow
    # platform keeps the winner mid-execution (status `approved`) while the others arrive, so
    # they lose on the claim's `status = pending` condition and must name the winner.
    platform = FakePlatform(name="sandbox", delay=0.05)
    platform.adopt(campaign)
    registry = registry_with(platform)
    start = asyncio.Event()

    async def approve(user_id: uuid.UUID) -> uuid.UUID | AlreadyDecided:
        await start.wait()
        try:
            async with pg_database.tenant(org_id) as session:
                user = await session.get(User, user_id)
                assert user is not None
                await flows.decide(
                    session=session,
                    org_id=org_id,
                    action_ref=code,
                    user=user,
                    approve=True,
                    channel="slack",
                    registry=registry,
                )
        except AlreadyDecided as lost:
            return lost
        return user_id

    tasks = [asyncio.create_task(approve(user_id)) for user_id in emails]
    start.set()
    outcomes = await asyncio.gather(*tasks)

    winners = [outcome for outcome in outcomes if isinstance(outcome, uuid.UUID)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, AlreadyDecided)]
    assert len(winners) == 1
    assert len(losers) == APPROVERS - 1
    winner_email = emails[winners[0]]
    assert all(f"already approved by {winner_email} at " in lost.message for lost in losers)
    assert len(platform.calls) == 1

    async with pg_database.tenant(org_id) as session:
        stored = await session.get(PendingAction, action_id)
        assert stored is not None
        assert stored.status is ActionStatus.EXECUTED
        assert stored.decided_by == winners[0]
        updated = await session.get(Campaign, campaign.id)
        assert updated is not None
        assert updated.daily_budget == Decimal("70")
        approvals = await session.scalar(
            select(func.count()).where(
                AuditLog.resource_id == str(action_id), AuditLog.action == "approval.approved"
            )
        )
        assert approvals == 1


async def test_concurrent_approve_and_reject_decide_once_on_both_backends(
    database: Database,
) -> None:
    """The embedded SQLite path too: mixed approvals and rejections, one decision stands."""
    async with database.system() as session:
        org = await factories.org(session)
        account = await factories.ad_account(session, org)
        campaign = await factories.campaign(session, account)
        deciders = [await factories.user(session, org, role=Role.ADMIN) for _ in range(10)]
        action = await service.propose(
            session=session,
            org_id=org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="Pause it",
        )
        org_id, code = org.id, action.short_code
        user_ids = [decider.id for decider in deciders]
    platform = FakePlatform(name="sandbox", delay=0.02)
    platform.adopt(campaign)
    registry = registry_with(platform)

    async def decide(index: int, user_id: uuid.UUID) -> str:
        try:
            async with database.tenant(org_id) as session:
                user = await session.get(User, user_id)
                assert user is not None
                result = await flows.decide(
                    session=session,
                    org_id=org_id,
                    action_ref=code,
                    user=user,
                    approve=index % 2 == 0,
                    channel="slack",
                    registry=registry,
                )
        except AlreadyDecided:
            return "lost"
        return result.status.value

    outcomes = await asyncio.gather(*(decide(i, uid) for i, uid in enumerate(user_ids)))
    decided = [outcome for outcome in outcomes if outcome != "lost"]
    assert len(decided) == 1
    assert decided[0] in {"executed", "rejected"}
    assert len(platform.calls) == (1 if decided[0] == "executed" else 0)


@pytest.mark.postgres
async def test_row_level_security_hides_another_orgs_action(pg_database: Database) -> None:
    async with pg_database.system() as session:
        org = await factories.org(session)
        other = await factories.org(session)
        campaign = await factories.campaign(session, await factories.ad_account(session, org))
        action = await service.propose(
            session=session,
            org_id=org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="Pause it",
        )
        action_id, other_id = action.id, other.id
    async with pg_database.tenant(other_id) as session:
        # Even a query that forgets the org filter sees nothing of the other tenant.
        assert (
            await session.scalar(select(PendingAction).where(PendingAction.id == action_id)) is None
        )
