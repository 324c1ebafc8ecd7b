"""Bad chat input gets a clear line, never the generic error: the issue's fuzz findings."""

from __future__ import annotations

import json
import unicodedata

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select

from bot import errors as bot_errors
from bot.ai_copy import generate
from bot.calls import call_tool
from bot.engine import Bot
from bot.replies import Reply
from bot.text_input import MAX_MESSAGE_CHARS, MessageTooLong, clean, message_text
from core.audit.models import AuditLog
from core.config import Settings
from core.db import Database
from core.orgs.models import Organization
from core.ports import PlatformRegistry
from tests.bot.conftest import World

# --- the edge: one cleaning step for every channel ----------------------------------------------


def test_clean_strips_nul_controls_and_lone_surrogates() -> None:
    assert clean("pause \x00Summer\x07 Sale\x1b\x7f") == "pause Summer Sale"
    assert clean("a\ud800b\udfffc") == "abc"
    # A valid pair (as a UTF-16 source delivers it) becomes its one character.
    assert clean("\ud83d\ude00") == "\U0001f600"
    assert clean("line one\r\nline\ttwo\r") == "line one\nline\ttwo\n"


def test_clean_is_nfc() -> None:
    decomposed = "Cafe\u0301 Ads"
    assert clean(decomposed) == "Café Ads"
    assert unicodedata.is_normalized("NFC", clean(decomposed))


def test_message_length_is_capped_after_cleaning() -> None:
    assert message_text("x" * MAX_MESSAGE_CHARS) == "x" * MAX_MESSAGE_CHARS
    # NULs do not count: they are gone before the length is measured.
    assert len(message_text("x" * MAX_MESSAGE_CHARS + "\x00" * 10)) == MAX_MESSAGE_CHARS
    with pytest.raises(MessageTooLong) as caught:
        message_text("x" * (MAX_MESSAGE_CHARS + 1))
    assert caught.value.message == (
        "That message is too long (4,001 characters; the limit is 4,000). Please shorten it."
    )


# --- the findings, end to end through Bot on SQLite and PostgreSQL -----------------------

NINE_CONDITIONS = " and ".join(["cpa > 5"] * 9)

FINDINGS = [
    ("pause \x00", "Which campaign?"),
    ("pause \ud800", "Which campaign?"),
    ("budget 'Summer Sale' 12345678901234567890123456789", "That budget is not a valid amount"),
    ("budget 'Summer Sale' 1" + "0" * 40, "That budget is not a valid amount"),
    ("budget 'Summer Sale' 12.345", "at most 2 decimal places"),
    ("budget 'Summer Sale' +1" + "0" * 40 + "%", "A budget change must be above -100%"),
    ("budget 'Summer Sale' +5000%", "at most +1000% (you gave +5000%)"),
    (
        "rule add '" + "x" * 250 + "' when cpa > 50 then pause",
        "A rule name can be at most 200 characters (you gave 250).",
    ),
    (
        f"rule add 'r' when {NINE_CONDITIONS} then pause",
        "A rule can have at most 8 conditions (you gave 9).",
    ),
    (
        "rule add 'r' when cpa > 5 then budget +500%",
        "A budget change must be at most 200% (you gave 500%).",
    ),
    ("copy '" + "x" * 400 + "'", "at most 300 characters (you gave 400)"),
    ("copy shoes --tone '" + "y" * 61 + "'", "The tone can be at most 60 characters (you gave 61)"),
    ("x" * 5000, "That message is too long (5,000 characters; the limit is 4,000)."),
]


@pytest.mark.parametrize(("text", "expected"), FINDINGS)
async def test_each_finding_gets_its_own_clear_line(
    bot: Bot, world: World, text: str, expected: str
) -> None:
    reply = await bot.handle_text(world.ctx(), text)
    assert reply.text != bot_errors.UNEXPECTED.text
    assert reply.is_error
    assert expected in reply.text


async def test_a_nul_inside_a_name_still_reaches_the_campaign_and_its_audit_row(
    bot: Bot, world: World, database: Database
) -> None:
    # On PostgreSQL the NUL used to abort the transaction and lose the audit row with it.
    reply = await bot.handle_text(world.ctx(), 'pause "Winter\x00 Boots\ud800"')
    assert reply.card is not None, reply.text
    async with database.tenant(world.org_id) as session:
        rows = (
            await session.scalars(
                select(AuditLog).where(AuditLog.action == "bot.tool.pause_campaign")
            )
        ).all()
    assert [row.after for row in rows] == [
        {"arguments": {"campaign": "Winter Boots"}, "outcome": "ok"}
    ]


