"""Rule firings as outbox rows, in the same transaction as the alerts that caused them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from core.notify.models import Notification
from core.notify.service import notify, org_destinations
from core.rules.models import Alert


async def queue_alerts(
    *, session: AsyncSession, org_id: uuid.UUID, alerts: Iterable[Alert]
) -> list[Notification]:
    """Each alert to the org's alert destinations; one that asks for approval also goes, card
    and all, to its approval destinations (which then skip the plain alert)."""
    rows: list[Notification] = []
    destinations = await org_destinations(session, org_id)
    if not destinations:
        return rows
    for alert in alerts:
        carded: list[Notification] = []
        if alert.action_taken == "approval_requested" and alert.pending_action_id is not None:
            carded = await notify(
                session=session,
                org_id=org_id,
                kind="approvals",
                text=alert.message,
                pending_action_id=alert.pending_action_id,
                destinations=destinations,
            )
        rows += carded
        rows += await notify(
            session=session,
            org_id=org_id,
            kind="alerts",
            text=alert.message,
            dedupe_key=f"rule:{alert.rule_id}:{alert.scope_key}",
            exclude=(row.destination_id for row in carded),
            destinations=destinations,
        )
    await session.flush()
    return rows
