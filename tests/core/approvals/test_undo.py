"""undo(): the inverse as a new pending action, inside the window, under the same policy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.base import utcnow
from core.campaigns.models import CampaignStatus
from core.errors import Conflict, PermissionDenied, StaleApproval
from core.ports import PlatformRegistry
from core.users.models import User
from tests import factories
from tests.core.approvals.conftest import World, build_world
from tests.core.approvals.fakes import FakePlatform


async def _executed(
    session: AsyncSession, world: World, registry: PlatformRegistry, budget: str
) -> PendingAction:
    action = await service.propose(
        session=session,
        org_id=world.org.id,
        kind="set_budget",
        arguments={"campaign_id": str(world.campaign.id), "daily_budget": budget},
        summary=f"budget to {budget}",
        requested_by=world.member,
    )
    result = await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=action.short_code,
        user=world.manager,
        approve=True,
        channel="slack",
        registry=registry,
    )
    assert result.executed
    return result.action


async def _undo(session: AsyncSession, world: World, ref: str, user: User) -> PendingAction:
    return await flows.undo(
        session=session, org_id=world.org.id, action_ref=ref, user=user, channel="telegram"
    )


async def test_undo_proposes_the_inverse_and_restores_on_approval(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    done = await _executed(session, world, registry, "70")
    undo_action = await _undo(session, world, done.short_code, world.member)
    assert undo_action.status is ActionStatus.PENDING
    assert undo_action.undo_of == done.id
    assert undo_action.kind == "set_budget"
    assert undo_action.arguments["daily_budget"] == "50"
    assert undo_action.before_state == {"status": "active", "daily_budget": "70"}
    assert undo_action.origin_channel == "telegram"
    with pytest.raises(PermissionDenied):  # the undo needs an approver like anything else
        await flows.decide(
            session=session,
            org_id=world.org.id,
            action_ref=undo_action.short_code,
            user=world.member,
            approve=True,
            channel="telegram",
            registry=registry,
        )
    await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=undo_action.short_code,
        user=world.manager,
        approve=True,
        channel="telegram",
        registry=registry,
    )
    await session.refresh(world.campaign)
    assert world.campaign.daily_budget == Decimal("50")
    assert [call.budget for call in platform.calls] == [Decimal("70"), Decimal("50")]


async def test_undo_of_pause_resumes(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    action = await service.propose(
        session=session,
        org_id=world.org.id,
        kind="pause_campaign",
        arguments={"campaign_id": str(world.campaign.id)},
        summary="pause",
    )
    await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=action.id,
        user=world.admin,
        approve=True,
        channel="web",
        registry=registry,
    )
    undo_action = await _undo(session, world, action.short_code, world.admin)
    assert (undo_action.kind, undo_action.before_state["status"]) == ("resume_campaign", "paused")
    await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=undo_action.id,
        # A resume restarts spend: whoever asked for the undo needs someone else to approve.
        user=world.admin2,
        approve=True,
        channel="web",
        registry=registry,
    )
    await session.refresh(world.campaign)
    assert world.campaign.status == CampaignStatus.ACTIVE


async def test_undo_restores_past_the_percent_guardrail(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    done = await _executed(session, world, registry, "25")  # -50%: allowed
    undo_action = await _undo(session, world, done.short_code, world.member)  # +100% back
    assert undo_action.arguments["daily_budget"] == "50"


async def test_undo_window_closes_after_24_hours(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    done = await _executed(session, world, registry, "60")
    await session.execute(
        update(PendingAction)
        .where(PendingAction.id == done.id)
        .values(executed_at=utcnow() - timedelta(hours=24, minutes=1))
    )
    with pytest.raises(Conflict, match="24 h undo window"):
        await _undo(session, world, done.short_code, world.member)


async def test_only_one_open_undo_and_only_for_executed_actions(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    done = await _executed(session, world, registry, "60")
    await _undo(session, world, done.short_code, world.member)
    with pytest.raises(Conflict, match="already has an undo"):
        await _undo(session, world, done.short_code, world.manager)
    pending = await service.propose(
        session=session,
        org_id=world.org.id,
        kind="pause_campaign",
        arguments={"campaign_id": str(world.campaign.id)},
        summary="pause",
    )
    with pytest.raises(Conflict, match="only executed actions"):
        await _undo(session, world, pending.short_code, world.member)


async def test_undo_refused_when_the_campaign_moved_since(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    done = await _executed(session, world, registry, "60")
    world.campaign.daily_budget = Decimal("65")
    await session.flush()
    with pytest.raises(StaleApproval):
        await _undo(session, world, done.short_code, world.member)


async def test_undo_is_tenant_scoped(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    done = await _executed(session, world, registry, "60")
    other = await build_world(session)
    await factories.act_as(session, world.org)
    with pytest.raises(PermissionDenied):
        await _undo(session, world, done.short_code, other.admin)
