"""A neutral Reply as Signal messages: plain text, a chart attachment, cards with reply codes.

Signal has no buttons, so a card ends with the words that decide it (`approve 4F2K` /
`reject 4F2K`), and it cannot usefully redraw a card (see `decision_text`). Text goes in
signal-cli's normal mode: the bot's light markup reads fine as is, and a campaign name with
`*` or `~` can never switch on styling by accident.
"""

from __future__ import annotations

import base64

from bot import commands, text_input
from bot.replies import ApprovalCard, Chart, Reply, render_table_text
from channels.text_chunks import split_text
from core.errors import CoreError

# signal-cli sends a body over 2,000 bytes as a long-text attachment; staying under it keeps
# every part readable inline (and the card's reply codes in its message, never in a file).
MAX_TEXT_BYTES = 2000
MAX_CAPTION_CHARS = 500


def split_bytes(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Chunks of at most `limit` UTF-8 bytes, cut at line ends where a line fits."""
    chars = limit
    while True:
        chunks = split_text(text, chars)
        if all(len(chunk.encode()) <= limit for chunk in chunks):
            return chunks
        # Multi-byte characters (umlauts, emoji): retry with fewer characters per chunk.
        chars = max(1, chars * 3 // 4)


def reply_texts(reply: Reply) -> list[str]:
    """The text messages of a reply (the chart and the card, if any, are messages of their own)."""
    text = reply.text
    if reply.table is not None:
        text = f"{text}\n\n{render_table_text(reply.table)}"
    if not text.strip():
        return []
    return split_bytes(text)


def card_text(card: ApprovalCard) -> str:
    """The card as one message; while it waits, it ends with the reply codes that decide it."""
    lines = [f"Approval {card.short_code}: {card.summary}", *card.details]
    lines.append(f"Who may approve: {card.approvers}")
    if card.status == "pending":
        lines.append(f"Expires {card.expires_at:%Y-%m-%d %H:%M} UTC")
        lines.append(
            f"Reply {card.approve_command} to approve, or {card.reject_command} to reject."
        )
    elif card.status_line:
        lines.append(card.status_line)
    return split_bytes("\n".join(lines))[0]


def decision_text(card: ApprovalCard) -> str:
    """The follow-up line that stands for a redrawn card: who decided it, where and when.

    Signal's edits (`edit_timestamp`) raise no notification and are only accepted within 24
    hours of sending, while a card can be decided later; a short new message quoting the card
    is seen by everyone in the chat.
    """
    outcome = card.status_line or f"Now {card.status}."
    return split_bytes(f"Approval {card.short_code}: {outcome}")[0]


def chart_attachment(chart: Chart) -> tuple[str, str]:
    """(data URI for `base64_attachments`, caption) of a chart image."""
    data = base64.b64encode(chart.png).decode("ascii")
    return f"data:image/png;filename=chart.png;base64,{data}", chart.alt_text[:MAX_CAPTION_CHARS]


def reply_code(text: str) -> tuple[str, bool] | None:
    """(code, approve?) for `approve 4F2K` / `reject 4F2K` / `yes 4F2K` / `no 4F2K`, read by
    the bot's own command grammar so every channel agrees on what a decision looks like."""
    try:
        command = commands.parse(text_input.message_text(text))
    except CoreError:
        return None
    if isinstance(command, commands.Decide):
        return command.code, command.approve
    return None
