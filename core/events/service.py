"""Inbound event de-duplication: the first delivery of a platform's event id wins."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.base import utcnow
from core.events.models import ProcessedEvent


async def first_delivery(*, session: AsyncSession, channel: str, event_id: str) -> bool:
    """Record the event; False when it was recorded before (a retry or a duplicate delivery).

    One conditional INSERT, so two deliveries racing each other still see exactly one True.
    Pre-identity work: call it on the worker (system) session.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ProcessedEvent)
        .values(channel=channel, event_id=event_id[:200])
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        .returning(ProcessedEvent.event_id)
    )
    return (await session.scalar(statement)) is not None


async def forget_delivery(*, session: AsyncSession, channel: str, event_id: str) -> None:
    """Undo `first_delivery` for an event we could not take after all, so its redelivery is
    handled (the platform retries what we did not ack)."""
    await session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.channel == channel, ProcessedEvent.event_id == event_id[:200]
        )
    )


# Meta retries an undelivered webhook for up to 7 days, Slack for minutes, Telegram for about a
# day: an id older than this can no longer come back, so its row only costs space.
DEDUPLICATION_WINDOW = timedelta(days=8)


async def prune_processed(*, session: AsyncSession, now: datetime | None = None) -> int:
    """Forget delivery ids past the window; how many went."""
    cutoff = (now or utcnow()) - DEDUPLICATION_WINDOW
    result = await session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
