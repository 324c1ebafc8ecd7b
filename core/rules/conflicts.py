"""Static flapping check: two rules with opposite actions that can hold at the same time.

Conditions become a small DNF of interval constraints per (metric, window). Two rules
conflict when their scopes may share a campaign and some conjunction of each can be true
together. Metric-vs-metric and != constraints are left unconstrained (conservative: they
may overlap). The result is a list of warnings, never an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import product

from core.rules.schemas import Condition, Group, RuleSpec, Scope

MAX_TERMS = 64
_INF = Decimal("Infinity")


@dataclass(frozen=True)
class Interval:
    low: Decimal = -_INF
    low_open: bool = True
    high: Decimal = _INF
    high_open: bool = True

    def meet(self, other: Interval) -> Interval:
        """The intersection: the higher low end and the lower high end (open wins a tie)."""
        if self.low != other.low:
            low, low_open = max((self.low, self.low_open), (other.low, other.low_open))
        else:
            low, low_open = self.low, self.low_open or other.low_open
        if self.high != other.high:
            high, high_open = min((self.high, self.high_open), (other.high, other.high_open))
        else:
            high, high_open = self.high, self.high_open or other.high_open
        return Interval(low, low_open, high, high_open)

    @property
    def empty(self) -> bool:
        if self.low > self.high:
            return True
        return self.low == self.high and (self.low_open or self.high_open)


def _interval(condition: Condition) -> Interval | None:
    value = condition.threshold
    if value is None or condition.op == "!=":
        return None
    return {
        ">": Interval(low=value, low_open=True),
        ">=": Interval(low=value, low_open=False),
        "<": Interval(high=value, high_open=True),
        "<=": Interval(high=value, high_open=False),
        "==": Interval(value, False, value, False),
    }[condition.op]


Term = dict[tuple[str, str], Interval]


def _conjoin(a: Term, b: Term) -> Term:
    merged = dict(a)
    for key, interval in b.items():
        merged[key] = merged[key].meet(interval) if key in merged else interval
    return merged


def dnf(node: Group | Condition) -> list[Term]:
    """Disjunction of conjunctions; capped (beyond MAX_TERMS, assume anything can hold)."""
    if isinstance(node, Condition):
        interval = _interval(node)
        return [{(node.metric, node.window): interval}] if interval else [{}]
    parts = [dnf(child) for child in node.children]
    if node.combinator == "any":
        terms = [term for part in parts for term in part]
    else:
        terms = [{}]
        for part in parts:
            terms = [_conjoin(left, right) for left, right in product(terms, part)]
            if len(terms) > MAX_TERMS:
                return [{}]
    return terms[:MAX_TERMS] if len(terms) <= MAX_TERMS else [{}]


def _satisfiable(term: Term) -> bool:
    return not any(interval.empty for interval in term.values())


def overlap(a: Group | Condition, b: Group | Condition) -> Term | None:
    """A jointly satisfiable conjunction of both condition trees, if any."""
    for left, right in product(dnf(a), dnf(b)):
        joint = _conjoin(left, right)
        if _satisfiable(joint):
            return joint
    return None


def _names(scope: Scope) -> set[str]:
    return {name.strip().lower() for name in scope.campaigns}


def _looks_like_id(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def scopes_may_overlap(a: Scope, b: Scope) -> bool:
    """False only when no campaign can be in both scopes."""
    if a.platforms and b.platforms and not set(a.platforms) & set(b.platforms):
        return False
    if a.kind == "campaigns" and b.kind == "campaigns":
        return bool(_names(a) & _names(b))
    for named, other in ((a, b), (b, a)):
        if named.kind == "campaigns" and other.kind == "name_contains":
            needle = (other.contains or "").strip().lower()
            # A campaign given by id cannot be judged without the database: assume overlap.
            return any(needle in name or _looks_like_id(name) for name in _names(named))
    return True


def direction(spec: RuleSpec) -> str | None:
    action = spec.action
    if action.type in {"pause", "resume"}:
        return action.type
    if action.type == "change_budget" and action.percent is not None:
        return "raise" if action.percent > 0 else "lower"
    return None


OPPOSITE = {"pause": "resume", "resume": "pause", "raise": "lower", "lower": "raise"}
VERB = {"pause": "pauses", "resume": "resumes", "raise": "raises", "lower": "lowers"}


def _describe(term: Term) -> str:
    parts = []
    for (metric, window), interval in sorted(term.items()):
        low = (
            "" if interval.low == -_INF else f"{interval.low} {'<' if interval.low_open else '<='} "
        )
        high = (
            ""
            if interval.high == _INF
            else f" {'<' if interval.high_open else '<='} {interval.high}"
        )
        parts.append(f"{low}{metric} {window}{high}")
    return " and ".join(parts) if parts else "the same data"


def find_conflicts(name: str, spec: RuleSpec, others: Iterable[tuple[str, RuleSpec]]) -> list[str]:
    """Warnings naming both rules when `spec` and another rule would flip the same campaigns."""
    mine = direction(spec)
    if mine is None:
        return []
    warnings = []
    for other_name, other in others:
        if other_name == name or direction(other) != OPPOSITE[mine]:
            continue
        if not scopes_may_overlap(spec.scope, other.scope):
            continue
        joint = overlap(spec.conditions, other.conditions)
        if joint is None:
            continue
        warnings.append(
            f"Rule '{name}' {VERB[mine]} what rule '{other_name}' {VERB[OPPOSITE[mine]]} on "
            f"overlapping campaigns, and both can hold when {_describe(joint)}: "
            "they may flap back and forth."
        )
    return warnings
