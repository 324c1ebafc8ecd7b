"""Money limits that hold per campaign over time, tried the way an attacker would.

The window cap (+50 % over the budget the window began with, per 24 h by default) counts
executed changes and open cards; nobody approves their own raise by default, not even by
writing the rule that raises the card.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import flows
from core.approvals.models import ActionStatus, PendingAction
from core.base import utcnow
from core.campaigns.models import Campaign
from core.errors import PermissionDenied, ValidationFailed
from core.ports import PlatformRegistry
from core.rules import service as rules
from core.rules.flows import apply_firings, evaluate
from core.users.models import Role
from tests import factories
from tests.core.approvals.conftest import World, approve_card, propose_card
from tests.core.approvals.fakes import FakePlatform
from tests.core.rules.conftest import NOW


async def _budget(session: AsyncSession, world: World) -> Decimal | None:
    campaign = await session.get(Campaign, world.campaign.id, populate_existing=True)
    assert campaign is not None
    return campaign.daily_budget


async def _set_budget(
    session: AsyncSession, world: World, platform: FakePlatform, amount: str
) -> None:
    """Where the campaign stands before the test (here and on the platform)."""
    world.campaign.daily_budget = Decimal(amount)
    await session.flush()
    platform.adopt(world.campaign)


async def test_many_small_raises_stop_at_the_window_cap(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    """The issue's attack: 40 a day, +49 % per card, card after card."""
    await _set_budget(session, world, platform, "40")
    await approve_card(session, world, await propose_card(session, world, "59.6"), registry)
    assert await _budget(session, world) == Decimal("59.6")

    with pytest.raises(ValidationFailed) as caught:
        await propose_card(session, world, "88.8")
    assert caught.value.message == (
        f"Budget limit for {world.campaign.name!r}: at most +50% over 40.00 (its budget 24 h "
        "ago) per 24 h, so up to 60.00/day. Used: 19.60 (executed +19.60); left: 0.40; "
        "this card asks +29.20."
    )
    # Even the smallest step past the ceiling is refused; up to it is fine.
    with pytest.raises(ValidationFailed):
        await propose_card(session, world, "60.01")
    await approve_card(session, world, await propose_card(session, world, "60"), registry)
    assert [call.budget for call in platform.calls] == [Decimal("59.6"), Decimal("60")]


async def test_open_cards_reserve_their_raise(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    await _set_budget(session, world, platform, "40")
    first = await propose_card(session, world, "55")
    with pytest.raises(ValidationFailed) as caught:
        await propose_card(session, world, "46")
    assert f"pending cards {first.short_code} +15.00" in caught.value.message
    assert "left: 5.00; this card asks +6.00." in caught.value.message
    # Once the first card is withdrawn, its reservation is gone.
    await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=first.short_code,
        user=world.manager,
        approve=False,
        channel="slack",
        registry=registry,
    )
    assert (await propose_card(session, world, "46")).status is ActionStatus.PENDING


