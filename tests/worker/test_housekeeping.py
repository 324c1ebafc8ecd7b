"""Delivery ids are kept for the platforms' redelivery window, dead letters for a week."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.base import utcnow
from core.db import Database
from core.events import dead_letters
from core.events.models import DeadLetterJob, ProcessedEvent
from core.events.service import DEDUPLICATION_WINDOW, first_delivery
from worker.housekeeping import expire_dead_letters, prune_delivery_ids


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


async def test_dead_letters_expire_after_a_week(database: Database) -> None:
    async with database.system() as session:
        await dead_letters.record(
            session=session,
            job_name="sync_account",
            arguments={"account_id": "recent"},
            error="PlatformUnavailable: Meta answered HTTP 503.",
            attempts=5,
        )
        old = await dead_letters.record(
            session=session,
            job_name="sync_account",
            arguments={"account_id": "old"},
            error="PlatformUnavailable: Meta answered HTTP 503.",
            attempts=5,
        )
        old.created_at = utcnow() - dead_letters.RETENTION - timedelta(minutes=1)
    assert await expire_dead_letters({"database": database}) == 1
    async with database.system() as session:
        kept = [letter.arguments for letter in await session.scalars(select(DeadLetterJob))]
    assert kept == [{"account_id": "recent"}]
