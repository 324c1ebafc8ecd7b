"""Rule validation: precise errors with the offending field, compact condition text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.errors import ValidationFailed
from core.rules.conflicts import find_conflicts
from core.rules.schemas import Condition, parse_condition, parse_rule


def _rule(**fields: Any) -> dict[str, Any]:
    return {"name": "r", "conditions": ["cpa last_7d > 50"], **fields}


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (
            _rule(conditions=["cpz last_7d > 5"]),
            "spec.conditions.all.0.metric",
            ["unknown metric 'cpz'", "cpa", "roas", "daily_budget"],
        ),
        (
            _rule(conditions=[{"metric": "cpa", "op": ">", "threshold": "fifty"}]),
            "spec.conditions.all.0.threshold",
            ["must be a number"],
        ),
        (
            _rule(conditions=[{"metric": "cpa", "op": ">", "threshold": True}]),
            "spec.conditions.all.0.threshold",
            ["not a boolean"],
        ),
        (
            _rule(action={"type": "change_budget", "percent": 250}),
            "spec.action.percent",
            ["between -90 and 200"],
        ),
        (_rule(action={"type": "change_budget", "percent": 0}), "spec.action.percent", ["not 0"]),
        (
            _rule(conditions=["cpa fortnight > 5"]),
            "spec.conditions.all.0.window",
            ["unknown window", "last_14d"],
        ),
        (
            _rule(conditions=[{"metric": "cpa", "op": "~", "threshold": 1}]),
            "spec.conditions.all.0.op",
            ["unknown operator"],
        ),
        (
            _rule(conditions={"any": [{"all": ["ctr today > 1", "cpx today > 2"]}]}),
            "spec.conditions.any.0.all.1.metric",
            ["unknown metric 'cpx'"],
        ),
        (_rule(action={"type": "set_budget"}), "spec.action", ["needs amount"]),
        (_rule(scope={"kind": "platform"}), "spec.scope", ["needs platforms"]),
        (_rule(scope={"blended": True}, action={"type": "pause"}), "spec", ["blended", "notify"]),
        (
            _rule(conditions=["spend today > 1"], guards={"exclude_today": True}),
            "spec",
            ["contradicts"],
        ),
        (_rule(guards={"lag_hours": 500}), "spec.guards.lag_hours", ["168"]),
        (_rule(conditions=["cpa last_7d >"]), "spec.conditions.all.0", ["cannot read"]),
        (_rule(mode="yolo"), "mode", ["notify", "approve", "auto"]),
    ],
)
def test_precise_validation_errors(rule: dict[str, Any], field: str, words: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_rule(rule)
    assert caught.value.field == field
    for word in words:
        assert word in caught.value.message


def test_compact_form_round_trips() -> None:
    parsed = parse_rule(
        {
            "name": "Overspend",
            "scope": {"kind": "platform", "platforms": ["Meta"]},
            "conditions": ["spend today > 2 x daily_budget", "ctr last_3d <= 0.8"],
            "action": {"type": "change_budget", "percent": "-20", "floor": 10},
            "mode": "approve",
        }
    )
    first, second = parsed.spec.conditions.children
    assert isinstance(first, Condition)
    assert isinstance(second, Condition)
    assert first.compare_to is not None
    assert first.compare_to.metric == "daily_budget"
    assert first.compare_to.factor == Decimal(2)
    assert first.text() == "spend today > 2 x daily_budget"
    assert second.text() == "ctr last_3d <= 0.8"
    assert parsed.spec.scope.platforms == ["meta"]
    assert parse_rule(parsed.model_dump(mode="json")) == parsed


def test_notify_action_forces_notify_mode_and_aliases() -> None:
    parsed = parse_rule(_rule(mode="approve", conditions=["cpa 7d gte 50"]))
    assert parsed.mode == "notify"
    assert parse_condition("roas last_3d >= 1.5") == {
        "metric": "roas",
        "op": ">=",
        "window": "last_3d",
        "threshold": "1.5",
    }


def _spec(**fields: Any):
    return parse_rule(_rule(**fields)).spec


def test_conflict_detection_names_both_rules() -> None:
    pause = _spec(conditions=["cpa last_7d > 50"], action={"type": "pause"})
    resume = _spec(conditions=["cpa last_7d < 60"], action={"type": "resume"})
    warnings = find_conflicts("Resume cheap", resume, [("Pause dear", pause)])
    assert len(warnings) == 1
    assert "'Resume cheap'" in warnings[0]
    assert "'Pause dear'" in warnings[0]
    assert "50 < cpa last_7d < 60" in warnings[0]


@pytest.mark.parametrize(
    ("other", "conflicts"),
    [
        # Disjoint thresholds on the same metric and window: hysteresis, not flapping.
        ({"conditions": ["cpa last_7d < 40"], "action": {"type": "resume"}}, False),
        ({"conditions": ["cpa last_7d <= 50"], "action": {"type": "resume"}}, False),
        ({"conditions": ["cpa last_7d == 50"], "action": {"type": "resume"}}, False),
        # Different platforms never share a campaign.
        (
            {
                "conditions": ["cpa last_7d < 60"],
                "action": {"type": "resume"},
                "scope": {"kind": "platform", "platforms": ["google"]},
            },
            False,
        ),
        # An any-group with one overlapping branch overlaps.
        (
            {
                "conditions": {"any": ["cpa last_7d < 40", "ctr last_7d > 2"]},
                "action": {"type": "resume"},
            },
            True,
        ),
        # Same direction: no conflict.
        ({"conditions": ["cpa last_7d < 60"], "action": {"type": "pause"}}, False),
    ],
)
def test_conflict_cases(other: dict[str, Any], conflicts: bool) -> None:
    pause = _spec(
        conditions=["cpa last_7d > 50"],
        action={"type": "pause"},
        scope={"kind": "platform", "platforms": ["meta"]},
    )
    assert bool(find_conflicts("new", _spec(**other), [("old", pause)])) is conflicts


def test_budget_up_and_down_conflict() -> None:
    up = _spec(conditions=["roas last_3d > 2"], action={"type": "change_budget", "percent": 20})
    down = _spec(conditions=["cpa last_3d > 30"], action={"type": "change_budget", "percent": -20})
    warnings = find_conflicts("Scale", up, [("Trim", down)])
    assert "raises what rule 'Trim' lowers" in warnings[0]