async def test_a_cut_then_raises_do_not_reset_the_baseline(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    await _set_budget(session, world, platform, "40")
    for step in ("30", "45", "60"):  # -25 %, then +50 % twice per card: 60 is the ceiling
        await approve_card(session, world, await propose_card(session, world, step), registry)
    assert await _budget(session, world) == Decimal(60)
    with pytest.raises(ValidationFailed, match=r"over 40\.00 .* up to 60\.00/day"):
        await propose_card(session, world, "61")


async def test_the_window_rolls_on(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    await _set_budget(session, world, platform, "40")
    done = await propose_card(session, world, "60")
    await approve_card(session, world, done, registry)
    with pytest.raises(ValidationFailed):
        await propose_card(session, world, "70")
    await session.execute(
        update(PendingAction)
        .where(PendingAction.id == done.id)
        .values(executed_at=utcnow() - timedelta(hours=24, minutes=1))
    )
    assert (await propose_card(session, world, "70")).status is ActionStatus.PENDING


async def test_the_window_is_an_org_setting(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    world.org.settings = {"budget_window_hours": 72}
    await session.flush()
    await _set_budget(session, world, platform, "40")
    done = await propose_card(session, world, "60")
    await approve_card(session, world, done, registry)
    await session.execute(
        update(PendingAction)
        .where(PendingAction.id == done.id)
        .values(executed_at=utcnow() - timedelta(hours=48))
    )
    with pytest.raises(ValidationFailed, match="per 72 h"):
        await propose_card(session, world, "70")


async def test_execution_checks_the_window_again(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    card = await propose_card(session, world, "70")  # +40 %: inside the default +50 %
    world.org.settings = {"max_budget_change_percent": "10"}  # the admin tightens the limit
    await session.flush()
    with pytest.raises(ValidationFailed, match=r"at most \+10%"):
        await approve_card(session, world, card, registry)
    assert platform.calls == []
    stored = await session.get(PendingAction, card.id, populate_existing=True)
    assert stored is not None
    assert stored.status is ActionStatus.FAILED
    assert stored.result is not None
    assert stored.result["reason"] == "limit"


async def test_auto_mode_goes_through_the_same_cap(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    rule = (
        await rules.create_rule(
            session=session,
            org_id=world.org.id,
            user=world.admin,
            rule_in={
                "name": "Scale",
                "mode": "auto",
                "conditions": ["roas last_3d > 5"],
                "action": {"type": "change_budget", "percent": 20},
                "limits": {"max_budget_multiple": 5, "cooldown_hours": 24},
            },
        )
    ).rule
    budgets = []
    for step in ("60", "72"):  # +20 % twice from 50 stays under 50 * 1.5 = 75; 86.4 does not
        result = await flows.execute_system_action(
            session=session,
            org_id=world.org.id,
            kind="set_budget",
            arguments={"campaign_id": str(world.campaign.id), "daily_budget": step},
            summary="scale",
            rule_id=rule.id,
            registry=registry,
        )
        budgets.append(result.action.arguments["daily_budget"])
    with pytest.raises(ValidationFailed, match="Budget limit"):
        await flows.execute_system_action(
            session=session,
            org_id=world.org.id,
            kind="set_budget",
            arguments={"campaign_id": str(world.campaign.id), "daily_budget": "86.4"},
            summary="scale",
            rule_id=rule.id,
            registry=registry,
        )
    assert budgets == ["60", "72"]
    assert await _budget(session, world) == Decimal(72)


async def test_nobody_approves_a_card_raised_by_their_own_rule(
    session: AsyncSession, world: World, platform: FakePlatform, registry: PlatformRegistry
) -> None:
    await factories.daily_metrics(
        session,
        world.campaign,
        first_day=NOW.date() - timedelta(days=2),
        days=3,
        conversion_value=Decimal(400),
    )
    spec = {
        "name": "Scale winners",
        "mode": "approve",
        "conditions": ["roas last_3d > 5"],
        "action": {"type": "change_budget", "percent": 20},
        "limits": {"max_budget_multiple": 2},
    }
    writer = world.manager
    await rules.create_rule(session=session, org_id=world.org.id, user=writer, rule_in=spec)
    editor = await factories.user(session, world.org, role=Role.MANAGER)
    await rules.update_rule(
        session=session,
        org_id=world.org.id,
        user=editor,
        rule_ref="Scale winners",
        changes={"action": {"type": "change_budget", "percent": 25}},
    )
    found = await evaluate(session=session, now=NOW, org_id=world.org.id)
    [alert] = await apply_firings(session=session, org_id=world.org.id, firings=found.firings)
    assert alert.action_taken == "approval_requested"
    card = await session.get(PendingAction, alert.pending_action_id)
    assert card is not None
    assert card.requested_by == editor.id  # the rule as it stands is the editor's
    with pytest.raises(PermissionDenied, match=f"{editor.email} requested {card.short_code}"):
        await approve_card(session, world, card, registry, user=editor)
    # The creator too, though someone else edited the rule since.
    with pytest.raises(PermissionDenied, match=f"{writer.email} wrote the rule that raised"):
        await approve_card(session, world, card, registry, user=writer)
    assert platform.calls == []
    await approve_card(session, world, card, registry, user=world.admin)
    assert [call.budget for call in platform.calls] == [Decimal("62.5")]
