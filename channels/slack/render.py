"""A neutral Reply as Slack Block Kit: mrkdwn sections, tables as code blocks, approval cards.

Everything that came from outside (campaign names, rule text) is escaped, so a name like
`<!channel>` is shown, never sent as a mention. Buttons carry only the short code; a budget
raise asks for confirmation before the tap is sent.
"""

from __future__ import annotations

from typing import Any

from bot.replies import ApprovalCard, Reply, render_table_text
from channels.text_chunks import split_text

Block = dict[str, Any]
SECTION_MAX = 3000  # Slack's limit for a section's text
FALLBACK_MAX = 300  # the notification text; the blocks carry the whole reply
APPROVE_ACTION = "adpilot_approve"
REJECT_ACTION = "adpilot_reject"


def escape(text: str) -> str:
    """Slack's three control characters; mrkdwn emphasis (*bold*, _italic_, `code`) stays."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sections(text: str) -> list[Block]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in split_text(escape(text), SECTION_MAX)
        if chunk.strip()
    ]


def _plain(text: str, limit: int = 75) -> dict[str, str]:
    return {"type": "plain_text", "text": text[:limit]}


def card_blocks(card: ApprovalCard) -> list[Block]:
    """The card: what, the state it was shown with, who may approve, and the buttons or outcome."""
    lines = [f"*Approval {card.short_code}*: {escape(card.summary)}"]
    lines += [escape(detail) for detail in card.details]
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
    ]
    facts = f"Who may approve: {escape(card.approvers)}"
    if card.status == "pending":
        facts += f" · expires {card.expires_at:%Y-%m-%d %H:%M} UTC"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]})
    if card.status != "pending":
        outcome = escape(card.status_line or card.status.capitalize())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]})
        return blocks
    approve: Block = {
        "type": "button",
        "action_id": APPROVE_ACTION,
        "style": "primary",
        "value": card.short_code,
        "text": _plain("Approve"),
    }
    if card.raises_spend:
        approve["confirm"] = {
            "title": _plain("Let it spend more?", 100),
            "text": {"type": "mrkdwn", "text": escape(card.summary)[:300]},
            "confirm": _plain("Approve", 30),
            "deny": _plain("Cancel", 30),
        }
    reject: Block = {
        "type": "button",
        "action_id": REJECT_ACTION,
        "style": "danger",
        "value": card.short_code,
        "text": _plain("Reject"),
    }
    blocks.append(
        {
            "type": "actions",
            "block_id": f"approval:{card.short_code}",
            "elements": [approve, reject],
        }
    )
    return blocks


def reply_blocks(reply: Reply) -> list[Block]:
    """The whole reply (the chart goes as an uploaded file beside it)."""
    blocks = _sections(reply.text)
    if reply.table is not None:
        table = escape(render_table_text(reply.table))[: SECTION_MAX - 6]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{table}```"}})
    if reply.card is not None:
        blocks += card_blocks(reply.card)
    return blocks


def fallback_text(reply: Reply) -> str:
    """What a notification or a screen reader shows."""
    text = reply.text
    if reply.card is not None:
        text = f"Approval {reply.card.short_code}: {reply.card.summary}"
    return escape(text)[:FALLBACK_MAX]
