"""The budget cap per campaign over a rolling window, counting pending cards.

A per-card cap of +50 % let a manager raise 40 to 4,228 a day in 12 cards. Here the cap is on
the level: within any window (24 h by default) a campaign's daily budget may rise at most
`max_budget_change_percent` above its *baseline*, the budget it had when the window began.
The baseline is the before-state of the earliest budget change executed in the window (our
own record of what was approved), or the budget now when none was; so cutting a budget and
raising it again does not reset anything. Open cards reserve their increase: a card is
refused when the budget now, plus every open card's increase, plus its own would pass the cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.models import ActionStatus, PendingAction
from core.approvals.policy import ApprovalPolicy
from core.approvals.schemas import ActionKind, budget_of
from core.base import utcnow
from core.campaigns.models import Campaign
from core.errors import ValidationFailed


@dataclass(frozen=True)
class BudgetAllowance:
    """What the window allows one campaign, and what is already spoken for."""

    baseline: Decimal
    ceiling: Decimal
    current: Decimal
    pending: Decimal = Decimal(0)
    pending_codes: list[str] = field(default_factory=list)

    @property
    def committed(self) -> Decimal:
        """The budget the campaign reaches if every open card runs."""
        return self.current + self.pending

    @property
    def left(self) -> Decimal:
        return max(self.ceiling - self.committed, Decimal(0))


async def _baseline(session: AsyncSession, campaign: Campaign, since: datetime) -> Decimal | None:
    """The budget the window is measured from; None only while the campaign has none at all.

    A window that began without a daily budget (none, or 0) is measured from the first budget
    a card set in it: the first budget from nothing passes the approval threshold (admin above
    it), every raise after it is capped from there. Otherwise "no baseline" would switch the
    cap off for the whole window.
    """
    query = (
        select(PendingAction.before_state, PendingAction.arguments)
        .where(
            PendingAction.org_id == campaign.org_id,
            PendingAction.campaign_id == campaign.id,
            PendingAction.kind == ActionKind.SET_BUDGET.value,
            PendingAction.status == ActionStatus.EXECUTED,
            PendingAction.executed_at >= since,
        )
        .order_by(PendingAction.executed_at, PendingAction.id)
        .limit(1)
    )
    first = (await session.execute(query)).first()
    if first is None:
        return campaign.daily_budget or None
    before_state, arguments = first
    return budget_of(before_state) or Decimal(str(arguments["daily_budget"]))


async def _open_increases(
    session: AsyncSession, campaign: Campaign, *, exclude: uuid.UUID | None, now: datetime
) -> list[tuple[str, Decimal]]:
    """(short code, increase) of every open budget card on the campaign that raises it."""
    query = select(PendingAction).where(
        PendingAction.org_id == campaign.org_id,
        PendingAction.campaign_id == campaign.id,
        PendingAction.kind == ActionKind.SET_BUDGET.value,
        or_(
            (PendingAction.status == ActionStatus.PENDING) & (PendingAction.expires_at > now),
            # Claimed and on its way to the platform.
            PendingAction.status == ActionStatus.APPROVED,
        ),
    )
    if exclude is not None:
        query = query.where(PendingAction.id != exclude)
    increases = []
    for card in await session.scalars(query.order_by(PendingAction.created_at)):
        before = budget_of(card.before_state) or Decimal(0)
        step = Decimal(card.arguments["daily_budget"]) - before
        if step > 0:
            increases.append((card.short_code, step))
    return increases


async def allowance(
    *,
    session: AsyncSession,
    policy: ApprovalPolicy,
    campaign: Campaign,
    exclude: uuid.UUID | None = None,
    now: datetime | None = None,
) -> BudgetAllowance | None:
    """The campaign's allowance in the current window (None: no budget to measure against)."""
    moment = now or utcnow()
    baseline = await _baseline(session, campaign, moment - policy.budget_window)
    if not baseline or campaign.daily_budget is None:
        return None
    increases = await _open_increases(session, campaign, exclude=exclude, now=moment)
    return BudgetAllowance(
        baseline=baseline,
        ceiling=baseline * (100 + policy.max_budget_change_percent) / 100,
        current=campaign.daily_budget,
        pending=sum((step for _, step in increases), Decimal(0)),
        pending_codes=[code for code, _ in increases],
    )


async def check_window_cap(
    *,
    session: AsyncSession,
    policy: ApprovalPolicy,
    campaign: Campaign,
    new_budget: Decimal,
    exclude: uuid.UUID | None = None,
) -> None:
    """Refuse a raise that would take the campaign past its window's cap; cuts always pass."""
    current = campaign.daily_budget
    if current is None or new_budget <= current:
        return
    found = await allowance(session=session, policy=policy, campaign=campaign, exclude=exclude)
    if found is None or found.committed + (new_budget - current) <= found.ceiling:
        return
    raise ValidationFailed(
        _refusal(policy, campaign, found, new_budget - current), field="daily_budget"
    )


def _refusal(
    policy: ApprovalPolicy, campaign: Campaign, found: BudgetAllowance, asked: Decimal
) -> str:
    hours = policy.budget_window.total_seconds() / 3600
    used = found.committed - found.baseline
    parts = [f"executed {_signed(found.current - found.baseline)}"]
    if found.pending_codes:
        parts.append(f"pending cards {', '.join(found.pending_codes)} {_signed(found.pending)}")
    return (
        f"Budget limit for {campaign.name!r}: at most +{policy.max_budget_change_percent}% "
        f"over {found.baseline:,.2f} (its budget {hours:g} h ago) per {hours:g} h, so up to "
        f"{found.ceiling:,.2f}/day. Used: {max(used, Decimal(0)):,.2f} ({'; '.join(parts)}); "
        f"left: {found.left:,.2f}; this card asks {_signed(asked)}."
    )


def _signed(amount: Decimal) -> str:
    return f"{amount:+,.2f}"
