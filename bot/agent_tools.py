"""The agent's tool wrappers: thin adapters from RunContext to bot.tools, text back to the model.

There is deliberately no approve/reject/undo tool: deciding is for people (buttons, commands).
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field
from pydantic_ai import Agent, RunContext

from bot import tools
from bot.ai_copy.limits import MAX_VARIANTS, PRODUCT_MAX_CHARS, TONE_MAX_CHARS
from bot.deps import BotDeps
from bot.errors import to_text
from bot.replies import Reply
from core.errors import CoreError

Platform = Literal["google", "meta", "tiktok", "sandbox"]
CopyPlatform = Literal["google", "meta", "tiktok"]
WindowName = Literal["today", "yesterday", "3d", "7d", "14d", "30d", "lifetime"]
CampaignName = Annotated[str, Field(min_length=1, max_length=300)]
PositiveAmount = Annotated[Decimal, Field(gt=0, le=10_000_000)]
Percent = Annotated[Decimal, Field(gt=-100, le=1000)]


async def _answer(ctx: RunContext[BotDeps], work: Awaitable[Reply]) -> str:
    """Run a tool; keep its card/table/chart for the final reply, give the model plain text."""
    try:
        reply = await work
    except CoreError as exc:
        return f"Could not do that: {to_text(exc)}"
    extras = ctx.deps.extras
    extras.card = reply.card or extras.card
    extras.table = reply.table or extras.table
    extras.chart = reply.chart or extras.chart
    return reply.as_plain_text()


def register_tools(agent: Agent[BotDeps, str]) -> None:  # noqa: C901 - one short closure per tool
    """Attach every capability except deciding to `agent`."""

    @agent.tool
    async def list_campaigns(ctx: RunContext[BotDeps], platform: Platform | None = None) -> str:
        """List the organization's campaigns with platform, status and daily budget."""
        return await _answer(ctx, tools.list_campaigns(ctx.deps, platform=platform))

    @agent.tool
    async def campaign_performance(
        ctx: RunContext[BotDeps], campaign: CampaignName, window: WindowName = "7d"
    ) -> str:
        """Spend, clicks, conversions, CPA, ROAS and CTR of one campaign (name) over a window."""
        return await _answer(
            ctx, tools.campaign_performance(ctx.deps, campaign=campaign, window=window)
        )

    @agent.tool
    async def account_overview(
        ctx: RunContext[BotDeps], window: WindowName = "7d", platform: Platform | None = None
    ) -> str:
        """Totals per platform and overall over a window (how is the account doing?)."""
        return await _answer(
            ctx, tools.account_overview(ctx.deps, window=window, platform=platform)
        )

    @agent.tool
    async def compare_periods(
        ctx: RunContext[BotDeps], window: WindowName = "7d", platform: Platform | None = None
    ) -> str:
        """Compare a window with the equally long window before it (percent changes)."""
        return await _answer(ctx, tools.compare_periods(ctx.deps, window=window, platform=platform))

    @agent.tool
    async def list_rules(ctx: RunContext[BotDeps]) -> str:
        """List the automation rules: conditions, action, mode and whether they are on."""
        return await _answer(ctx, tools.list_rules(ctx.deps))

    @agent.tool
    async def create_rule(ctx: RunContext[BotDeps], rule: tools.AgentRuleDraft) -> str:
        """Create an automation rule. Conditions are compact text like 'cpa last_3d > 50'."""
        return await _answer(ctx, tools.create_rule(ctx.deps, rule=rule))

    @agent.tool
    async def list_approvals(ctx: RunContext[BotDeps]) -> str:
        """List the actions waiting for a human decision, with their codes."""
        return await _answer(ctx, tools.list_approvals(ctx.deps))

    @agent.tool
    async def pause_campaign(ctx: RunContext[BotDeps], campaign: CampaignName) -> str:
        """Request approval to pause a campaign. It does NOT pause it; a person must approve."""
        return await _answer(ctx, tools.pause_campaign(ctx.deps, campaign=campaign))

    @agent.tool
    async def resume_campaign(ctx: RunContext[BotDeps], campaign: CampaignName) -> str:
        """Request approval to resume a paused campaign; a person must approve."""
        return await _answer(ctx, tools.resume_campaign(ctx.deps, campaign=campaign))

    @agent.tool
    async def launch_campaign(ctx: RunContext[BotDeps], campaign: CampaignName) -> str:
        """Request approval to launch a draft campaign; a person must approve."""
        return await _answer(ctx, tools.launch_campaign(ctx.deps, campaign=campaign))

    @agent.tool
    async def change_budget(
        ctx: RunContext[BotDeps],
        campaign: CampaignName,
        amount: PositiveAmount | None = None,
        percent: Percent | None = None,
    ) -> str:
        """Request approval for a new daily budget: an absolute amount OR a percent change."""
        return await _answer(
            ctx, tools.change_budget(ctx.deps, campaign=campaign, amount=amount, percent=percent)
        )

    @agent.tool
    async def generate_ad_copy(
        ctx: RunContext[BotDeps],
        product: Annotated[str, Field(min_length=1, max_length=PRODUCT_MAX_CHARS)],
        platform: CopyPlatform = "google",
        tone: Annotated[str, Field(max_length=TONE_MAX_CHARS)] | None = None,
        count: Annotated[int, Field(ge=1, le=MAX_VARIANTS)] = 3,
    ) -> str:
        """Write ad copy variants within the platform's length limits (uses the AI quota)."""
        return await _answer(
            ctx,
            tools.generate_ad_copy(
                ctx.deps, product=product, platform=platform, tone=tone, count=count
            ),
        )
