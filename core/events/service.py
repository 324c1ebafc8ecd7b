"""Inbound event de-duplication: the first delivery of a platform's event id wins."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

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
