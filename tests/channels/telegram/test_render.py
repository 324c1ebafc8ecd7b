"""Replies as Telegram messages: 4,096-character chunks on line ends, compact button data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.replies import ApprovalCard
from channels.telegram.render import (
    MAX_TEXT,
    card_keyboard,
    card_text,
    parse_callback,
)
from channels.telegram.webhook import command_text
from channels.text_chunks import split_text


def test_long_text_splits_on_line_ends_and_loses_nothing() -> None:
    lines = [f"campaign {n:04d}: spend 123.45, ROAS 2.1" for n in range(400)]
    text = "\n".join(lines)
    chunks = split_text(text, MAX_TEXT)
    assert len(chunks) > 1
    assert all(len(chunk) <= MAX_TEXT for chunk in chunks)
    assert "\n".join(chunks).splitlines() == lines  # every line whole, in order


def test_a_line_longer_than_a_message_is_cut_hard() -> None:
    chunks = split_text("x" * (MAX_TEXT * 2 + 10), MAX_TEXT)
    assert [len(chunk) for chunk in chunks] == [MAX_TEXT, MAX_TEXT, 10]


def test_short_and_empty_text_is_one_message() -> None:
    assert split_text("ok", MAX_TEXT) == ["ok"]
    assert split_text("", MAX_TEXT) == [""]


def card(status: str = "pending") -> ApprovalCard:
    return ApprovalCard(
        action_id="3f0e0f59-1c1b-4f53-9b44-0c4f0d7f3a10",
        short_code="4F2K",
        summary="Pause Summer Sale",
        approvers="a manager or an admin",
        expires_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        status=status,
        status_line=None if status == "pending" else "Approved by dana@acme.test via Slack.",
    )


def test_a_pending_card_has_two_buttons_with_compact_data() -> None:
    keyboard = card_keyboard(card())
    assert keyboard is not None
    [[approve, reject]] = keyboard.inline_keyboard
    assert (approve.callback_data, reject.callback_data) == ("ap:4F2K", "rj:4F2K")
    assert "Expires 2026-12-01 12:00 UTC" in card_text(card())


def test_a_decided_card_has_no_buttons_and_says_who_decided() -> None:
    assert card_keyboard(card("executed")) is None
    assert card_text(card("executed")).endswith("Approved by dana@acme.test via Slack.")


@pytest.mark.parametrize(
    ("data", "parsed"),
    [
        ("ap:4F2K", ("4F2K", True)),
        ("rj:4F2K", ("4F2K", False)),
        ("ap:4f2k", None),
        ("ap:", None),
        ("xx:4F2K", None),
        ("ap:4F2K; drop", None),
        (None, None),
    ],
)
def test_only_our_own_button_data_parses(data: str | None, parsed: object) -> None:
    assert parse_callback(data) == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('/pause "Summer Sale"', 'pause "Summer Sale"'),
        ("/pause@AdPilotBot Summer", "pause Summer"),
        ("/pause@adpilotbot Summer", "pause Summer"),
        ("/pause@OtherBot Summer", None),
        ("/start", "help"),
        ("report 7d", "report 7d"),
    ],
)
def test_commands_addressed_to_another_bot_are_not_ours(text: str, expected: str | None) -> None:
    assert command_text(text, "AdPilotBot") == expected
