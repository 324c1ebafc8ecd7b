"""A neutral Reply as an email: a subject, an HTML part and a plain-text part.

No images, no tracking pixels, no links we did not write: the HTML is the text, escaped, with
a table when the reply has one. A card has no buttons by email: it says how to decide in chat.
"""

from __future__ import annotations

from html import escape

from bot.replies import ApprovalCard, Reply, render_table_text
from channels.email.resend import Email

MAX_SUBJECT = 120


def _card_lines(card: ApprovalCard) -> list[str]:
    lines = [f"Approval {card.short_code}: {card.summary}", *card.details]
    lines.append(f"Who may approve: {card.approvers}")
    if card.status == "pending":
        lines.append(f"Expires {card.expires_at:%Y-%m-%d %H:%M} UTC")
        lines.append(f"Reply in chat with: approve {card.short_code} (or reject {card.short_code})")
    if card.status_line:
        lines.append(card.status_line)
    return lines


def subject_of(reply: Reply) -> str:
    first = reply.text.strip().splitlines()[0] if reply.text.strip() else "AdPilot"
    if reply.card is not None:
        first = f"Approval {reply.card.short_code}: {reply.card.summary}"
    subject = f"AdPilot: {first}"
    return subject if len(subject) <= MAX_SUBJECT else subject[: MAX_SUBJECT - 1] + "…"


def _html(reply: Reply, card_lines: list[str]) -> str:
    parts = [f"<p>{escape(line)}</p>" for line in reply.text.splitlines() if line.strip()]
    if reply.table is not None:
        head = "".join(f"<th>{escape(column)}</th>" for column in reply.table.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in reply.table.rows
        )
        caption = f"<caption>{escape(reply.table.title)}</caption>" if reply.table.title else ""
        parts.append(f"<table>{caption}<tr>{head}</tr>{rows}</table>")
    if card_lines:
        parts.append("<p>" + "<br>".join(escape(line) for line in card_lines) + "</p>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def email_of(reply: Reply, *, to: str) -> Email:
    card_lines = _card_lines(reply.card) if reply.card is not None else []
    text = reply.text
    if reply.table is not None:
        text = f"{text}\n\n{render_table_text(reply.table)}"
    if card_lines:
        text = f"{text}\n\n" + "\n".join(card_lines)
    return Email(to=to, subject=subject_of(reply), html=_html(reply, card_lines), text=text)
