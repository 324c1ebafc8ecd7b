"""A neutral Reply as WhatsApp Cloud API messages: text, reply buttons, images and templates.

Plain text is split at 4,096 characters. A pending card is an interactive message with two
reply buttons (Approve / Reject, titles well under the 20-character limit) whose ids carry the
verdict and the short code only (`ap:4F2K`); the grant lives on the server. WhatsApp cannot edit
a sent message, so a decided card is a short line that quotes the card (`context.message_id`).
Outside the 24-hour window the whole reply goes as one template body parameter, which may not
hold line breaks, tabs or long runs of spaces.
"""

from __future__ import annotations

import re
from typing import Any

from bot.replies import ApprovalCard, Reply, render_table_text
from channels.text_chunks import split_text
from channels.whatsapp.templates import Template

MAX_TEXT = 4096
MAX_BODY = 1024  # interactive body text
MAX_HEADER = 60
MAX_CAPTION = 1024
# Meta caps a template's whole body at 1,024 characters, the template's own words included.
MAX_TEMPLATE_TEXT = 900
APPROVE, REJECT = "ap", "rj"
_BUTTON_ID = re.compile(r"(ap|rj):([A-Z0-9]{3,12})")
_LINE_BREAKS = re.compile(r"\s*\n\s*")
_SPACES = re.compile(r"[ \t]{2,}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def recipient(conversation_id: str) -> str:
    """Graph's `to`: the number's digits (conversation ids are E.164, with the plus)."""
    return conversation_id.removeprefix("+")


def reply_texts(reply: Reply) -> list[str]:
    """The text messages of a reply (a card and a chart are messages of their own)."""
    text = reply.text
    if reply.table is not None:
        text = f"{text}\n\n{render_table_text(reply.table)}"
    return [chunk for chunk in split_text(text, MAX_TEXT) if chunk.strip()]


def text_message(to: str, body: str, *, quoting: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": _cut(body, MAX_TEXT)},
    }
    if quoting is not None:
        message["context"] = {"message_id": quoting}
    return message


def card_lines(card: ApprovalCard) -> list[str]:
    lines = [card.summary, *card.details, f"Who may approve: {card.approvers}"]
    if card.status == "pending":
        lines.append(f"Expires {card.expires_at:%Y-%m-%d %H:%M} UTC")
    if card.status_line:
        lines.append(card.status_line)
    return lines


def card_message(to: str, card: ApprovalCard) -> dict[str, Any]:
    """Reply buttons while the card waits; a plain text once it is decided."""
    if card.status != "pending":
        return text_message(to, "\n".join([f"Approval {card.short_code}", *card_lines(card)]))
    return {
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": _cut(f"Approval {card.short_code}", MAX_HEADER)},
            "body": {"text": _cut("\n".join(card_lines(card)), MAX_BODY)},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {"id": f"{APPROVE}:{card.short_code}", "title": "Approve"},
                    },
                    {
                        "type": "reply",
                        "reply": {"id": f"{REJECT}:{card.short_code}", "title": "Reject"},
                    },
                ]
            },
        },
    }


def decision_text(card: ApprovalCard) -> str:
    """The line that stands in for editing a card: which card, and how it was decided."""
    outcome = card.status_line or card.status.capitalize()
    return f"Approval {card.short_code} ({card.summary}): {outcome}"


def image_message(to: str, media_id: str, caption: str) -> dict[str, Any]:
    return {
        "recipient_type": "individual",
        "to": to,
        "type": "image",
        "image": {"id": media_id, "caption": _cut(caption, MAX_CAPTION)},
    }


def template_text(text: str) -> str:
    """One line for a template parameter (Meta refuses breaks, tabs and runs of spaces)."""
    flat = _SPACES.sub(" ", _LINE_BREAKS.sub(" · ", text.strip()))
    return _cut(flat, MAX_TEMPLATE_TEXT)


def template_message(to: str, template: Template, text: str) -> dict[str, Any]:
    return {
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": template.name,
            "language": {"code": template.language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": template_text(text)}]}
            ],
        },
    }


def parse_button_id(value: str | None) -> tuple[str, bool] | None:
    """(short code, approve?) from a reply button's id; None for anything we did not send."""
    match = _BUTTON_ID.fullmatch(value or "")
    if match is None:
        return None
    return match.group(2), match.group(1) == APPROVE
