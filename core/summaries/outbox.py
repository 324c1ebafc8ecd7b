"""Summary notifications: the org's destinations that take summaries, and their outbox rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.notify.models import Destination, Notification

SUMMARY_KIND = "summary"
# Destination.kinds is a JSON object of flags; this one opts a destination into summaries.
SUMMARIES_FLAG = "summaries"


async def summary_destinations(*, session: AsyncSession, org_id: uuid.UUID) -> list[Destination]:
    """Enabled destinations of the org flagged `{"summaries": true}`, oldest first."""
    found = await session.scalars(
        select(Destination)
        .where(Destination.org_id == org_id, Destination.enabled.is_(True))
        .order_by(Destination.created_at, Destination.id)
    )
    # Filtered here, not in SQL: JSON operators differ between PostgreSQL and SQLite.
    return [dest for dest in found if (dest.kinds or {}).get(SUMMARIES_FLAG) is True]


def queue_summary(
    *, session: AsyncSession, destinations: list[Destination], payload: dict[str, Any]
) -> list[Notification]:
    """One pending outbox row per destination, in the caller's transaction."""
    rows = [
        Notification(
            org_id=dest.org_id,
            destination_id=dest.id,
            channel=dest.channel,
            conversation_id=dest.conversation_id,
            # The outbox's kind: never folded into an alert digest, falls back like summaries.
            kind="summaries",
            payload={"kind": SUMMARY_KIND, **payload},
            status="pending",
        )
        for dest in destinations
    ]
    session.add_all(rows)
    return rows
