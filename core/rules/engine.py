"""Judging rules over already aggregated figures: scope, guards, conditions, cooldown, caps.

Pure functions, no I/O: the live cycle feeds them SQL aggregates, the backtest feeds them
figures replayed from daily rows, the property test feeds them brute-force sums.
"""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, Union

from core.rules.actions import ProposedAction, budget_target, propose
from core.rules.figures import (
    FIGURES,
    ZERO,
    CampaignFacts,
    M,
    Raw,
    as_decimal,
    budget_micros,
    fmt,
    fraction,
    needed_figures,
    to_totals,
)
from core.rules.schemas import (
    Condition,
    Group,
    RuleSpec,
    WindowKey,
    guard_window,
    rule_windows,
    window_key,
)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
Obs = dict[str, str]


@dataclass(frozen=True)
class CompiledRule:
    """A stored rule with its spec parsed and its conditions compiled to closures."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    mode: str
    spec: RuleSpec

    @property
    def windows(self) -> set[WindowKey]:
        return rule_windows(self.spec)

    @cached_property
    def check(self) -> Check:
        return compile_node(self.spec, self.spec.conditions)

    @cached_property
    def guard(self) -> Check | None:
        return compile_guard(self.spec)


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

    __slots__ = ("_cache", "members")

    def __init__(self, members: Sequence[CampaignFacts]) -> None:
        self.members = members
        self._cache: dict[WindowKey, Raw] = {}

    def figures(self, key: WindowKey) -> Raw:
        cached = self._cache.get(key)
        if cached is None:
            rows = [m.raw.get(key, ZERO) for m in self.members]
            cached = (
                sum(r[0] for r in rows),
                sum(r[1] for r in rows),
                sum(r[2] for r in rows),
                sum(r[3] for r in rows),
                sum(r[4] for r in rows),
            )
            self._cache[key] = cached
        return cached

    def fraction(self, metric: str, key: WindowKey) -> tuple[int, int] | None:
        if metric == "daily_budget":
            return budget_micros(self.members)
        return fraction(metric, self.figures(key))

    def value(self, metric: str, key: WindowKey) -> Decimal | None:
        return as_decimal(self.fraction(metric, key))


def _compare(op: str, left: tuple[int, int], right: tuple[int, int]) -> bool:
    # a/b op c/d with b, d > 0  <=>  a*d op c*b
    return _COMPARE[op](left[0] * right[1], right[0] * left[1])


Subject = Union["_Subject", CampaignFacts]
Check = Callable[[Subject], bool]


def compile_node(spec: RuleSpec, node: Group | Condition) -> Check:
    """The condition tree as nested closures over exact integer ratios."""
    if isinstance(node, Group):
        children = [compile_node(spec, child) for child in node.children]
        wanted = node.combinator == "any"

        def group(subject: Subject) -> bool:
            # An explicit loop: a generator inside all()/any() costs more than the checks.
            for child in children:
                if child(subject) is wanted:
                    return wanted
            return not wanted

        return group
    return _compile_leaf(spec, node)


def _compile_leaf(spec: RuleSpec, node: Condition) -> Check:
    key, metric, compare = window_key(spec, node.window), node.metric, _COMPARE[node.op]
    ref = node.compare_to
    if ref is None:
        assert node.threshold is not None
        top, bottom = node.threshold.as_integer_ratio()

        def against_threshold(subject: Subject) -> bool:
            left = subject.fraction(metric, key)
            return left is not None and compare(left[0] * bottom, top * left[1])

        return against_threshold
    ref_key, ref_metric = window_key(spec, ref.window or node.window), ref.metric
    factor_top, factor_bottom = ref.factor.as_integer_ratio()

    def against_metric(subject: Subject) -> bool:
        left = subject.fraction(metric, key)
        base = subject.fraction(ref_metric, ref_key)
        if left is None or base is None:
            return False
        return compare(left[0] * factor_bottom * base[1], factor_top * base[0] * left[1])

    return against_metric


def _check(
    spec: RuleSpec, node: Group | Condition, subject: Subject, seen: list[str], observed: Obs
) -> bool:
    if isinstance(node, Group):
        results = (_check(spec, child, subject, seen, observed) for child in node.children)
        return all(results) if node.combinator == "all" else any(results)
    key = window_key(spec, node.window)
    left = subject.fraction(node.metric, key)
    if left is None:
        # No data never satisfies a comparison: a rule cannot fire on figures it lacks.
        return False
    ref = node.compare_to
    if ref is not None:
        ref_key = window_key(spec, ref.window or node.window)
        base = subject.fraction(ref.metric, ref_key)
        if base is None:
            return False
        factor = ref.factor.as_integer_ratio()
        right = (factor[0] * base[0], factor[1] * base[1])
    else:
        assert node.threshold is not None
        right = node.threshold.as_integer_ratio()
    if not _compare(node.op, left, right):
        return False
    _explain(spec, node, subject, seen, observed)
    return True


def _explain(
    spec: RuleSpec, node: Condition, subject: Subject, seen: list[str], observed: Obs
) -> None:
    """Only for conditions that held: formatting costs more than judging."""
    key = window_key(spec, node.window)
    left = subject.value(node.metric, key)
    ref = node.compare_to
    if ref is not None:
        ref_key = window_key(spec, ref.window or node.window)
        ref_value = subject.value(ref.metric, ref_key)
        right = None if ref_value is None else ref.factor * ref_value
        right_text = f"{fmt(ref.factor)} x {ref.metric} {ref_key.label} = {fmt(right)}"
        observed[f"{ref.metric} {ref_key.label}"] = fmt(ref_value)
    else:
        right_text = fmt(node.threshold)
    seen.append(f"{node.metric} {key.label} = {fmt(left)} {node.op} {right_text}")
    observed[f"{node.metric} {key.label}"] = fmt(left)


def compile_guard(spec: RuleSpec) -> Check | None:
    """Minimum spend/conversions as one closure over integer micros; None without guards."""
    guards = spec.guards
    if guards.min_spend is None and guards.min_conversions is None:
        return None
    key = window_key(spec, guard_window(spec))
    # Integer sums reach x exactly when they reach ceil(x): compare ints, not Decimals.
    min_spend = -1 if guards.min_spend is None else math.ceil(guards.min_spend * M)
    min_conversions = (
        -1 if guards.min_conversions is None else math.ceil(guards.min_conversions * M)
    )

    def guard(subject: Subject) -> bool:
        raw = subject.figures(key)
        return raw[2] >= min_spend and raw[3] >= min_conversions

    return guard


def _guard_figures(spec: RuleSpec, subject: Subject, observed: Obs) -> None:
    if spec.guards.min_spend is None and spec.guards.min_conversions is None:
        return
    key = window_key(spec, guard_window(spec))
    raw = subject.figures(key)
    observed[f"spend {key.label}"] = fmt(Decimal(raw[2]).scaleb(-6))
    observed[f"conversions {key.label}"] = fmt(Decimal(raw[3]).scaleb(-6))


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
    spec = rule.spec
    statuses = eligible_status(spec)
    members = [c for c in campaigns if c.status in statuses and in_scope(spec, c)]
    if spec.scope.blended:
        scopes: list[tuple[str, Sequence[CampaignFacts]]] = (
            [(blended_key(rule), members)] if members else []
        )
        return _judge_scopes(rule, scopes, now, last_fired)
    # The hot path (one campaign per scope) skips the generic scope tuples and wrappers;
    # conditions come before the cooldown lookup because most campaigns fail them.
    cooldown = timedelta(hours=spec.limits.cooldown_hours)
    check, guard = rule.check, rule.guard
    firings = []
    for campaign in members:
        if (guard is not None and not guard(campaign)) or not check(campaign):
            continue
        fired_at = last_fired.get((rule.id, campaign.scope_key))
        if fired_at is not None and now - fired_at < cooldown:
            continue
        firing = _firing(rule, campaign.scope_key, (campaign,), campaign, now)
        if firing is not None:
            firings.append(firing)
    return firings


def _judge_scopes(
    rule: CompiledRule,
    scopes: list[tuple[str, Sequence[CampaignFacts]]],
    now: datetime,
    last_fired: Mapping[tuple[uuid.UUID, str], datetime],
) -> list[Firing]:
    cooldown = timedelta(hours=rule.spec.limits.cooldown_hours)
    firings = []
    for scope_key, members in scopes:
        fired_at = last_fired.get((rule.id, scope_key))
        if fired_at is not None and now - fired_at < cooldown:
            continue
        subject: Subject = members[0] if len(members) == 1 else _Subject(members)
        if rule.guard is not None and not rule.guard(subject):
            continue
        if not rule.check(subject):
            continue
        firing = _firing(rule, scope_key, members, subject, now)
        if firing is not None:
            firings.append(firing)
    return firings


def _firing(
    rule: CompiledRule,
    scope_key: str,
    members: Sequence[CampaignFacts],
    subject: Subject,
    now: datetime,
) -> Firing | None:
    observed: dict[str, str] = {}
    reasons: list[str] = []
    # Again, slowly, only for a scope that fired: which conditions held, with their figures.
    _check(rule.spec, rule.spec.conditions, subject, reasons, observed)
    _guard_figures(rule.spec, subject, observed)
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


__all__ = [
    "FIGURES",
    "ZERO",
    "CampaignFacts",
    "CompiledRule",
    "Firing",
    "ProposedAction",
    "Raw",
    "budget_target",
    "fmt",
    "judge",
    "needed_figures",
    "propose",
    "to_totals",
]
