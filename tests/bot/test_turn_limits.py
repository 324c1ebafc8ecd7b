"""Chat applies the same action limits as the web: a friendly line, nothing executed."""

from __future__ import annotations

import pytest

from bot.engine import Bot
from core.action_limits import ACTION_LIMITS, ActionKind, ActionLimiter
from core.config import Settings
from core.db import Database
from core.ports import PlatformRegistry
from tests.bot.conftest import FakePlatform, World


@pytest.fixture
def limited_bot(database: Database, registry: PlatformRegistry, settings: Settings) -> Bot:
    return Bot(
        database=database,
        registry=registry,
        settings=settings,
        limiter=ActionLimiter.for_url(None),
    )


async def _use_up(
    bot: Bot, world: World, kind: ActionKind, who: str = "admin", used: int = 0
) -> None:
    """Count the rest of `who`'s allowance of `kind` (`used` of it are spent already)."""
    assert bot.limiter is not None
    ctx = world.ctx(who)
    for _ in range(ACTION_LIMITS[kind].amount - used):
        await bot.limiter.check(kind, org_id=ctx.org_id, user_id=ctx.user_id)


async def test_reports_past_the_limit_get_a_friendly_line(limited_bot: Bot, world: World) -> None:
    assert not (await limited_bot.handle_text(world.ctx(), "campaigns")).is_error
    await _use_up(limited_bot, world, ActionKind.ANALYTICS, used=1)
    reply = await limited_bot.handle_text(world.ctx(), "report 7d")
    assert reply.is_error
    assert "Too many reports" in reply.text
    assert "Try again in" in reply.text
    # Help is never counted.
    assert not (await limited_bot.handle_text(world.ctx(), "help")).is_error


async def test_campaign_changes_and_decisions_past_the_limit_execute_nothing(
    limited_bot: Bot, world: World, platform: FakePlatform
) -> None:
    card = await limited_bot.handle_text(world.ctx("user"), 'pause "Winter Boots"')
    assert card.card is not None
    await _use_up(limited_bot, world, ActionKind.CAMPAIGN_CHANGE, who="manager", used=1)
    decided = await limited_bot.handle_decision(world.ctx("manager"), card.card.short_code, True)
    assert decided.is_error
    assert "Too many campaign changes" in decided.text
    assert platform.calls == []
    # The org as a whole is over too: the plain user's next change is refused as well.
    refused = await limited_bot.handle_text(world.ctx("user"), 'pause "Summer Sale"')
    assert refused.is_error
    assert "for your organization" in refused.text


async def test_a_bot_without_a_limiter_counts_nothing(bot: Bot, world: World) -> None:
    assert bot.limiter is None
    for _ in range(3):
        assert not (await bot.handle_text(world.ctx(), "rules")).is_error
