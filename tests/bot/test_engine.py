"""The command path end to end through Bot: read, propose, approve, audit."""

from __future__ import annotations

from sqlalchemy import select

from bot.engine import Bot
from core.approvals.models import ActionStatus, PendingAction
from core.audit.models import AuditLog
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from tests.bot.conftest import FakePlatform, World


async def test_help_and_campaigns(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), "help")
    assert "approve CODE" in reply.text
    reply = await bot.handle_text(world.ctx(), "campaigns")
    assert reply.table is not None
    assert [row[0] for row in reply.table.rows] == ["Summer Sale", "Summer Shoes", "Winter Boots"]
    assert "Rival Sale" not in reply.as_plain_text()


async def test_report_has_totals_and_chart(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), "report 7d")
    assert not reply.is_error, reply.text
    assert reply.table is not None
    total = reply.table.rows[-1]
    # 3 campaigns x 7 days x 40 spend.
    assert total[0] == "total"
    assert total[1] == "840.00 USD"
    assert reply.chart is not None
    assert reply.chart.png.startswith(b"\x89PNG")


async def test_report_one_campaign(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), 'report 14d "Winter Boots"')
    assert reply.table is not None
    assert reply.table.rows[0][0] == "560.00 USD"


async def test_pause_proposes_then_approve_executes(
    bot: Bot, world: World, database: Database, platform: FakePlatform
) -> None:
    reply = await bot.handle_text(world.ctx("user"), 'pause "Winter Boots"')
    assert reply.card is not None, reply.text
    code = reply.card.short_code
    assert reply.as_plain_text().endswith(f"Reply `approve {code}` or `reject {code}`")
    assert reply.card.approvers == "a manager or an admin"
    assert platform.calls == []

    decided = await bot.handle_decision(world.ctx("manager"), code, approve=True)
    assert not decided.is_error, decided.text
    assert platform.calls
    assert platform.calls[0][0] == "pause"
    async with database.tenant(world.org_id) as session:
        campaign = await session.get(Campaign, world.campaign_ids["Winter Boots"])
        assert campaign is not None
        assert campaign.status == CampaignStatus.PAUSED
        action = await session.scalar(select(PendingAction).where(PendingAction.short_code == code))
        assert action is not None
        assert action.status == ActionStatus.EXECUTED
        tools = set(
            await session.scalars(select(AuditLog.action).where(AuditLog.action.like("bot.tool.%")))
        )
        assert {"bot.tool.pause_campaign", "bot.tool.decide"} <= tools


async def test_ambiguous_name_lists_candidates(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), "pause summer")
    assert reply.is_error
    assert "Summer Sale" in reply.text
    assert "Summer Shoes" in reply.text


async def test_other_org_campaign_is_not_found(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), 'pause "Rival Sale"')
    assert reply.is_error
    assert reply.card is None


async def test_typo_gets_suggestion(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), "pasue Winter Boots")
    assert reply.is_error
    assert "`pause`" in reply.text


async def test_free_text_without_model_points_to_help(bot: Bot, world: World) -> None:
    reply = await bot.handle_text(world.ctx(), "how did meta do this week?")
    assert "help" in reply.text
    assert not reply.is_error


async def test_undo_proposes_the_inverse_which_needs_approval_too(
    bot: Bot, world: World, database: Database, platform: FakePlatform
) -> None:
    paused = await bot.handle_text(world.ctx(), 'pause "Summer Shoes"')
    assert paused.card is not None
    done = await bot.handle_decision(world.ctx("manager"), paused.card.short_code, approve=True)
    assert not done.is_error, done.text

    undo = await bot.handle_text(world.ctx("user"), f"undo {paused.card.short_code}")
    assert undo.card is not None, undo.text
    assert undo.card.short_code != paused.card.short_code
    assert [call[0] for call in platform.calls] == ["pause"]  # nothing runs before approval

    resumed = await bot.handle_decision(world.ctx("manager"), undo.card.short_code, approve=True)
    assert not resumed.is_error, resumed.text
    assert [call[0] for call in platform.calls] == ["pause", "resume"]
    async with database.tenant(world.org_id) as session:
        campaign = await session.get(Campaign, world.campaign_ids["Summer Shoes"])
        assert campaign is not None
        assert campaign.status == CampaignStatus.ACTIVE

    again = await bot.handle_text(world.ctx(), f"undo {paused.card.short_code}")
    assert again.is_error


async def test_a_plain_user_cannot_approve(bot: Bot, world: World, platform: FakePlatform) -> None:
    reply = await bot.handle_text(world.ctx("user"), 'pause "Winter Boots"')
    assert reply.card is not None
    refused = await bot.handle_decision(world.ctx("user"), reply.card.short_code, approve=True)
    assert refused.is_error
    assert "may not" in refused.text
    assert platform.calls == []


async def test_a_card_from_another_org_cannot_be_decided(
    bot: Bot, world: World, platform: FakePlatform
) -> None:
    reply = await bot.handle_text(world.ctx(), 'pause "Winter Boots"')
    assert reply.card is not None
    foreign = await bot.handle_decision(world.other_ctx(), reply.card.short_code, approve=True)
    assert foreign.is_error
    assert platform.calls == []


async def test_decided_card_shows_the_state_before_not_now(
    bot: Bot, world: World, platform: FakePlatform
) -> None:
    asked = await bot.handle_text(world.ctx(), 'pause "Winter Boots"')
    assert asked.card is not None
    assert asked.card.details[0].startswith("Now: active")
    done = await bot.handle_decision(world.ctx("manager"), asked.card.short_code, approve=True)
    assert done.card is not None
    assert done.card.details[0].startswith("Before: active")
