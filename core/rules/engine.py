"""Judging rules over already aggregated figures: scope, guards, conditions, cooldown, caps.

Pure functions, no I/O: the live cycle feeds them SQL aggregates, the backtest feeds them
figures replayed from daily rows, the property test feeds them brute-force sums.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from core.metrics.kpis import Totals
from core.rules.schemas import (
    Condition,
    Group,
    RuleSpec,
    WindowKey,
    guard_window,
    rule_windows,
    window_key,
)

CENT = Decimal("0.01")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_EMPTY = Totals()
Obs = dict[str, str]


@dataclass(slots=True)
class CampaignFacts:
    """One campaign as rules see it: attributes plus summed figures per window."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    platform: str
    status: str
    timezone: str
    daily_budget: Decimal | None
    baseline_daily_budget: Decimal | None
    totals: dict[WindowKey, Totals] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledRule:
    """A stored rule with its spec parsed once per cycle."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    mode: str
    spec: RuleSpec

    @property
    def windows(self) -> set[WindowKey]:
        return rule_windows(self.spec)


@dataclass(frozen=True)
class ProposedAction:
    """What a firing would do, in the approvals service's vocabulary."""

    kind: str
    arguments: dict[str, str]
    before_state: dict[str, str | None]
    summary: str


@dataclass(frozen=True)
class Firing:
    rule_id: uuid.UUID
    rule_name: str
    org_id: uuid.UUID
    mode: str
    scope_key: str
    campaign_id: uuid.UUID | None
    campaign_ids: tuple[uuid.UUID, ...]
    observed: dict[str, str]
    message: str
    action: ProposedAction | None
    at: datetime


