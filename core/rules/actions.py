"""What a firing proposes: pause, resume, or a budget within floor, ceiling and cap."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from core.rules.figures import CampaignFacts, fmt
from core.rules.schemas import RuleSpec

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ProposedAction:
    """What a firing would do, in the approvals service's vocabulary."""

    kind: str
    arguments: dict[str, str]
    before_state: dict[str, str | None]
    summary: str


def budget_target(spec: RuleSpec, campaign: CampaignFacts) -> Decimal | None:
    """The new daily budget after floor, ceiling and the cumulative cap; None if no move."""
    action, current = spec.action, campaign.daily_budget
    if current is None:
        return None
    if action.type == "change_budget" and action.percent is not None:
        target = current * (1 + action.percent / 100)
    elif action.type == "set_budget" and action.amount is not None:
        target = action.amount
    else:
        return None
    if action.floor is not None:
        target = max(target, action.floor)
    if action.ceiling is not None:
        target = min(target, action.ceiling)
    if spec.limits.max_budget_multiple is not None:
        baseline = campaign.baseline_daily_budget or current
        target = min(target, spec.limits.max_budget_multiple * baseline)
    target = target.quantize(CENT, rounding=ROUND_HALF_EVEN)
    raising = action.type == "set_budget" or (action.percent or 0) > 0
    lowering = action.type == "set_budget" or (action.percent or 0) < 0
    if target == current or (target > current and not raising):
        return None
    if target < current and not lowering:
        return None
    return target


def propose(spec: RuleSpec, campaign: CampaignFacts) -> ProposedAction | bool | None:
    """The action for one campaign; False when it has nothing left to do (e.g. at its cap)."""
    kind = spec.action.type
    if kind == "notify":
        return None
    args = {"campaign_id": str(campaign.id)}
    budget = campaign.daily_budget
    before: dict[str, str | None] = {
        "status": campaign.status,
        "daily_budget": None if budget is None else f"{budget:f}",
    }
    if kind in {"pause", "resume"}:
        verb = "Pause" if kind == "pause" else "Resume"
        return ProposedAction(f"{kind}_campaign", args, before, f"{verb} {campaign.name}")
    target = budget_target(spec, campaign)
    if target is None:
        return False
    summary = f"Set daily budget of {campaign.name} from {fmt(campaign.daily_budget)} to {target}"
    return ProposedAction("set_budget", {**args, "daily_budget": str(target)}, before, summary)
