"""propose(): validation, guardrails, before state, short codes, roles, expiry, audit."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import service
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.schemas import grant_hash
from core.audit.models import AuditLog
from core.base import utcnow
from core.campaigns.models import CampaignStatus
from core.errors import (
    IllegalTransition,
    NotFound,
    PermissionDenied,
    StaleApproval,
    ValidationFailed,
)
from tests import factories
from tests.core.approvals.conftest import World, build_world


async def _budget(
    session: AsyncSession, world: World, amount: str, **kwargs: object
) -> PendingAction:
    return await service.propose(
        session=session,
        org_id=world.org.id,
        kind="set_budget",
        arguments={"campaign_id": str(world.campaign.id), "daily_budget": amount},
        summary=f"Set budget to {amount}",
        requested_by=world.member.id,
        origin_channel="slack",
        **kwargs,  # type: ignore[arg-type]
    )


async def test_propose_binds_the_grant(session: AsyncSession, world: World) -> None:
    before = utcnow()
    action = await _budget(session, world, "70.00", origin_conversation="C1:1700000000.1")

    assert re.fullmatch(f"[{service.CODE_ALPHABET}]{{4}}", action.short_code)
    assert action.status is ActionStatus.PENDING
    assert action.arguments == {"campaign_id": str(world.campaign.id), "daily_budget": "70"}
    assert action.before_state == {"status": "active", "daily_budget": "50"}
    assert action.arguments_hash == grant_hash(
        org_id=world.org.id,
        kind="set_budget",
        arguments=action.arguments,
        before_state=action.before_state,
    )
    assert action.required_role == "manager"
    assert action.campaign_id == world.campaign.id
    assert action.requested_by == world.member.id
    assert (
        timedelta(hours=11, minutes=59)
        < action.expires_at - before
        <= timedelta(hours=12, seconds=5)
    )
    audit = await session.scalar(select(AuditLog).where(AuditLog.resource_id == str(action.id)))
    assert audit is not None
    assert (audit.action, audit.channel, audit.user_id) == (
        "approval.proposed",
        "slack",
        world.member.id,
    )


async def test_org_overrides_expiry_and_caller_may_shorten_it(session: AsyncSession) -> None:
    world = await build_world(session, org_settings={"approval_expiry_hours": 2})
    before = utcnow()
    action = await _budget(session, world, "60")
    short = await _budget(session, world, "61", expires_in=timedelta(minutes=10))
    after = utcnow()
    # Both sides: expiry is the proposal's own moment plus the window, neither less nor more.
    assert before + timedelta(hours=2) <= action.expires_at <= after + timedelta(hours=2)
    assert before + timedelta(minutes=10) <= short.expires_at <= after + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"daily_budget": "-5"}, "daily_budget"),
        ({"daily_budget": "0"}, "daily_budget"),
        ({"daily_budget": 12.5}, "daily_budget"),
        ({"daily_budget": "abc"}, "daily_budget"),
        ({"daily_budget": "1.0000001"}, "daily_budget"),
        ({"daily_budget": "60", "extra": 1}, "extra"),
        ({}, "daily_budget"),
    ],
)
async def test_invalid_budget_arguments(
    session: AsyncSession, world: World, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="set_budget",
            arguments={"campaign_id": str(world.campaign.id), **arguments},
            summary="x",
        )
    assert caught.value.field == field


async def test_unknown_kind_and_empty_summary(session: AsyncSession, world: World) -> None:
    with pytest.raises(ValidationFailed, match="Unknown action kind"):
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="delete_everything",
            arguments={"campaign_id": str(world.campaign.id)},
            summary="x",
        )
    with pytest.raises(ValidationFailed, match="summary"):
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(world.campaign.id)},
            summary="  ",
        )


async def test_budget_guardrail_default_and_org_setting(
    session: AsyncSession, world: World
) -> None:
    with pytest.raises(ValidationFailed, match=r"60\.0%") as caught:
        await _budget(session, world, "80")  # +60% > default 50%
    assert caught.value.field == "daily_budget"
    world.org.settings = {"max_budget_change_percent": "100"}
    await session.flush()
    assert (await _budget(session, world, "80")).arguments["daily_budget"] == "80"


async def test_increase_above_threshold_needs_admin(session: AsyncSession) -> None:
    # Four open raises on one campaign reserve +82 of its window; a wide cap keeps this test
    # about roles (the window cap has its own tests in test_limits.py).
    org_settings: dict[str, object] = {
        "approval_threshold": "20",
        "max_budget_change_percent": "200",
    }
    world = await build_world(session, org_settings=org_settings)
    assert (await _budget(session, world, "70")).required_role == "manager"  # +20: not above
    assert (await _budget(session, world, "71")).required_role == "admin"
    assert (await _budget(session, world, "30")).required_role == "manager"  # decrease
    explicit = await _budget(session, world, "69", required_role="admin")
    assert explicit.required_role == "admin"
    lowered = await _budget(session, world, "72", required_role="user")
    assert lowered.required_role == "admin"  # a caller may ask for more, never less


async def test_kind_must_fit_the_campaign_status(session: AsyncSession, world: World) -> None:
    with pytest.raises(IllegalTransition):
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="resume_campaign",
            arguments={"campaign_id": str(world.campaign.id)},
            summary="resume",
        )
    with pytest.raises(IllegalTransition):
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="launch_campaign",
            arguments={"campaign_id": str(world.campaign.id)},
            summary="launch",
        )


async def test_another_orgs_campaign_and_user_are_not_found(
    session: AsyncSession, world: World
) -> None:
    other = await build_world(session)
    await factories.act_as(session, world.org)
    with pytest.raises(NotFound):
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(other.campaign.id)},
            summary="pause",
        )
    with pytest.raises(NotFound):
        await service.propose(
            session=session,
            org_id=world.org.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(world.campaign.id)},
            summary="pause",
            requested_by=other.member.id,
        )


async def test_inactive_requester_may_not_request(session: AsyncSession, world: World) -> None:
    world.member.is_active = False
    await session.flush()
    with pytest.raises(PermissionDenied):
        await _budget(session, world, "60")


async def test_before_state_given_must_match_the_campaign(
    session: AsyncSession, world: World
) -> None:
    action = await _budget(
        session, world, "60", before_state={"status": "active", "daily_budget": "50.00"}
    )
    assert action.before_state == {"status": "active", "daily_budget": "50"}
    with pytest.raises(StaleApproval):
        await _budget(session, world, "61", before_state={"status": "active", "daily_budget": "40"})


async def test_identical_open_proposal_is_reused(session: AsyncSession, world: World) -> None:
    first = await _budget(session, world, "60")
    again = await _budget(session, world, "60.0")
    assert again.id == first.id
    await session.execute(
        update(PendingAction)
        .where(PendingAction.id == first.id)
        .values(status=ActionStatus.REJECTED)
    )
    fresh = await _budget(session, world, "60")
    assert fresh.id != first.id
    assert fresh.short_code != first.short_code


async def test_short_codes_resolve_within_the_org_only(session: AsyncSession, world: World) -> None:
    action = await _budget(session, world, "60")
    for ref in (action.short_code, f" #{action.short_code.lower()} ", action.id, str(action.id)):
        found = await service.get(session=session, org_id=world.org.id, action_ref=ref)
        assert found.id == action.id
    other = await build_world(session)
    with pytest.raises(NotFound):
        await service.get(session=session, org_id=other.org.id, action_ref=action.short_code)
    with pytest.raises(NotFound):
        await service.get(session=session, org_id=other.org.id, action_ref=action.id)
    await factories.act_as(session, world.org)
    with pytest.raises(NotFound):
        await service.get(session=session, org_id=world.org.id, action_ref=str(uuid.uuid4()))


async def test_codes_stay_unique_in_a_busy_org(session: AsyncSession, world: World) -> None:
    campaigns = [
        await factories.campaign(session, world.account, status=CampaignStatus.PAUSED)
        for _ in range(40)
    ]
    codes = set()
    for campaign in campaigns:
        action = await service.propose(
            session=session,
            org_id=world.org.id,
            kind="resume_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="resume",
        )
        codes.add(action.short_code)
    assert len(codes) == 40


async def test_list_pending_and_expire_overdue_sweep_all_orgs(
    system_session: AsyncSession,
) -> None:
    """The worker's sweep runs across orgs (BYPASSRLS role), so it sets up both as well."""
    world = await build_world(system_session)
    other = await build_world(system_session)
    open_action = await _budget(system_session, world, "60")
    late = await _budget(system_session, world, "55")
    late_other = await service.propose(
        session=system_session,
        org_id=other.org.id,
        kind="pause_campaign",
        arguments={"campaign_id": str(other.campaign.id)},
        summary="pause",
    )
    past = utcnow() - timedelta(minutes=1)
    await system_session.execute(
        update(PendingAction)
        .where(PendingAction.id.in_([late.id, late_other.id]))
        .values(expires_at=past)
    )
    pending = await service.list_pending(session=system_session, org_id=world.org.id)
    assert [action.id for action in pending] == [open_action.id]

    expired = await service.expire_overdue(session=system_session)
    assert {action.id for action in expired} >= {late.id, late_other.id}
    assert open_action.id not in {action.id for action in expired}
    assert all(action.status is ActionStatus.EXPIRED for action in expired)
    rows = await system_session.scalars(
        select(AuditLog.org_id).where(
            AuditLog.action == "approval.expired",
            AuditLog.resource_id.in_([str(late.id), str(late_other.id)]),
        )
    )
    assert set(rows) == {world.org.id, other.org.id}
    again = await service.expire_overdue(session=system_session)
    assert not {late.id, late_other.id} & {action.id for action in again}


