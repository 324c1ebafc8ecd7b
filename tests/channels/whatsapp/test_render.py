"""Replies as Cloud API messages, within WhatsApp's limits; button ids and template settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from bot.replies import ApprovalCard, Reply, Table
from channels.whatsapp.render import (
    MAX_BODY,
    MAX_HEADER,
    MAX_TEMPLATE_TEXT,
    card_message,
    parse_button_id,
    reply_texts,
    template_message,
    template_text,
)
from channels.whatsapp.templates import Template, template_for
from core.errors import ValidationFailed


def card(**changes: object) -> ApprovalCard:
    base = ApprovalCard(
        action_id=str(uuid.uuid4()),
        short_code="4F2K",
        summary="Pause Summer Sale",
        approvers="a manager or an admin",
        expires_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def test_a_pending_card_has_at_most_three_reply_buttons_with_short_unique_titles() -> None:
    message = card_message("16505551234", card())
    interactive = message["interactive"]
    assert interactive["type"] == "button"
    buttons = interactive["action"]["buttons"]
    assert 1 <= len(buttons) <= 3
    titles = [button["reply"]["title"] for button in buttons]
    assert all(len(title) <= 20 for title in titles)
    assert len(set(titles)) == len(titles)
    # The id carries the verdict and the short code, nothing else.
    assert [button["reply"]["id"] for button in buttons] == ["ap:4F2K", "rj:4F2K"]


def test_a_long_card_stays_within_the_body_and_header_limits() -> None:
    long = card(summary="Pause " + "Very Long Campaign Name " * 80, details=["x" * 500])
    interactive = card_message("16505551234", long)["interactive"]
    assert len(interactive["body"]["text"]) <= MAX_BODY
    assert interactive["body"]["text"].endswith("…")
    assert len(interactive["header"]["text"]) <= MAX_HEADER


def test_a_decided_card_is_plain_text_without_buttons() -> None:
    message = card_message("16505551234", card(status="executed", status_line="Approved. Done."))
    assert message["type"] == "text"
    assert "Approved. Done." in message["text"]["body"]


def test_text_is_split_at_4096_and_a_table_follows_the_text() -> None:
    chunks = reply_texts(Reply(text="a" * 5000))
    assert [len(chunk) for chunk in chunks] == [4096, 904]
    table = Table(columns=["campaign", "spend"], rows=[["Summer Sale", "120.00"]])
    [single] = reply_texts(Reply(text="Spend", table=table))
    assert single.startswith("Spend\n\ncampaign")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ap:4F2K", ("4F2K", True)),
        ("rj:4F2K", ("4F2K", False)),
        ("ap:4f2k", None),
        ("approve:4F2K", None),
        ("ap:4F2K:extra", None),
        ("ap:", None),
        ("", None),
        (None, None),
        ("ap:" + "A" * 40, None),
    ],
)
def test_only_the_buttons_we_send_are_understood(
    value: str | None, expected: tuple[str, bool] | None
) -> None:
    assert parse_button_id(value) == expected


def test_template_text_has_no_breaks_tabs_or_runs_of_spaces_and_is_capped() -> None:
    table = Table(columns=["campaign", "cpa"], rows=[["Summer Sale", "72.00"], ["Brand", "8"]])
    flat = template_text(Reply(text="CPA alert:\n\n\tcheck", table=table).as_plain_text())
    assert "\n" not in flat
    assert "\t" not in flat
    assert "  " not in flat
    assert flat.startswith("CPA alert: · check · campaign")
    assert len(template_text("word " * 1000)) == MAX_TEMPLATE_TEXT


def test_a_template_message_names_the_template_and_its_language() -> None:
    message = template_message("16505551234", Template("adpilot_alerts", "pt_BR"), "Olá")
    assert message["template"] == {
        "name": "adpilot_alerts",
        "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Olá"}]}],
    }


def test_template_settings_default_and_are_validated() -> None:
    assert template_for(None) == Template("adpilot_notification", "en_US")
    assert template_for({"whatsapp_template_language": "es"}) == Template(
        "adpilot_notification", "es"
    )
    for bad in (
        {"whatsapp_template_name": "Has Spaces"},
        {"whatsapp_template_name": ""},
        {"whatsapp_template_name": 42},
        {"whatsapp_template_language": "english"},
        {"whatsapp_template_language": "en-us"},
    ):
        with pytest.raises(ValidationFailed) as refused:
            template_for(bad)
        assert refused.value.field == next(iter(bad))
