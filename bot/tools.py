"""The bot's tools: one typed function per capability over core services.

Commands and the LLM agent call the same functions. Org and user always come from `BotDeps`
(the run context), never from arguments. Mutating tools never execute: they create a
PendingAction through core.approvals and return its card. Every call is audit-logged.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calls import call_tool
from bot.commands import RuleAdd
from bot.deps import BotDeps
from bot.replies import Reply, Table, card_from_action
from bot.reports import account_overview, campaign_performance, compare_periods, list_campaigns
from core.approvals import flows
from core.approvals import policy as approval_policy
from core.approvals import service as approvals
from core.approvals.schemas import MAX_DAILY_BUDGET, ActionKind
from core.campaigns import lookup
from core.errors import CoreError, ValidationFailed
from core.rbac import Permission, require
from core.rules import service as rules
from core.users.models import User

__all__ = [
    "AgentRuleDraft",
    "RuleDraft",
    "account_overview",
    "campaign_performance",
    "change_budget",
    "compare_periods",
    "create_rule",
    "decide",
    "generate_ad_copy",
    "launch_campaign",
    "link_identity",
    "list_approvals",
    "list_campaigns",
    "list_rules",
    "pause_campaign",
    "resume_campaign",
    "rule_from_command",
    "undo",
]

_CENT = Decimal("0.01")
# The same bounds the agent's tool arguments have (bot/agent_tools.py).
MIN_PERCENT, MAX_PERCENT = Decimal(-100), Decimal(1000)


# --- proposals (never executed here) ----------------------------------------------------------


async def _propose(
    deps: BotDeps,
    tool: str,
    *,
    campaign: str,
    kind: ActionKind,
    describe: Callable[[str, Decimal | None], tuple[str, dict[str, Any]]],
) -> Reply:
    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.REQUEST_ACTION)
        target = await lookup.find(session=session, org_id=deps.org_id, query=campaign)
        summary, extra = describe(target.name, target.daily_budget)
        action = await approvals.propose(
            session=session,
            org_id=deps.org_id,
            kind=kind.value,
            arguments={"campaign_id": str(target.id), **extra},
            summary=summary,
            requested_by=user,
            origin_channel=deps.channel,
            origin_conversation=deps.conversation_id,
            campaign_id=target.id,
        )
        policy = await approval_policy.load_policy(session=session, org_id=deps.org_id)
        card = card_from_action(action, two_person_rule=policy.two_person_rule)
        return Reply(text=f"Approval requested: {action.summary}", card=card)

    return await call_tool(deps, tool, {"campaign": campaign}, work)


async def pause_campaign(deps: BotDeps, *, campaign: str) -> Reply:
    """Ask for approval to pause a campaign (by name); returns the approval card."""
    return await _propose(
        deps,
        "pause_campaign",
        campaign=campaign,
        kind=ActionKind.PAUSE_CAMPAIGN,
        describe=lambda name, _budget: (f"Pause {name}", {}),
    )


async def resume_campaign(deps: BotDeps, *, campaign: str) -> Reply:
    """Ask for approval to resume a paused campaign; returns the approval card."""
    return await _propose(
        deps,
        "resume_campaign",
        campaign=campaign,
        kind=ActionKind.RESUME_CAMPAIGN,
        describe=lambda name, _budget: (f"Resume {name}", {}),
    )


async def launch_campaign(deps: BotDeps, *, campaign: str) -> Reply:
    """Ask for approval to launch a draft campaign; returns the approval card."""
    return await _propose(
        deps,
        "launch_campaign",
        campaign=campaign,
        kind=ActionKind.LAUNCH_CAMPAIGN,
        describe=lambda name, _budget: (f"Launch {name}", {}),
    )


def new_budget(
    current: Decimal | None, *, amount: Decimal | None, percent: Decimal | None
) -> Decimal:
    """The target daily budget from an absolute amount or a relative percent; never <= 0."""
    if (amount is None) == (percent is None):
        raise ValidationFailed("Give either a new amount or a percent change.", field="amount")
    if amount is not None:
        _check_amount(amount)
        target = amount
    else:
        assert percent is not None
        _check_percent(percent)
        if current is None:
            raise ValidationFailed(
                "This campaign has no daily budget to change by a percent; give an amount.",
                field="percent",
            )
        target = (current * (Decimal(100) + percent) / Decimal(100)).quantize(
            _CENT, rounding=ROUND_HALF_UP
        )
    if not target.is_finite() or target <= 0:
        raise ValidationFailed("A daily budget must be a positive amount.", field="amount")
    return target


def _check_amount(amount: Decimal) -> None:
    # Bounded before any arithmetic: a 29-digit amount overflows decimal's 28-digit context.
    if not amount.is_finite() or not 0 < amount <= MAX_DAILY_BUDGET:
        raise ValidationFailed(
            f"That budget is not a valid amount (a daily budget is above 0 and at most "
            f"{MAX_DAILY_BUDGET:,}).",
            field="amount",
        )
    if amount != amount.quantize(_CENT):
        raise ValidationFailed(
            "That budget is not a valid amount (at most 2 decimal places).", field="amount"
        )


def _check_percent(percent: Decimal) -> None:
    if not percent.is_finite() or not MIN_PERCENT < percent <= MAX_PERCENT:
        shown = f"{percent:+}%" if percent.is_finite() and percent.adjusted() < 12 else "that"
        raise ValidationFailed(
            f"A budget change must be above {MIN_PERCENT}% and at most +{MAX_PERCENT}% "
            f"(you gave {shown}).",
            field="percent",
        )


async def change_budget(
    deps: BotDeps,
    *,
    campaign: str,
    amount: Decimal | None = None,
    percent: Decimal | None = None,
) -> Reply:
    """Ask for approval to set a campaign's daily budget (amount) or change it (percent)."""

    def describe(name: str, current: Decimal | None) -> tuple[str, dict[str, Any]]:
        target = new_budget(current, amount=amount, percent=percent)
        was = f" (from {current:,.2f})" if current is not None else ""
        summary = f"Set the daily budget of {name} to {target:,.2f}{was}"
        return summary, {"daily_budget": str(target)}

    return await _propose(
        deps,
        "change_budget",
        campaign=campaign,
        kind=ActionKind.SET_BUDGET,
        describe=describe,
    )


