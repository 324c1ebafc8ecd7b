"""Signal renders: text under 2,000 bytes a message, cards that end with their reply codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from bot.replies import ApprovalCard, Chart, Reply, Table
from channels.signal_messenger.render import (
    MAX_TEXT_BYTES,
    card_text,
    chart_attachment,
    decision_text,
    reply_code,
    reply_texts,
    split_bytes,
)


def card(**changes: object) -> ApprovalCard:
    base = ApprovalCard(
        action_id="6f1c2a0e-8c1e-4e8e-9a55-0c9f4f0b1a11",
        short_code="4F2K",
        summary="Pause Summer Sale",
        details=["Now: active, daily budget 50"],
        approvers="a manager or an admin",
        expires_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def test_a_pending_card_ends_with_the_codes_that_decide_it_and_they_parse_back() -> None:
    text = card_text(card())
    assert text.splitlines()[0] == "Approval 4F2K: Pause Summer Sale"
    assert text.splitlines()[-1] == "Reply approve 4F2K to approve, or reject 4F2K to reject."
    assert reply_code("approve 4F2K") == ("4F2K", True)
    assert reply_code("reject 4f2k") == ("4F2K", False)
    assert reply_code("Yes 4F2K") == ("4F2K", True)
    assert reply_code("no 4F2K") == ("4F2K", False)
    assert reply_code("/approve 4F2K") == ("4F2K", True)
    assert reply_code("approve") is None
    assert reply_code("campaigns") is None
    assert reply_code("x" * 5000) is None


def test_a_decided_card_shows_its_outcome_and_no_codes() -> None:
    decided = card(
        status="executed", status_line="Approved by dana@acme.test via Signal at 14:02 UTC. Done."
    )
    text = card_text(decided)
    assert "approve 4F2K" not in text
    assert text.endswith("Approved by dana@acme.test via Signal at 14:02 UTC. Done.")
    assert decision_text(decided) == (
        "Approval 4F2K: Approved by dana@acme.test via Signal at 14:02 UTC. Done."
    )
    assert decision_text(card(status="rejected")) == "Approval 4F2K: Now rejected."


def test_long_text_is_split_under_the_byte_limit_even_with_multibyte_characters() -> None:
    text = "\n".join(f"Zeile {n}: Größenänderung 👍 " * 3 for n in range(200))
    chunks = split_bytes(text)
    assert len(chunks) > 1
    assert all(len(chunk.encode()) <= MAX_TEXT_BYTES for chunk in chunks)
    assert "".join(chunk.replace("\n", "") for chunk in chunks) == text.replace("\n", "")


def test_a_table_goes_under_the_text_and_an_empty_text_sends_nothing() -> None:
    table = Table(columns=["Campaign", "Spend"], rows=[["Summer Sale", "50.00"]])
    [text] = reply_texts(Reply(text="Last 7 days", table=table))
    assert text.startswith("Last 7 days\n\nCampaign")
    assert reply_texts(Reply(text="  ")) == []


def test_a_chart_is_a_png_data_uri_with_its_alt_text_as_caption() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    data, caption = chart_attachment(Chart(png=png, alt_text="Spend by day"))
    prefix = "data:image/png;filename=chart.png;base64,"
    assert data.startswith(prefix)
    assert base64.b64decode(data.removeprefix(prefix)) == png
    assert caption == "Spend by day"
