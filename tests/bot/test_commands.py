"""The command grammar: forms, errors, typos, and fuzzing that every parse is well formed."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args

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
        ("report export", c.ReportExport(days=30)),
        ("report export 90d", c.ReportExport(days=90)),
        ("Report Export last_7d", c.ReportExport(days=7)),
        ("report export week", c.ReportExport(days=7)),
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
    [
        "pause",
        "budget Summer",
        "budget Summer -20",
        "budget Summer 20%",
        "approve",
        "copy",
        "report export forever",
        "report export 0d",
        "report export 400d",
        "report export 30d extra",
    ],
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


COMMAND_TYPES = get_args(c.Command)
# What each command word parses to when used rightly; used wrongly it is an Invalid.
PARSES_TO: dict[str, tuple[type, ...]] = {
    "help": (c.Help,),
    "campaigns": (c.ListCampaigns,),
    "report": (c.Report, c.ReportExport),
    "pause": (c.Pause,),
    "resume": (c.Resume,),
    "budget": (c.Budget,),
    "rules": (c.ListRules, c.RuleAdd),
    "rule": (c.RuleAdd,),
    "approvals": (c.ListApprovals,),
    "approve": (c.Decide,),
    "reject": (c.Decide,),
    "yes": (c.Decide,),
    "no": (c.Decide,),
    "undo": (c.Undo,),
    "copy": (c.Copy,),
    "link": (c.Link,),
}


def test_every_command_word_has_an_expected_parse() -> None:
    assert set(PARSES_TO) == set(c.COMMAND_WORDS)


def _assert_well_formed(text: str, command: c.Command) -> None:
    """What any parse must satisfy: a known type, stable, and carrying what its reply needs."""
    assert isinstance(command, COMMAND_TYPES)
    assert c.parse(text) == command
    if not text.strip():
        assert command == c.Help()
    if isinstance(command, c.FreeText):
        assert command.text == text.strip() != ""
    if isinstance(command, c.Unknown):
        assert command.suggestion in c.COMMAND_WORDS
    if isinstance(command, c.Invalid):
        assert command.message
        assert command.usage in ("", *c.USAGE.values())


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_any_text_parses_to_a_well_formed_command(text: str) -> None:
    _assert_well_formed(text, c.parse(text))


WORDS = st.sampled_from([*c.COMMAND_WORDS, "--platform", "--tone", "when", "then", '"', "%"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=10))
def test_a_leading_command_word_parses_to_that_command_or_its_usage(words: list[str]) -> None:
    text = " ".join(words)
    command = c.parse(text)
    _assert_well_formed(text, command)
    if words and words[0] in PARSES_TO:
        assert isinstance(command, (*PARSES_TO[words[0]], c.Invalid))
