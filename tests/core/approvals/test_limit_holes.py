"""Holes a review found in the money limits, each closed: tried again here as the attack was.

A campaign without a daily budget, a launch of a budget-less draft, a rule deleted to shed its
author, an edit that launders the author, an absurd budget or window setting.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import executor, service
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.policy import policy_from
from core.campaigns.models import Campaign, CampaignStatus
from core.errors import AlreadyDecided, PermissionDenied, PlatformError, ValidationFailed
from core.ports import PlatformRegistry
from core.rules import service as rules
from core.rules.flows import apply_firings, evaluate
from core.users.models import Role, User
from tests import factories
from tests.core.approvals.conftest import World, approve_card, propose_card
from tests.core.approvals.fakes import FakePlatform
from tests.core.rules.conftest import NOW

RAISE_RULE: dict[str, Any] = {
    "name": "Scale winners",
    "mode": "approve",
    "conditions": ["roas last_3d > 5"],
    "action": {"type": "change_budget", "percent": 20},
    "limits": {"max_budget_multiple": 2},
}


async def _start_from(
    session: AsyncSession, world: World, platform: FakePlatform, budget: Decimal | None
) -> None:
    world.campaign.daily_budget = budget
    await session.flush()
    platform.adopt(world.campaign)


@pytest.mark.parametrize("start", [None, Decimal(0)])
async def test_a_window_begun_without_a_budget_is_capped_from_the_first_budget_set(
    session: AsyncSession,
    world: World,
    platform: FakePlatform,
    registry: PlatformRegistry,
    start: Decimal | None,
) -> None:
    await _start_from(session, world, platform, start)
    assert await approve_card(
        session, world, await propose_card(session, world, "100"), registry
    ) == (ActionStatus.EXECUTED)
    assert await approve_card(
        session, world, await propose_card(session, world, "150"), registry
    ) == (ActionStatus.EXECUTED)
    with pytest.raises(ValidationFailed, match=r"over 100\.00 .* up to 150\.00/day"):
        await propose_card(session, world, "225")
    campaign = await session.get(Campaign, world.campaign.id, populate_existing=True)
    assert campaign is not None
    assert campaign.daily_budget == Decimal(150)


async def test_a_budgetless_draft_is_not_launched_by_whoever_asked(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    world.campaign.daily_budget = None
    world.campaign.lifetime_budget = Decimal(100_000)
    world.campaign.status = CampaignStatus.DRAFT
    await session.flush()
    platform.adopt(world.campaign)
    card = await propose_card(session, world, None, kind="launch_campaign")
    # The lifetime budget may all go in a day: above the threshold, so an admin's call.
    assert card.required_role == Role.ADMIN
    with pytest.raises(PermissionDenied):
        await approve_card(session, world, card, registry, user=world.manager)
    assert await approve_card(session, world, card, registry, user=world.admin) == (
        ActionStatus.EXECUTED
    )


async def _rule_card(session: AsyncSession, world: World, author: User) -> PendingAction:
    await factories.daily_metrics(
        session,
        world.campaign,
        first_day=NOW.date() - timedelta(days=2),
        days=3,
        conversion_value=Decimal(400),
    )
    await rules.create_rule(session=session, org_id=world.org.id, user=author, rule_in=RAISE_RULE)
    return await _raise_card(session, world)


async def _raise_card(session: AsyncSession, world: World) -> PendingAction:
    found = await evaluate(session=session, now=NOW, org_id=world.org.id)
    [alert] = await apply_firings(session=session, org_id=world.org.id, firings=found.firings)
    card = await session.get(PendingAction, alert.pending_action_id)
    assert card is not None
    return card


async def test_deleting_the_rule_withdraws_its_cards_so_its_author_cannot_approve_them(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    # The author writes the rule, a colleague only toggles it (so the card names the
    # colleague), then the author deletes the rule to shed the link to it.
    author = world.admin2
    await factories.daily_metrics(
        session,
        world.campaign,
        first_day=NOW.date() - timedelta(days=2),
        days=3,
        conversion_value=Decimal(400),
    )
    await rules.create_rule(session=session, org_id=world.org.id, user=author, rule_in=RAISE_RULE)
    for toggle in (rules.disable_rule, rules.enable_rule):
        await toggle(
            session=session, org_id=world.org.id, user=world.admin, rule_ref="Scale winners"
        )
    card = await _raise_card(session, world)
    assert card.requested_by == world.admin.id
    await rules.delete_rule(
        session=session, org_id=world.org.id, user=author, rule_ref="Scale winners"
    )
    await session.refresh(card)
    assert card.status == ActionStatus.REJECTED
    with pytest.raises(AlreadyDecided):
        await approve_card(session, world, card, registry, user=author)
    assert platform.calls == []


async def test_every_author_in_the_rules_history_counts_as_requester(
    session: AsyncSession, world: World, registry: PlatformRegistry
) -> None:
    # The admin2 writes the rule; a colleague toggles it (last editor); another toggles it
    # again. The rule's creator and last editor are not the only ones who asked.
    await _rule_card(session, world, world.admin2)
    toggler = await factories.user(session, world.org, role=Role.ADMIN)
    last = await factories.user(session, world.org, role=Role.ADMIN)
    for who in (toggler, last):
        await rules.disable_rule(
            session=session, org_id=world.org.id, user=who, rule_ref="Scale winners"
        )
        await rules.enable_rule(
            session=session, org_id=world.org.id, user=who, rule_ref="Scale winners"
        )
    card = await session.get(PendingAction, (await _pending_card_id(session, world)))
    assert card is not None
    for asker in (world.admin2, toggler, last):
        with pytest.raises(PermissionDenied):
            await approve_card(session, world, card, registry, user=asker)
    assert await approve_card(session, world, card, registry, user=world.admin) == (
        ActionStatus.EXECUTED
    )


async def _pending_card_id(session: AsyncSession, world: World) -> Any:
    cards = await service.list_pending(session=session, org_id=world.org.id)
    [card] = cards
    return card.id


async def test_an_absurd_budget_is_refused_before_it_reaches_the_platform(
    session: AsyncSession, world: World, platform: FakePlatform
) -> None:
    with pytest.raises(ValidationFailed, match="at most 10,000,000"):
        await propose_card(session, world, "10000000000000")
    assert platform.calls == []


async def test_any_failure_recording_a_platform_success_fails_the_action(
    session: AsyncSession,
    world: World,
    platform: FakePlatform,
    registry: PlatformRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(**_: Any) -> Any:
        raise ArithmeticError("not storable")

    monkeypatch.setattr(executor, "_record_success", broken)
    card = await propose_card(session, world, "60")
    with pytest.raises(PlatformError, match="recording it failed: ArithmeticError"):
        await approve_card(session, world, card, registry)
    await session.refresh(card)
    assert card.status == ActionStatus.FAILED
    assert len(platform.calls) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("budget_window_hours", "1e9"), ("budget_window_hours", "1e15"), ("undo_window_hours", 1e6)],
)
def test_absurd_hour_settings_are_refused_with_their_bound(name: str, value: object) -> None:
    with pytest.raises(ValidationFailed, match=f"{name} is at most"):
        policy_from({name: value})


async def test_a_launch_with_no_budget_at_all_still_needs_someone_else(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    world.campaign.daily_budget = None
    world.campaign.lifetime_budget = None
    world.campaign.status = CampaignStatus.DRAFT
    await session.flush()
    platform.adopt(world.campaign)
    card = await propose_card(session, world, None, kind="launch_campaign")
    with pytest.raises(PermissionDenied, match="lets the campaign spend more"):
        await approve_card(session, world, card, registry, user=world.manager)
    assert platform.calls == []