async def test_an_unexpected_failure_is_audited_with_clean_arguments(
    bot: Bot, world: World, database: Database
) -> None:
    async def broken(*_: object) -> Reply:
        raise RuntimeError("boom")

    # The agent's arguments never pass the message edge: the audit path cleans them itself.
    arguments = {"campaign": "a\x00b", "rule": {"conditions": ["cpa\x00 > 1", "\ud800x"]}}
    with pytest.raises(RuntimeError):
        await call_tool(bot.deps(world.ctx()), "create_rule", arguments, broken)
    async with database.tenant(world.org_id) as session:
        row = await session.scalar(select(AuditLog).where(AuditLog.action.like("bot.tool.%")))
    assert row is not None
    assert row.after == {
        "arguments": {"campaign": "ab", "rule": {"conditions": ["cpa > 1", "x"]}},
        "outcome": "error",
    }


async def test_an_over_long_message_is_refused_before_any_work(
    bot: Bot, world: World, database: Database
) -> None:
    reply = await bot.handle_text(world.ctx(), "pause " + "Winter Boots " * 400)
    assert "too long" in reply.text
    async with database.tenant(world.org_id) as session:
        assert await session.scalar(select(AuditLog).limit(1)) is None


async def test_unlinked_and_decision_entries_clean_their_input_too(bot: Bot, world: World) -> None:
    reply = await bot.handle_unlinked(
        channel="telegram", workspace="", external_user_id="u\x001", text="x" * 4001
    )
    assert "too long" in reply.text
    reply = await bot.handle_decision(world.ctx(), "AB\x00CD\ud800", approve=True)
    assert reply.text != bot_errors.UNEXPECTED.text
    assert "ABCD" in reply.text


# --- the copy agent has usage limits like the chat agent -----------------------------------------


def _copy_that_fits(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    args = {"headlines": ["Run lighter"], "texts": ["Trail sneakers with grip."]}
    tool = info.output_tools[0].name
    return ModelResponse(parts=[ToolCallPart(tool, json.dumps(args), tool_call_id="o")])


async def test_copy_agent_stops_at_the_turn_token_budget(
    database: Database, registry: PlatformRegistry, settings: Settings, world: World
) -> None:
    tight = settings.model_copy(update={"llm_max_tokens_per_turn": 10})
    bot = Bot(
        database=database,
        registry=registry,
        settings=tight,
        model=FunctionModel(_copy_that_fits),
    )
    reply = await bot.handle_text(world.ctx(), "copy sneakers")
    assert reply.text == generate.GAVE_UP
    async with database.tenant(world.org_id) as session:
        org = await session.get(Organization, world.org_id)
        assert org is not None
        # Stopped by the limit means not generated: the quota reservation is refunded.
        assert org.ai_generations_used == 0


def test_copy_usage_limits_follow_settings(settings: Settings) -> None:
    limits = generate.copy_usage_limits(settings)
    assert limits.total_tokens_limit == settings.llm_max_tokens_per_turn
    assert limits.request_limit == generate.COPY_RETRIES + 1


# --- the one mapping place: whatever slips past the grammar still gets a specific line -----------


async def test_the_guard_maps_validation_and_arithmetic_errors(bot: Bot) -> None:
    from decimal import Decimal, InvalidOperation

    from bot.tools import RuleDraft

    async def nine_conditions() -> Reply:
        RuleDraft(name="r", conditions=["cpa last_3d > 1"] * 9)
        raise AssertionError("unreachable")

    async def huge_quantize() -> Reply:
        Decimal("1e40").quantize(Decimal("0.01"))
        raise AssertionError("unreachable")

    reply = await bot._guard(nine_conditions())
    assert reply.text == "A rule can have at most 8 conditions (you gave 9)."
    with pytest.raises(InvalidOperation):
        Decimal("1e40").quantize(Decimal("0.01"))
    reply = await bot._guard(huge_quantize())
    assert reply == bot_errors.NOT_A_NUMBER


async def test_a_rule_name_used_twice_is_a_conflict_even_outside_ascii(
    bot: Bot, world: World
) -> None:
    # Found by the fuzz: SQLite's lower() folds ASCII only, so the duplicate check missed
    # "ÐELTA" and the unique constraint answered with the generic error.
    rule = "rule add 'ÐELTA Ü' when cpa > 5 then pause"
    first = await bot.handle_text(world.ctx(), rule)
    assert not first.is_error, first.text
    second = await bot.handle_text(world.ctx(), rule)
    assert second.is_error
    assert "exists already" in second.text