async def test_launch_counts_its_budget_against_the_threshold(session: AsyncSession) -> None:
    world = await build_world(session, org_settings={"approval_threshold": "100"})
    draft = await factories.campaign(
        session, world.account, status=CampaignStatus.DRAFT, daily_budget=Decimal("150")
    )
    action = await service.propose(
        session=session,
        org_id=world.org.id,
        kind="launch_campaign",
        arguments={"campaign_id": str(draft.id)},
        summary="launch",
    )
    assert action.required_role == "admin"  # a launch starts spending 150/day from nothing


async def test_an_org_scoped_sweep_leaves_other_orgs_alone(system_session: AsyncSession) -> None:
    # On the BYPASSRLS role, so only the service's own org filter can spare Globex.
    codes = {}
    for name in ("Acme", "Globex"):
        organization = await factories.org(system_session, name=name)
        account = await factories.ad_account(system_session, organization)
        campaign = await factories.campaign(system_session, account)
        action = await service.propose(
            session=system_session,
            org_id=organization.id,
            kind="pause_campaign",
            arguments={"campaign_id": str(campaign.id)},
            summary="Pause",
        )
        codes[name] = (organization.id, action)
    acme_id, acme_action = codes["Acme"]
    later = utcnow() + timedelta(days=2)
    swept = await service.expire_overdue(session=system_session, now=later, org_id=acme_id)
    assert [action.id for action in swept] == [acme_action.id]
    await system_session.refresh(codes["Globex"][1])
    assert codes["Globex"][1].status is ActionStatus.PENDING