# --- approvals --------------------------------------------------------------------------------


async def list_approvals(deps: BotDeps) -> Reply:
    """List the approvals still waiting for a decision, with their codes."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        # The embedded mode has no worker sweeping: settle this org's overdue cards first.
        await approvals.expire_overdue(session=session, org_id=deps.org_id)
        pending = await approvals.list_pending(session=session, org_id=deps.org_id)
        if not pending:
            return Reply(text="Nothing is waiting for approval.")
        rows = [
            [
                action.short_code,
                action.summary,
                action.required_role,
                f"{action.expires_at:%m-%d %H:%M}",
            ]
            for action in pending
        ]
        table = Table(columns=["code", "action", "approver", "expires (UTC)"], rows=rows)
        return Reply(text=f"{len(pending)} waiting for approval:", table=table)

    return await call_tool(deps, "list_approvals", {}, work)


async def decide(deps: BotDeps, *, code: str, approve: bool) -> Reply:
    """Approve or reject by code. Commands and buttons only: the agent has no such tool."""

    async def work(session: AsyncSession, user: User) -> Reply:
        result = await flows.decide(
            session=session,
            org_id=deps.org_id,
            action_ref=code,
            user=user,
            approve=approve,
            channel=deps.channel,
            registry=deps.registry,
        )
        card = card_from_action(result.action, status_line=result.message)
        return Reply(text=result.message, card=card)

    return await call_tool(deps, "decide", {"code": code, "approve": approve}, work)


async def undo(deps: BotDeps, *, code: str) -> Reply:
    """Propose the inverse of an executed action; the undo needs approval too."""

    async def work(session: AsyncSession, user: User) -> Reply:
        action = await flows.undo(
            session=session,
            org_id=deps.org_id,
            action_ref=code,
            user=user,
            channel=deps.channel,
            origin_conversation=deps.conversation_id,
        )
        policy = await approval_policy.load_policy(session=session, org_id=deps.org_id)
        card = card_from_action(action, two_person_rule=policy.two_person_rule)
        return Reply(text=f"Undo requested: {action.summary}", card=card)

    return await call_tool(deps, "undo", {"code": code}, work)


# --- rules ------------------------------------------------------------------------------------


class RuleDraft(BaseModel):
    """A rule in the compact form: conditions like 'cpa last_3d > 50'."""

    name: str = Field(min_length=1, max_length=200)
    conditions: list[str] = Field(min_length=1, max_length=8)
    action: Literal["notify", "pause", "resume", "change_budget"] = "notify"
    percent: Decimal | None = Field(default=None, ge=-90, le=200)
    mode: Literal["notify", "approve", "auto"] = "approve"
    platforms: list[Literal["google", "meta", "tiktok", "sandbox"]] = Field(default_factory=list)

    def as_rule_input(self) -> dict[str, Any]:
        action: dict[str, Any] = {"type": self.action}
        if self.percent is not None:
            action["percent"] = str(self.percent)
        scope: dict[str, Any] = {"kind": "platform", "platforms": self.platforms}
        return {
            "name": self.name,
            "conditions": list(self.conditions),
            "action": action,
            "mode": self.mode,
            "scope": scope if self.platforms else {"kind": "all"},
        }


class AgentRuleDraft(RuleDraft):
    """What the model may propose: never auto mode, which acts with no human in the loop.

    Core already refuses auto mode to anyone but an admin; this keeps a prompt injection
    from even asking on an admin's behalf.
    """

    mode: Literal["notify", "approve", "auto"] = "approve"

    @field_validator("mode")
    @classmethod
    def _no_auto(cls, mode: str) -> str:
        if mode == "auto":
            raise ValueError("auto mode is set deliberately by an admin, not by the assistant")
        return mode


def rule_from_command(command: RuleAdd) -> RuleDraft:
    """Compile `rule add ...` into the compact rule form core validates."""
    conditions = [
        f"{c.metric} {_rule_window(c.window)} {c.operator} {c.value}" for c in command.conditions
    ]
    action = "change_budget" if command.action == "budget" else command.action
    mode = command.mode or ("notify" if action == "notify" else "approve")
    return RuleDraft(
        name=command.name,
        conditions=conditions,
        action=action,
        percent=command.percent,
        mode=mode,
    )


def _rule_window(window: str) -> str:
    return {
        "3d": "last_3d",
        "7d": "last_7d",
        "14d": "last_14d",
        "30d": "last_30d",
        "week": "last_7d",
    }.get(window, window)


async def list_rules(deps: BotDeps) -> Reply:
    """List the org's automation rules with their conditions, action and mode."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.VIEW)
        found = await rules.list_rules(session=session, org_id=deps.org_id)
        if not found:
            return Reply(text="No rules yet. Try `help` for the `rule add` syntax.")
        rows = [
            [rule.name, _rule_text(rule.spec), rule.mode, "on" if rule.enabled else "off"]
            for rule in found
        ]
        return Reply(
            text=f"{len(found)} rule(s):",
            table=Table(columns=["rule", "when / then", "mode", "state"], rows=rows),
        )

    return await call_tool(deps, "list_rules", {}, work)


