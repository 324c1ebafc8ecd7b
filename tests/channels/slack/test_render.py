"""Replies as Block Kit: escaped text, code-block tables, cards with buttons and a confirm."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.replies import ApprovalCard, Reply, Table
from channels.slack.render import (
    APPROVE_ACTION,
    REJECT_ACTION,
    SECTION_MAX,
    card_blocks,
    escape,
    fallback_text,
    reply_blocks,
)


def card(*, status: str = "pending", raises_spend: bool = False) -> ApprovalCard:
    return ApprovalCard(
        action_id="3f0e0f59-1c1b-4f53-9b44-0c4f0d7f3a10",
        short_code="4F2K",
        summary="Set the daily budget of <!channel> Sale from 50.00 to 75.00",
        details=["Now: active, daily budget 50.00"],
        approvers="an admin",
        expires_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        status=status,
        status_line=None if status == "pending" else "Approved by dana@acme.test via Telegram.",
        raises_spend=raises_spend,
    )


def test_outside_text_cannot_mention_the_channel() -> None:
    assert escape("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"
    rendered = str(card_blocks(card()))
    assert "<!channel>" not in rendered
    assert "&lt;!channel&gt;" in rendered


def test_a_pending_card_has_approve_and_reject_carrying_only_the_code() -> None:
    *_, actions = card_blocks(card())
    assert actions["type"] == "actions"
    assert actions["block_id"] == "approval:4F2K"
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["value"], approve["style"]) == (
        APPROVE_ACTION,
        "4F2K",
        "primary",
    )
    assert (reject["action_id"], reject["value"], reject["style"]) == (
        REJECT_ACTION,
        "4F2K",
        "danger",
    )
    assert "confirm" not in approve


def test_a_raise_asks_for_confirmation_within_slacks_limits() -> None:
    *_, actions = card_blocks(card(raises_spend=True))
    confirm = actions["elements"][0]["confirm"]
    assert confirm["title"]["text"] == "Let it spend more?"
    assert len(confirm["text"]["text"]) <= 300
    assert confirm["confirm"]["text"] == "Approve"


def test_a_decided_card_has_no_buttons_and_says_who() -> None:
    blocks = card_blocks(card(status="executed"))
    assert all(block["type"] != "actions" for block in blocks)
    assert blocks[-1]["elements"][0]["text"] == "Approved by dana@acme.test via Telegram."


def test_long_text_becomes_several_sections_within_the_limit() -> None:
    text = "\n".join(f"line {n}: " + "x" * 80 for n in range(100))
    blocks = reply_blocks(Reply(text=text))
    assert len(blocks) > 1
    assert all(len(block["text"]["text"]) <= SECTION_MAX for block in blocks)


def test_a_table_is_a_code_block_and_the_fallback_names_the_card() -> None:
    reply = Reply(
        text="Campaigns",
        table=Table(columns=["name", "spend"], rows=[["A&B <x>", "12.00"]]),
        card=card(),
    )
    blocks = reply_blocks(reply)
    assert blocks[1]["text"]["text"].startswith("```name")
    assert "A&amp;B &lt;x&gt;" in blocks[1]["text"]["text"]
    assert fallback_text(reply).startswith(
        "Approval 4F2K: Set the daily budget of &lt;!channel&gt;"
    )
