"""The channel-neutral reply every channel renders in its own native form."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.approvals.models import PendingAction
from core.approvals.policy import moves_money


class Table(BaseModel):
    """A small table: a header row and rows of already formatted cells."""

    model_config = ConfigDict(frozen=True)

    columns: list[str]
    rows: list[list[str]]
    title: str | None = None


class Chart(BaseModel):
    """An optional chart image: PNG bytes plus a text fallback for channels without images."""

    model_config = ConfigDict(frozen=True)

    png: bytes
    alt_text: str


class FileAttachment(BaseModel):
    """A file for the user: its bytes for channels that upload files, and a signed download
    link (when the web app can serve it) for the channels that take text only."""

    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    data: bytes
    link: str | None = None


class ApprovalCard(BaseModel):
    """A pending action shown for one-tap approval; buttons carry only the opaque short code."""

    model_config = ConfigDict(frozen=True)

    action_id: str
    short_code: str
    summary: str
    details: list[str] = Field(default_factory=list)
    approvers: str
    expires_at: datetime
    status: Literal["pending", "approved", "rejected", "expired", "executed", "failed"] = "pending"
    status_line: str | None = None
    # Approving lets the campaign spend more (a raise, a resume, a launch): channels with
    # dialogs ask "are you sure?" before sending the tap.
    raises_spend: bool = False

    @property
    def approve_command(self) -> str:
        return f"approve {self.short_code}"

    @property
    def reject_command(self) -> str:
        return f"reject {self.short_code}"


class Reply(BaseModel):
    """What the bot answers: text with light markup (*bold*, _italic_, `code`), and extras."""

    model_config = ConfigDict(frozen=True)

    text: str
    table: Table | None = None
    chart: Chart | None = None
    card: ApprovalCard | None = None
    files: tuple[FileAttachment, ...] = ()
    is_error: bool = False

    def as_plain_text(self) -> str:
        """A text-only rendering (Signal, SMS-like channels, logs); ends with the deciding reply."""
        parts = [self.text]
        if self.table is not None:
            parts.append(render_table_text(self.table))
        if self.chart is not None:
            parts.append(f"[chart: {self.chart.alt_text}]")
        for attached in self.files:
            where = attached.link or "no download link (the web app's address is not set)"
            parts.append(f"[file: {attached.filename}] {where}")
        if self.card is not None:
            card = self.card
            lines = [f"Approval needed ({card.short_code}): {card.summary}"]
            lines += [f"  {detail}" for detail in card.details]
            lines.append(f"Who may approve: {card.approvers}")
            lines.append(f"Expires: {card.expires_at:%Y-%m-%d %H:%M} UTC")
            if card.status == "pending":
                lines.append(f"Reply `{card.approve_command}` or `{card.reject_command}`")
            else:
                lines.append(card.status_line or card.status)
            parts.append("\n".join(lines))
        return "\n\n".join(part for part in parts if part)


def render_table_text(table: Table) -> str:
    """Monospace table with aligned columns."""
    widths = [len(column) for column in table.columns]
    for row in table.rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(widths[index]) for index, cell in enumerate(cells)).rstrip()

    out = [table.title] if table.title else []
    out.append(line(table.columns))
    out.append("  ".join("-" * width for width in widths))
    out += [line(row) for row in table.rows]
    return "\n".join(out)


_ROLE_WORDS = {
    "user": "anyone in the team",
    "manager": "a manager or an admin",
    "admin": "an admin",
}
_CARD_STATUS = {"pending", "approved", "rejected", "expired", "executed", "failed"}


def approvers_in_words(required_role: str, *, two_person_rule: bool = False) -> str:
    """'a manager or an admin', plus the two-person rule when the org has it."""
    words = _ROLE_WORDS.get(required_role, f"a {required_role}")
    return f"{words}, other than the requester" if two_person_rule else words


def card_from_action(
    action: PendingAction, *, two_person_rule: bool = False, status_line: str | None = None
) -> ApprovalCard:
    """The card every channel shows for a pending (or decided) action."""
    status = str(getattr(action.status, "value", action.status))
    # The state the card was shown with is "now" only while the action waits.
    label = "Now" if status == "pending" else "Before"
    details = [f"{label}: {_state_words(action.before_state)}"] if action.before_state else []
    return ApprovalCard(
        action_id=str(action.id),
        short_code=action.short_code,
        summary=action.summary,
        details=details,
        approvers=approvers_in_words(action.required_role, two_person_rule=two_person_rule),
        expires_at=action.expires_at,
        status=status if status in _CARD_STATUS else "pending",
        status_line=status_line,
        raises_spend=moves_money(action.kind, action.arguments, action.before_state or {}),
    )


def _state_words(state: dict[str, object]) -> str:
    parts = [str(state.get("status") or "unknown")]
    if state.get("daily_budget") is not None:
        parts.append(f"daily budget {state['daily_budget']}")
    return ", ".join(parts)


_CHANNEL_NAMES = {
    "slack": "Slack",
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "signal": "Signal",
    "console": "the terminal",
    "web": "the web app",
}


def decision_line(action: PendingAction, *, decider: str | None) -> str | None:
    """What a decided card says on every channel: who decided, where, when, and the outcome."""
    status = str(getattr(action.status, "value", action.status))
    if status == "pending":
        return None
    at = f" at {action.decided_at:%H:%M} UTC" if action.decided_at is not None else ""
    if status == "expired":
        return f"Expired{at}, undecided."
    via = action.decided_via or ""
    where = f" via {_CHANNEL_NAMES.get(via, via)}" if via and via != "rule" else ""
    who = f" by {decider}" if decider else (" by a rule" if via == "rule" else "")
    if status == "rejected":
        return f"Rejected{who}{where}{at}."
    outcome = {"executed": " Done.", "failed": " It failed on the platform.", "approved": ""}
    return f"Approved{who}{where}{at}.{outcome.get(status, '')}"
