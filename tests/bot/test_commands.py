"""The command grammar: forms, errors, typos, and fuzzing that it never raises."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import commands as c
from bot.tools import rule_from_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("help", c.Help()),
        ("/adpilot campaigns meta", c.ListCampaigns(platform="meta")),
        ("campaigns facebook", c.ListCampaigns(platform="meta")),
        ("report", c.Report(window="7d")),
        ("report 30d Summer Sale", c.Report(window="30d", campaign="Summer Sale")),
        ('pause "Summer Sale"', c.Pause(name="Summer Sale")),
        ("resume Winter Boots", c.Resume(name="Winter Boots")),
        ('budget "Summer Sale" 120', c.Budget(name="Summer Sale", amount=Decimal(120))),
        ("budget Summer Sale +20%", c.Budget(name="Summer Sale", percent=Decimal(20))),
        ("budget Summer -15%", c.Budget(name="Summer", percent=Decimal(-15))),
        ("rules", c.ListRules()),
        ("approvals", c.ListApprovals()),
        ("approve 4f2k", c.Decide(code="4F2K", approve=True)),
        ("yes 4F2K", c.Decide(code="4F2K", approve=True)),
        ("no 4F2K", c.Decide(code="4F2K", approve=False)),
        ("reject 4F2K", c.Decide(code="4F2K", approve=False)),
        ("undo 4F2K", c.Undo(code="4F2K")),
        ("link abc123", c.Link(code="abc123")),
        (
            'copy "Trail sneakers" --platform meta --tone playful',
            c.Copy(product="Trail sneakers", platform="meta", tone="playful"),
        ),
        ("pasue summer", c.Unknown(word="pasue", suggestion="pause")),
        ("how did meta do this week?", c.FreeText(text="how did meta do this week?")),
    ],
)
def test_parse(text: str, expected: c.Command) -> None:
    assert c.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["pause", "budget Summer", "budget Summer -20", "budget Summer 20%", "approve", "copy"],
)
def test_invalid_forms_explain_usage(text: str) -> None:
    assert isinstance(c.parse(text), c.Invalid)


def test_rule_add_compiles_to_core_rule_schema() -> None:
    from core.rules.schemas import parse_rule

    command = c.parse('rule add "High CPA" when cpa > 50 over 3d and spend >= 100 then pause')
    assert isinstance(command, c.RuleAdd)
    rule = parse_rule(rule_from_command(command).as_rule_input())
    assert rule.name == "High CPA"
    assert rule.mode == "approve"
    assert rule.spec.action.type == "pause"
    texts = [cond.text() for cond in rule.spec.conditions.children]  # type: ignore[union-attr]
    assert texts == ["cpa last_3d > 50", "spend last_3d >= 100"]


def test_rule_add_budget_and_mode() -> None:
    command = c.parse("rule add Scale when roas > 3 over 7d then budget +20% mode auto")
    assert isinstance(command, c.RuleAdd)
    draft = rule_from_command(command)
    assert draft.action == "change_budget"
    assert draft.percent == Decimal(20)
    assert draft.mode == "auto"


def test_rule_add_rejects_unknown_metric() -> None:
    assert isinstance(c.parse("rule add X when foo > 1 then pause"), c.Invalid)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_random_text_never_raises(text: str) -> None:
    assert c.parse(text) is not None


WORDS = st.sampled_from([*c.COMMAND_WORDS, "--platform", "--tone", "when", "then", '"', "%"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=10))
def test_command_like_input_never_raises(words: list[str]) -> None:
    assert c.parse(" ".join(words)) is not None
