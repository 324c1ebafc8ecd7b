"""Fuzz: arbitrary text through the whole Bot turn (SQLite and PostgreSQL), never the generic error.

The generic "something went wrong" is for bugs; every input a person can type must get a
specific answer. Text includes NUL, every control character and lone surrogates (codec=None,
no category excluded), grammar words with random arguments, huge numbers and over-long
messages.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import commands
from bot import errors as bot_errors
from bot.engine import Bot
from bot.text_input import MAX_MESSAGE_CHARS
from tests.bot.conftest import World

ANY_CHAR = st.characters(codec=None, exclude_categories=())
GRAMMAR_WORDS = st.sampled_from(
    [*commands.COMMAND_WORDS, "rule add", "/adpilot", "adpilot budget", "approvals"]
)
ARGUMENT = st.one_of(
    st.text(ANY_CHAR, max_size=20),
    st.from_regex(r"[+-]?[0-9]{1,45}(\.[0-9]{1,30})?%?", fullmatch=True),
    st.sampled_from(
        [
            '"Summer Sale"',
            "'Winter Boots'",
            '"',
            "when",
            "then",
            "and",
            "over",
            "mode",
            "auto",
            "cpa",
            "roas",
            ">",
            "<=",
            "3d",
            "30d",
            "pause",
            "budget",
            "--platform",
            "--tone",
            "--count",
            "meta",
            "tiktok",
        ]
    ),
)
NUMBER = st.from_regex(r"-?[0-9]{1,45}(\.[0-9]{1,30})?", fullmatch=True)
SIGNED = st.from_regex(r"[+-][0-9]{1,45}(\.[0-9]{1,30})?", fullmatch=True)
CAMPAIGN = st.one_of(
    st.sampled_from(['"Summer Sale"', "'Winter Boots'"]), st.text(ANY_CHAR, max_size=20)
)
# Well-formed commands with wild values reach the tools, not just the grammar's refusals.
BUDGET_TEXT = st.builds(
    lambda name, number: f"budget {name} {number}",
    CAMPAIGN,
    st.one_of(NUMBER, SIGNED.map(lambda number: f"{number}%")),
)
CONDITION = st.builds(
    lambda metric, op, number, window: f"{metric} {op} {number} over {window}",
    st.sampled_from(commands.RULE_METRICS),
    st.sampled_from(commands.OPERATORS),
    NUMBER,
    st.sampled_from(["3d", "7d", "today", "30d"]),
)
RULE_TEXT = st.builds(
    lambda name, conditions, action, mode: (
        f'rule add "{name}" when {" and ".join(conditions)} then {action}{mode}'
    ),
    st.text(ANY_CHAR, max_size=260).map(lambda name: name.replace('"', "")),
    st.lists(CONDITION, min_size=1, max_size=11),
    st.one_of(st.sampled_from(["pause", "notify"]), SIGNED.map(lambda n: f"budget {n}%")),
    st.sampled_from(["", " mode approve", " mode auto", " mode notify"]),
)
COPY_TEXT = st.builds(
    lambda product, tone, count: f'copy "{product}" --tone "{tone}" --count {count}',
    st.text(ANY_CHAR, max_size=400).map(lambda text: text.replace('"', "")),
    st.text(ANY_CHAR, max_size=80).map(lambda text: text.replace('"', "")),
    st.integers(0, 12),
)
COMMAND_TEXT = st.builds(
    lambda head, args: " ".join([head, *args]), GRAMMAR_WORDS, st.lists(ARGUMENT, max_size=14)
)
NEAR_LIMIT = st.builds(
    lambda filler, size: (filler * size)[:size],
    st.sampled_from(["x", "\x00", "é", "pause ", string.digits]),
    st.integers(MAX_MESSAGE_CHARS - 5, MAX_MESSAGE_CHARS + 50),
)
MESSAGE = st.one_of(
    st.text(ANY_CHAR, max_size=300), COMMAND_TEXT, BUDGET_TEXT, RULE_TEXT, COPY_TEXT, NEAR_LIMIT
)


@settings(
    max_examples=80,
    deadline=None,
    # `world` is seeded once per test; each example adds at most a card, a rule or an audit row.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=MESSAGE)
async def test_no_text_turn_ends_in_the_generic_error(bot: Bot, world: World, text: str) -> None:
    reply = await bot.handle_text(world.ctx(), text)
    assert reply.text != bot_errors.UNEXPECTED.text, repr(text)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(code=st.text(ANY_CHAR, max_size=60), approve=st.booleans())
async def test_no_decision_ends_in_the_generic_error(
    bot: Bot, world: World, code: str, approve: bool
) -> None:
    reply = await bot.handle_decision(world.ctx("manager"), code, approve=approve)
    assert reply.text != bot_errors.UNEXPECTED.text, repr(code)
