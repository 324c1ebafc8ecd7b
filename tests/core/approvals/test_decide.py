"""decide(): permissions, two-person rule, expiry, stale refusal, tampering, platform failure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.schemas import DecisionResult, StaleAction
from core.audit.models import AuditLog
from core.base import utcnow
from core.campaigns.models import Campaign, CampaignStatus
from core.errors import (
    AlreadyDecided,
    Conflict,
    Expired,
    NotFound,
    PermissionDenied,
    PlatformError,
    RateLimited,
    ValidationFailed,
)
from core.ports import PlatformRegistry
from core.rules.models import Rule
from core.security import crypto
from core.users.models import User
from tests import factories
from tests.core.approvals.conftest import World, build_world
from tests.core.approvals.fakes import Boom, FakePlatform


async def _propose(
    session: AsyncSession,
    world: World,
    kind: str = "set_budget",
    *,
    budget: str = "60",
    requester: User | None = None,
    campaign: Campaign | None = None,
) -> PendingAction:
    target = campaign or world.campaign
    arguments: dict[str, object] = {"campaign_id": str(target.id)}
    if kind == "set_budget":
        arguments["daily_budget"] = budget
    return await service.propose(
        session=session,
        org_id=world.org.id,
        kind=kind,
        arguments=arguments,
        summary=f"{kind} {target.name}",
        requested_by=requester or world.member,
        origin_channel="telegram",
    )


async def _decide(
    session: AsyncSession,
    world: World,
    action: PendingAction | str,
    user: User,
    registry: PlatformRegistry,
    *,
    approve: bool = True,
) -> DecisionResult:
    ref = action if isinstance(action, str) else action.short_code
    return await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=ref,
        user=user,
        approve=approve,
        channel="slack",
        registry=registry,
    )


async def _audit_actions(session: AsyncSession, resource_id: object) -> list[str]:
    rows = await session.scalars(
        select(AuditLog.action)
        .where(AuditLog.resource_id == str(resource_id))
        .order_by(AuditLog.created_at)
    )
    return list(rows)


async def _reloaded(session: AsyncSession, action: PendingAction) -> PendingAction:
    query = select(PendingAction).where(PendingAction.id == action.id)
    found = await session.scalar(query.execution_options(populate_existing=True))
    assert found is not None
    return found


async def test_approve_pause_executes_through_the_platform(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, "pause_campaign")
    result = await _decide(session, world, action, world.manager, registry)

    assert result.executed
    assert result.status is ActionStatus.EXECUTED
    assert [(c.method, c.account_id, c.campaign_id, c.access_token) for c in platform.calls] == [
        ("pause_campaign", world.account.external_id, world.campaign.external_id, "")
    ]
    await session.refresh(world.campaign)
    assert world.campaign.status == CampaignStatus.PAUSED
    stored = await _reloaded(session, action)
    assert stored.status is ActionStatus.EXECUTED
    assert stored.decided_by == world.manager.id
    assert stored.decided_via == "slack"
    assert stored.executed_at is not None
    assert stored.result == {
        "platform": {
            "external_id": world.campaign.external_id,
            "status": "PAUSED",
            "daily_budget": None,
            "raw": {"success": True},
        },
        "after_state": {"status": "paused", "daily_budget": "50"},
    }
    assert stored.inverse == {
        "kind": "resume_campaign",
        "arguments": {"campaign_id": str(world.campaign.id)},
    }
    assert await _audit_actions(session, action.id) == [
        "approval.proposed",
        "approval.approved",
        "approval.executed",
    ]
    assert "campaign.paused" in await _audit_actions(session, world.campaign.id)


async def test_stored_token_is_decrypted_for_the_call(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    world.account.access_token_encrypted = crypto.encrypt("EAAB-live-token")
    await session.flush()
    action = await _propose(session, world, "pause_campaign")
    await _decide(session, world, action, world.manager, registry)
    assert platform.calls[0].access_token == "EAAB-live-token"


async def test_set_budget_updates_row_and_stores_inverse(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, budget="70.5")
    result = await _decide(session, world, action, world.admin, registry)
    assert platform.calls[0].budget == Decimal("70.5")
    await session.refresh(world.campaign)
    assert world.campaign.daily_budget == Decimal("70.5")
    assert result.inverse == {
        "kind": "set_budget",
        "arguments": {"campaign_id": str(world.campaign.id), "daily_budget": "50"},
    }


async def test_launch_creates_a_draft_on_the_platform(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    draft = await factories.campaign(session, world.account, status=CampaignStatus.DRAFT)
    draft.external_id = None
    await session.flush()
    action = await _propose(session, world, "launch_campaign", campaign=draft)
    await _decide(session, world, action, world.manager, registry)
    assert [call.method for call in platform.calls] == ["create_campaign"]
    launched = await session.get(Campaign, draft.id, populate_existing=True)
    assert launched is not None
    assert (launched.status, launched.external_id) == (CampaignStatus.ACTIVE, "new-1")


async def test_launch_of_pending_review_campaign_activates_it(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    review = await factories.campaign(session, world.account, status=CampaignStatus.PENDING_REVIEW)
    platform.adopt(review)
    action = await _propose(session, world, "launch_campaign", campaign=review)
    result = await _decide(session, world, action, world.manager, registry)
    assert [(c.method, c.status) for c in platform.calls] == [("update_campaign", "ACTIVE")]
    await session.refresh(review)
    assert review.status == CampaignStatus.ACTIVE
    assert result.inverse is not None
    assert result.inverse["kind"] == "pause_campaign"


async def test_reject_and_withdraw(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, "pause_campaign")
    result = await _decide(session, world, action, world.manager, registry, approve=False)
    assert result.status is ActionStatus.REJECTED
    assert not result.approved
    assert platform.calls == []
    assert (await _audit_actions(session, action.id))[-1] == "approval.rejected"

    mine = await _propose(session, world, budget="55")
    withdrawn = await _decide(session, world, mine, world.member, registry, approve=False)
    assert withdrawn.status is ActionStatus.REJECTED


async def test_plain_user_may_neither_approve_nor_reject_others(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    other_member = await factories.user(session, world.org)
    action = await _propose(session, world, "pause_campaign")
    with pytest.raises(PermissionDenied):
        await _decide(session, world, action, world.member, registry)
    with pytest.raises(PermissionDenied):
        await _decide(session, world, action, other_member, registry, approve=False)
    assert (await _reloaded(session, action)).status is ActionStatus.PENDING


async def test_manager_cannot_approve_above_threshold(
    session: AsyncSession, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    world = await build_world(session, org_settings={"approval_threshold": "5"})
    platform.adopt(world.campaign)
    action = await _propose(session, world, budget="60")
    assert action.required_role == "admin"
    with pytest.raises(PermissionDenied, match="admin"):
        await _decide(session, world, action, world.manager, registry)
    assert (await _decide(session, world, action, world.admin, registry)).executed


async def test_two_person_rule_stops_self_approval_above_threshold(
    session: AsyncSession, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    # A solo-friendly org that still wants two people above the threshold.
    settings = {"approval_threshold": "5", "two_person_rule": True, "allow_self_approval": True}
    world = await build_world(session, org_settings=settings)
    platform.adopt(world.campaign)
    big = await _propose(session, world, budget="60", requester=world.admin)
    with pytest.raises(PermissionDenied, match="Two-person rule"):
        await _decide(session, world, big, world.admin, registry)
    assert (await _decide(session, world, big, world.admin2, registry)).executed

    small = await _propose(session, world, budget="55", requester=world.admin)  # below threshold
    assert (await _decide(session, world, small, world.admin, registry)).executed


async def test_self_approval_of_a_raise_is_refused_by_default(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    raise_ = await _propose(session, world, budget="55", requester=world.manager)
    with pytest.raises(PermissionDenied, match=r"requested .*, which lets the campaign spend more"):
        await _decide(session, world, raise_, world.manager, registry)
    assert platform.calls == []
    assert (await _reloaded(session, raise_)).status is ActionStatus.PENDING
    assert (await _decide(session, world, raise_, world.admin, registry)).executed


async def test_a_requester_may_approve_their_own_cut_or_pause(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    """Stopping spend never waits for a second person."""
    cut = await _propose(session, world, budget="45", requester=world.manager)
    assert (await _decide(session, world, cut, world.manager, registry)).executed
    pause = await _propose(session, world, "pause_campaign", requester=world.manager)
    assert (await _decide(session, world, pause, world.manager, registry)).executed
    resume = await _propose(session, world, "resume_campaign", requester=world.manager)
    with pytest.raises(PermissionDenied, match="spend more"):
        await _decide(session, world, resume, world.manager, registry)


async def test_a_solo_operator_setting_allows_self_approval(
    session: AsyncSession, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    org_settings = {"approval_threshold": "5", "allow_self_approval": True}
    world = await build_world(session, org_settings=org_settings)
    platform.adopt(world.campaign)
    big = await _propose(session, world, budget="60", requester=world.admin)
    assert (await _decide(session, world, big, world.admin, registry)).executed


async def test_expired_action_is_marked_and_refused(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, "pause_campaign")
    await session.execute(
        update(PendingAction)
        .where(PendingAction.id == action.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    with pytest.raises(Expired):
        await _decide(session, world, action, world.manager, registry)
    assert (await _reloaded(session, action)).status is ActionStatus.EXPIRED
    assert (await _audit_actions(session, action.id))[-1] == "approval.expired"
    with pytest.raises(Expired):
        await _decide(session, world, action, world.admin, registry)
    assert platform.calls == []


async def test_second_decision_names_the_first_decider(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, "pause_campaign")
    await _decide(session, world, action, world.manager, registry)
    with pytest.raises(AlreadyDecided, match=f"already approved by {world.manager.email} at "):
        await _decide(session, world, action, world.admin, registry)
    rejected = await _propose(session, world, budget="45")
    await _decide(session, world, rejected, world.admin, registry, approve=False)
    with pytest.raises(AlreadyDecided, match=f"already rejected by {world.admin.email}"):
        await _decide(session, world, rejected, world.manager, registry)


async def test_stale_action_is_refused_with_a_fresh_proposal(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, budget="70")
    # Someone moved it on the platform after the card was shown, and a sync saw it.
    world.campaign.daily_budget = Decimal("60")
    await session.flush()
    assert world.campaign.external_id is not None
    platform.change_behind_our_back(world.campaign.external_id, daily_budget=Decimal("60"))
    with pytest.raises(StaleAction) as caught:
        await _decide(session, world, action, world.manager, registry)
    assert platform.calls == []
    stored = await _reloaded(session, action)
    assert stored.status is ActionStatus.FAILED
    assert stored.error is not None
    assert stored.error.startswith("stale: ")
    assert stored.result == {
        "reason": "stale",
        "current_state": {"status": "active", "daily_budget": "60"},
    }
    assert (await _audit_actions(session, action.id))[-1] == "approval.failed"

    reproposal = caught.value.reproposal
    assert reproposal is not None
    fresh = await service.propose(
        session=session, org_id=world.org.id, requested_by=world.member, **reproposal.as_kwargs()
    )
    assert fresh.before_state == {"status": "active", "daily_budget": "60"}
    assert (await _decide(session, world, fresh, world.manager, registry)).executed
    await session.refresh(world.campaign)
    assert world.campaign.daily_budget == Decimal("70")


async def test_status_change_makes_a_pause_stale(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, "pause_campaign")
    world.campaign.status = CampaignStatus.PAUSED
    await session.flush()
    with pytest.raises(StaleAction):
        await _decide(session, world, action, world.manager, registry)
    assert platform.calls == []


async def test_tampered_arguments_are_not_executed(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    action = await _propose(session, world, budget="60")
    tampered = {"campaign_id": str(world.campaign.id), "daily_budget": "75"}
    await session.execute(
        update(PendingAction).where(PendingAction.id == action.id).values(arguments=tampered)
    )
    with pytest.raises(Conflict, match="no longer match"):
        await _decide(session, world, action, world.manager, registry)
    assert platform.calls == []
    stored = await _reloaded(session, action)
    assert stored.status is ActionStatus.FAILED
    assert stored.error is not None
    assert stored.error.startswith("integrity: ")
    await session.refresh(world.campaign)
    assert world.campaign.daily_budget == Decimal("50")


async def test_platform_failure_fails_cleanly(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    platform.fail_with = RateLimited("Too many calls to the ad account.", retry_after=30)
    action = await _propose(session, world, budget="60")
    with pytest.raises(RateLimited):
        await _decide(session, world, action, world.manager, registry)
    stored = await _reloaded(session, action)
    assert stored.status is ActionStatus.FAILED
    assert stored.error == "platform: Too many calls to the ad account."
    assert stored.inverse is None
    assert stored.executed_at is None
    await session.refresh(world.campaign)
    assert world.campaign.daily_budget == Decimal("50")
    assert "campaign.update" not in await _audit_actions(session, world.campaign.id)
    assert await _audit_actions(session, action.id) == [
        "approval.proposed",
        "approval.approved",
        "approval.failed",
    ]
    with pytest.raises(AlreadyDecided, match=r"\(failed\)"):
        await _decide(session, world, action, world.admin, registry)


async def test_unexpected_adapter_error_stores_no_trace(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    platform.fail_with = Boom("Traceback (most recent call last): secret internals")
    action = await _propose(session, world, "pause_campaign")
    with pytest.raises(PlatformError):
        await _decide(session, world, action, world.manager, registry)
    stored = await _reloaded(session, action)
    assert stored.error == "platform: sandbox failed unexpectedly (Boom)."
    await session.refresh(world.campaign)
    assert world.campaign.status == CampaignStatus.ACTIVE


async def test_unknown_platform_fails_the_action(
    session: AsyncSession, world: World, platform: FakePlatform
) -> None:
    action = await _propose(session, world, "pause_campaign")
    with pytest.raises(NotFound, match="Unknown ad platform"):
        await _decide(session, world, action, world.manager, PlatformRegistry())
    assert (await _reloaded(session, action)).status is ActionStatus.FAILED


async def test_tenant_isolation(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    other = await build_world(session)
    await factories.act_as(session, world.org)
    action = await _propose(session, world, "pause_campaign")
    # Acting as the other org, the card is not there (the service's filter; RLS on PostgreSQL).
    await factories.act_as(session, other.org)
    with pytest.raises(NotFound):
        await flows.decide(
            session=session,
            org_id=other.org.id,
            action_ref=action.short_code,
            user=other.admin,
            approve=True,
            channel="slack",
            registry=registry,
        )
    # Acting as the card's org, another org's admin has no say over it.
    await factories.act_as(session, world.org)
    with pytest.raises(PermissionDenied):
        await _decide(session, world, action, other.admin, registry)
    assert platform.calls == []
    assert (await _reloaded(session, action)).status is ActionStatus.PENDING


async def test_rule_in_auto_mode_executes_without_a_human(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    rule = Rule(org_id=world.org.id, name="Cap CPA", spec={}, mode="auto")
    session.add(rule)
    await session.flush()
    result = await flows.execute_system_action(
        session=session,
        org_id=world.org.id,
        kind="set_budget",
        arguments={"campaign_id": str(world.campaign.id), "daily_budget": "40"},
        summary="CPA above target: budget -20%",
        rule_id=rule.id,
        registry=registry,
    )
    assert result.executed
    assert result.action.decided_by is None
    assert result.action.decided_via == "rule"
    assert result.action.rule_id == rule.id
    audits = await session.scalars(
        select(AuditLog).where(AuditLog.resource_id == str(result.action.id))
    )
    assert {(row.channel, row.source, row.user_id) for row in audits} == {
        ("rule", f"rule:{rule.id}", None)
    }
    with pytest.raises(ValidationFailed, match=r"above this organization's limit"):
        await flows.execute_system_action(
            session=session,
            org_id=world.org.id,
            kind="set_budget",
            arguments={"campaign_id": str(world.campaign.id), "daily_budget": "100"},
            summary="too much",
            rule_id=rule.id,
            registry=registry,
        )