def _rule_text(spec: dict[str, Any]) -> str:
    from core.rules.schemas import iter_conditions, parse_spec

    try:
        parsed = parse_spec(spec)
    except CoreError:
        return "(unreadable spec)"
    when = " and ".join(condition.text() for condition in iter_conditions(parsed.conditions))
    then = parsed.action.type + (f" {parsed.action.percent}%" if parsed.action.percent else "")
    return f"{when} -> {then}"


async def create_rule(deps: BotDeps, *, rule: RuleDraft) -> Reply:
    """Create an automation rule (needs the manage-rules permission); warns about conflicts."""

    async def work(session: AsyncSession, user: User) -> Reply:
        require(user, Permission.MANAGE_RULES)
        created = await rules.create_rule(
            session=session,
            org_id=deps.org_id,
            user=user,
            rule_in=rule.as_rule_input(),
            channel=deps.channel,
        )
        text = f"Rule *{created.rule.name}* created ({created.rule.mode})."
        if created.warnings:
            text += "\n" + "\n".join(f"Warning: {warning}" for warning in created.warnings)
        return Reply(text=text)

    return await call_tool(deps, "create_rule", rule.model_dump(mode="json"), work)


# --- copy and identity ------------------------------------------------------------------------


async def generate_ad_copy(
    deps: BotDeps,
    *,
    product: str,
    platform: Literal["google", "meta", "tiktok"] = "google",
    tone: str | None = None,
    count: int = 3,
) -> Reply:
    """Write ad copy variants for a product within the platform's length limits."""
    # Imported here: the copy agent is pydantic-ai, which command-only turns never load.
    from bot.ai_copy import generate

    return await generate.ad_copy_reply(
        deps, product=product, platform=platform, tone=tone, count=count
    )


async def link_identity(deps: BotDeps, *, code: str) -> Reply:
    """Linking a chat account happens before identity is known; point to the web settings."""
    return Reply(
        text="This chat is already linked to your AdPilot user. To link another chat account, "
        "create a one-time code on the web settings page and send `link CODE` from that chat."
    )
