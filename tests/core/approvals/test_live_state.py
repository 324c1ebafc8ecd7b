"""Before executing, the platform's live campaign is compared with the card's before-state."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.schemas import StaleAction
from core.audit.models import AuditLog
from core.campaigns.models import Campaign, CampaignStatus
from core.errors import IllegalTransition, RateLimited, ValidationFailed
from core.users.models import User
from tests import factories
from tests.core.approvals.conftest import World
from tests.core.approvals.fakes import FakePlatform, registry_with


@pytest.fixture
async def meta_campaign(session: AsyncSession, world: World) -> Campaign:
    account = await factories.ad_account(session, world.org, platform="meta")
    return await factories.campaign(session, account, name="Summer Sale", daily_budget=Decimal(75))


@pytest.fixture
def meta(meta_campaign: Campaign) -> FakePlatform:
    platform = FakePlatform(name="meta")
    platform.adopt(meta_campaign)
    return platform


async def _card(
    session: AsyncSession, world: World, campaign: Campaign, kind: str, budget: str | None = None
) -> PendingAction:
    arguments = {"campaign_id": str(campaign.id)}
    if budget is not None:
        arguments["daily_budget"] = budget
    return await service.propose(
        session=session,
        org_id=world.org.id,
        kind=kind,
        arguments=arguments,
        summary=f"{kind} {campaign.name}",
        requested_by=world.member,
        origin_channel="slack",
    )


async def _approve(
    session: AsyncSession, world: World, action: PendingAction, platform: FakePlatform, user: User
) -> object:
    return await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=action.short_code,
        user=user,
        approve=True,
        channel="slack",
        registry=registry_with(platform, "meta"),
    )


async def _stored_action(session: AsyncSession, action: PendingAction) -> PendingAction:
    found = await session.get(PendingAction, action.id, populate_existing=True)
    assert found is not None
    return found


async def _stored_campaign(session: AsyncSession, campaign: Campaign) -> Campaign:
    found = await session.get(Campaign, campaign.id, populate_existing=True)
    assert found is not None
    return found


async def test_a_budget_changed_on_the_platform_is_refused_not_overwritten(
    session: AsyncSession, world: World, meta_campaign: Campaign, meta: FakePlatform
) -> None:
    """The issue's case: a "75 -> 80" card must not run as "500 -> 80"."""
    action = await _card(session, world, meta_campaign, "set_budget", "80")
    assert meta_campaign.external_id is not None
    meta.change_behind_our_back(meta_campaign.external_id, daily_budget=Decimal(500))

    with pytest.raises(StaleAction) as caught:
        await _approve(session, world, action, meta, world.manager)

    assert "the budget is 500.00 on Meta now, the card was made at 75.00" in caught.value.message
    assert meta.calls == []  # read, never changed
    assert meta.reads == [meta_campaign.external_id]
    stored = await _stored_action(session, action)
    assert stored.status is ActionStatus.FAILED
    assert stored.result == {
        "reason": "stale",
        "current_state": {"status": "active", "daily_budget": "500"},
    }
    local = await _stored_campaign(session, meta_campaign)
    assert local.daily_budget == Decimal(500)
    audit = await session.scalar(
        select(AuditLog).where(
            AuditLog.resource_id == str(meta_campaign.id), AuditLog.action == "campaign.update"
        )
    )
    assert audit is not None
    assert (audit.user_id, audit.source) == (None, "meta live read")
    reproposal = caught.value.reproposal
    assert reproposal is not None
    assert reproposal.before_state == {"status": "active", "daily_budget": "500"}
    # 500 -> 80 is a different decision (and above the per-change limit): it is not slipped in.
    with pytest.raises(ValidationFailed, match="from 500 to 80"):
        await service.propose(
            session=session,
            org_id=world.org.id,
            requested_by=world.member,
            **reproposal.as_kwargs(),
        )


async def test_the_fresh_card_carries_the_live_state_and_executes(
    session: AsyncSession, world: World, meta_campaign: Campaign, meta: FakePlatform
) -> None:
    action = await _card(session, world, meta_campaign, "set_budget", "90")
    assert meta_campaign.external_id is not None
    meta.change_behind_our_back(meta_campaign.external_id, daily_budget=Decimal("82.5"))
    with pytest.raises(StaleAction) as caught:
        await _approve(session, world, action, meta, world.manager)
    assert "the budget is 82.50 on Meta now, the card was made at 75.00" in caught.value.message
    reproposal = caught.value.reproposal
    assert reproposal is not None
    fresh = await service.propose(
        session=session, org_id=world.org.id, requested_by=world.member, **reproposal.as_kwargs()
    )
    assert fresh.before_state == {"status": "active", "daily_budget": "82.5"}
    await _approve(session, world, fresh, meta, world.manager)
    assert [call.budget for call in meta.calls] == [Decimal(90)]
    local = await _stored_campaign(session, meta_campaign)
    assert local.daily_budget == Decimal(90)


async def test_a_campaign_paused_on_the_platform_is_not_paused_again(
    session: AsyncSession, world: World, meta_campaign: Campaign, meta: FakePlatform
) -> None:
    action = await _card(session, world, meta_campaign, "pause_campaign")
    assert meta_campaign.external_id is not None
    meta.change_behind_our_back(meta_campaign.external_id, status="PAUSED")
    with pytest.raises(StaleAction, match="the campaign is paused on Meta now"):
        await _approve(session, world, action, meta, world.manager)
    assert meta.calls == []
    local = await _stored_campaign(session, meta_campaign)
    assert local.status is CampaignStatus.PAUSED
    # Our copy now knows: a pause card on a paused campaign cannot even be proposed.
    with pytest.raises(IllegalTransition):
        await _card(session, world, meta_campaign, "pause_campaign")


async def test_a_failed_read_changes_nothing(
    session: AsyncSession, world: World, meta_campaign: Campaign, meta: FakePlatform
) -> None:
    action = await _card(session, world, meta_campaign, "set_budget", "80")

    async def throttled(*args: object, **kwargs: object) -> None:
        raise RateLimited("Meta error 17/2446079: User request limit reached", retry_after=60)

    meta.get_campaign = throttled  # type: ignore[method-assign,assignment]
    with pytest.raises(RateLimited):
        await _approve(session, world, action, meta, world.manager)
    assert meta.calls == []
    stored = await _stored_action(session, action)
    assert stored.status is ActionStatus.FAILED
    assert stored.error == (
        "platform: could not read the campaign on the platform first: "
        "Meta error 17/2446079: User request limit reached"
    )


async def test_matching_live_state_is_read_then_changed(
    session: AsyncSession, world: World, meta_campaign: Campaign, meta: FakePlatform
) -> None:
    action = await _card(session, world, meta_campaign, "set_budget", "80")
    await _approve(session, world, action, meta, world.manager)
    assert meta.reads == [meta_campaign.external_id]
    assert [(call.method, call.budget) for call in meta.calls] == [("update_budget", Decimal(80))]


async def test_a_launch_that_creates_the_campaign_reads_nothing(
    session: AsyncSession, world: World, meta_campaign: Campaign, meta: FakePlatform
) -> None:
    draft = await factories.campaign(
        session,
        await factories.ad_account(session, world.org, platform="meta"),
        status=CampaignStatus.DRAFT,
    )
    draft.external_id = None
    await session.flush()
    action = await _card(session, world, draft, "launch_campaign")
    await _approve(session, world, action, meta, world.manager)
    assert meta.reads == []
    assert [call.method for call in meta.calls] == ["create_campaign"]
