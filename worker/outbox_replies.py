"""What an outbox row says: its own text, an approval card, or a digest of many alerts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bot.replies import Reply, card_from_action, decision_line
from bot.summary import payload_reply
from core.approvals import policy as approval_policy
from core.approvals.models import PendingAction
from core.db import Database
from core.notify.models import Notification
from core.users.models import User

# A digest lists this many alerts in full; the rest are counted.
DIGEST_LINES = 60


def digest_reply(rows: Sequence[Notification], *, after_quiet_hours: bool) -> Reply:
    """One message for many alerts to one destination (not 40 messages for 40 campaigns)."""
    when = " while notifications were paused (quiet hours)" if after_quiet_hours else ""
    lines = [f"{len(rows)} alerts{when}:"]
    for row in rows[:DIGEST_LINES]:
        text = str(row.payload.get("text", "")).strip().replace("\n", " ")
        lines.append(f"• {text[:300]}")
    if len(rows) > DIGEST_LINES:
        lines.append(f"…and {len(rows) - DIGEST_LINES} more; ask me for `alerts` to see them all.")
    return Reply(text="\n".join(lines))


async def row_reply(database: Database, row: Notification) -> Reply:
    """The row's own message; an approval's carries the card as it stands now, a daily
    summary its table and chart."""
    if row.kind == "summaries" and "text" in row.payload:
        return payload_reply(row.payload)
    text = str(row.payload.get("text", ""))
    raw_action = row.payload.get("pending_action_id")
    if not raw_action:
        return Reply(text=text)
    async with database.tenant(row.org_id) as session:
        action = await session.get(PendingAction, uuid.UUID(str(raw_action)))
        if action is None or action.org_id != row.org_id:
            return Reply(text=text)
        policy = await approval_policy.load_policy(session=session, org_id=row.org_id)
        decider = await session.get(User, action.decided_by) if action.decided_by else None
        card = card_from_action(
            action,
            two_person_rule=policy.two_person_rule,
            status_line=decision_line(action, decider=decider.email if decider else None),
        )
    return Reply(text=text, card=card)
