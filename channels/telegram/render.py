"""A neutral Reply as Telegram messages: text split at 4,096 characters, cards with buttons.

Plain text (no parse_mode): the bot's light markup reads fine as is, and nothing a campaign
name contains can break an entity parser. Button data is the verdict and the short code only
(`ap:4F2K`, far under Telegram's 64 bytes); the grant lives on the server.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.replies import ApprovalCard, Reply, render_table_text
from channels.text_chunks import split_text

MAX_TEXT = 4096
MAX_CAPTION = 1024
_CALLBACK = re.compile(r"(ap|rj):([A-Z0-9]{3,12})")


def reply_texts(reply: Reply) -> list[str]:
    """The text messages of a reply (the card, if any, is a message of its own)."""
    text = reply.text
    if reply.table is not None:
        text = f"{text}\n\n{render_table_text(reply.table)}"
    return split_text(text, MAX_TEXT)


def card_text(card: ApprovalCard) -> str:
    lines = [f"Approval {card.short_code}: {card.summary}", *card.details]
    lines.append(f"Who may approve: {card.approvers}")
    if card.status == "pending":
        lines.append(f"Expires {card.expires_at:%Y-%m-%d %H:%M} UTC")
    if card.status_line:
        lines.append(card.status_line)
    return "\n".join(lines)[:MAX_TEXT]


def card_keyboard(card: ApprovalCard) -> InlineKeyboardMarkup | None:
    """Approve/Reject while the card waits; no buttons once it is decided."""
    if card.status != "pending":
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Approve", callback_data=f"ap:{card.short_code}"),
                InlineKeyboardButton("Reject", callback_data=f"rj:{card.short_code}"),
            ]
        ]
    )


def parse_callback(data: str | None) -> tuple[str, bool] | None:
    """(short code, approve?) from a button's data; None for anything we did not send."""
    match = _CALLBACK.fullmatch(data or "")
    if match is None:
        return None
    return match.group(2), match.group(1) == "ap"