def fmt(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    text = f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def in_scope(spec: RuleSpec, campaign: CampaignFacts) -> bool:
    """Whether the campaign's name/platform/id fall inside the rule's scope."""
    scope = spec.scope
    if scope.platforms and campaign.platform not in scope.platforms:
        return False
    if scope.kind == "campaigns":
        wanted = {item.strip().lower() for item in scope.campaigns}
        return campaign.name.lower() in wanted or str(campaign.id) in wanted
    if scope.kind == "name_contains":
        return (scope.contains or "").strip().lower() in campaign.name.lower()
    return True


def eligible_status(spec: RuleSpec) -> frozenset[str]:
    # Resume acts on paused campaigns; blended sums include paused members' spend too.
    if spec.scope.blended:
        return frozenset({"active", "paused"})
    return frozenset({"paused"} if spec.action.type == "resume" else {"active"})


class _Subject:
    """Figures a rule reads for one scope (a campaign, or a blended sum of several)."""

    def __init__(self, members: Sequence[CampaignFacts]) -> None:
        self.members = members
        self._cache: dict[WindowKey, Totals] = {}

    def totals(self, key: WindowKey) -> Totals:
        cached = self._cache.get(key)
        if cached is None:
            if len(self.members) == 1:
                cached = self.members[0].totals.get(key, _EMPTY)
            else:
                cached = sum((m.totals.get(key, _EMPTY) for m in self.members), _EMPTY)
            self._cache[key] = cached
        return cached

    def value(self, metric: str, key: WindowKey) -> Decimal | None:
        if metric == "daily_budget":
            budgets = [m.daily_budget for m in self.members if m.daily_budget is not None]
            return sum(budgets, Decimal(0)) if budgets else None
        return self.totals(key).metric(metric)


def _check(
    spec: RuleSpec, node: Group | Condition, subject: _Subject, seen: list[str], observed: Obs
) -> bool:
    if isinstance(node, Group):
        results = (_check(spec, child, subject, seen, observed) for child in node.children)
        return all(results) if node.combinator == "all" else any(results)
    key = window_key(spec, node.window)
    left = subject.value(node.metric, key)
    if node.compare_to is not None:
        ref = node.compare_to
        ref_key = window_key(spec, ref.window or node.window)
        ref_value = subject.value(ref.metric, ref_key)
        right = None if ref_value is None else ref.factor * ref_value
        right_text = f"{fmt(ref.factor)} x {ref.metric} {ref_key.label} = {fmt(right)}"
    else:
        right = node.threshold
        right_text = fmt(right)
    # No data (None) never satisfies a comparison: a rule cannot fire on figures it lacks.
    holds = left is not None and right is not None and _COMPARE[node.op](left, right)
    if holds:
        seen.append(f"{node.metric} {key.label} = {fmt(left)} {node.op} {right_text}")
        observed[f"{node.metric} {key.label}"] = fmt(left)
        if node.compare_to is not None:
            observed[f"{node.compare_to.metric} {ref_key.label}"] = fmt(ref_value)
    return holds


def _guards_pass(spec: RuleSpec, subject: _Subject, observed: dict[str, str]) -> bool:
    guards = spec.guards
    if guards.min_spend is None and guards.min_conversions is None:
        return True
    key = window_key(spec, guard_window(spec))
    totals = subject.totals(key)
    observed[f"spend {key.label}"] = fmt(totals.spend)
    observed[f"conversions {key.label}"] = fmt(totals.conversions)
    if guards.min_spend is not None and totals.spend < guards.min_spend:
        return False
    return guards.min_conversions is None or totals.conversions >= guards.min_conversions


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


def _scopes(
    rule: CompiledRule, campaigns: Iterable[CampaignFacts]
) -> list[tuple[str, Sequence[CampaignFacts]]]:
    statuses = eligible_status(rule.spec)
    members = [c for c in campaigns if c.status in statuses and in_scope(rule.spec, c)]
    if not rule.spec.scope.blended:
        return [(str(c.id), [c]) for c in members]
    if not members:
        return []
    return [(blended_key(rule), members)]


def blended_key(rule: CompiledRule) -> str:
    return f"blended:{rule.spec.scope.label or rule.name}"[:200]


def judge(
    rule: CompiledRule,
    campaigns: Iterable[CampaignFacts],
    *,
    now: datetime,
    last_fired: Mapping[tuple[uuid.UUID, str], datetime],
) -> list[Firing]:
    """Every scope the rule fires on now, after guards, cooldown and caps."""
    cooldown = timedelta(hours=rule.spec.limits.cooldown_hours)
    firings = []
    for scope_key, members in _scopes(rule, campaigns):
        fired_at = last_fired.get((rule.id, scope_key))
        if fired_at is not None and now - fired_at < cooldown:
            continue
        firing = _judge_scope(rule, scope_key, members, now)
        if firing is not None:
            firings.append(firing)
    return firings


def _judge_scope(
    rule: CompiledRule, scope_key: str, members: Sequence[CampaignFacts], now: datetime
) -> Firing | None:
    subject = _Subject(members)
    observed: dict[str, str] = {}
    if not _guards_pass(rule.spec, subject, observed):
        return None
    reasons: list[str] = []
    if not _check(rule.spec, rule.spec.conditions, subject, reasons, observed):
        return None
    single = members[0] if len(members) == 1 and not rule.spec.scope.blended else None
    action = propose(rule.spec, single) if single is not None else None
    if action is False:
        return None
    proposed = action if isinstance(action, ProposedAction) else None
    where = single.name if single else f"{len(members)} campaigns (blended)"
    message = f"Rule '{rule.name}' fired on {where}: " + "; ".join(reasons) + "."
    if proposed is not None:
        message += f" Proposed: {proposed.summary}."
    return Firing(
        rule_id=rule.id,
        rule_name=rule.name,
        org_id=rule.org_id,
        mode=rule.mode,
        scope_key=scope_key,
        campaign_id=single.id if single else None,
        campaign_ids=tuple(m.id for m in members),
        observed=observed,
        message=message,
        action=proposed,
        at=now,
    )
