"""Delivery ids are kept for the platforms' redelivery window, then pruned."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.base import utcnow
from core.db import Database
from core.events.models import ProcessedEvent
from core.events.service import DEDUPLICATION_WINDOW, first_delivery
from worker.housekeeping import prune_delivery_ids


async def test_ids_past_the_redelivery_window_are_pruned_and_recent_ones_kept(
    database: Database,
) -> None:
    async with database.system() as session:
        assert await first_delivery(session=session, channel="whatsapp", event_id="wamid.recent")
        session.add(
            ProcessedEvent(
                channel="slack",
                event_id="Ev-old",
                received_at=utcnow() - DEDUPLICATION_WINDOW - timedelta(minutes=1),
            )
        )
    assert await prune_delivery_ids({"database": database}) == 1
    async with database.system() as session:
        kept = list(await session.scalars(select(ProcessedEvent.event_id)))
        # A redelivery of the recent id is still recognised.
        assert not await first_delivery(
            session=session, channel="whatsapp", event_id="wamid.recent"
        )
    assert kept == ["wamid.recent"]
