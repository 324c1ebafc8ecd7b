"""Delivery ids are kept for the platforms' redelivery window, dead letters for a week."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core.base import utcnow
from core.billing.models import StripeEvent
from core.billing.subscriptions import (
    EVENT_ID_RETENTION,
    SUBSCRIPTION_UPDATED,
    BillingEvent,
    Outcome,
    claim,
    handle_event,
)
from core.db import Database
from core.events import dead_letters
from core.events.models import DeadLetterJob, ProcessedEvent
from core.events.service import DEDUPLICATION_WINDOW, first_delivery
from worker.housekeeping import expire_dead_letters, prune_delivery_ids, prune_stripe_event_ids
from worker.settings import WorkerSettings


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


def _stripe_event(event_id: str) -> BillingEvent:
    return BillingEvent(
        event_id=event_id,
        type=SUBSCRIPTION_UPDATED,
        created=utcnow(),
        customer_id="cus_Q1bPw2xYzRn8Kd",
        subscription_id="sub_1Q9zYtLkdIwHu7ix",
    )


async def test_stripe_event_ids_past_the_retention_go_and_recent_ones_stay(
    database: Database,
) -> None:
    async with database.system() as session:
        assert await claim(session=session, event=_stripe_event("evt_recent"))
        assert await claim(session=session, event=_stripe_event("evt_edge"))
        assert await claim(session=session, event=_stripe_event("evt_old"))
        await session.execute(
            update(StripeEvent)
            .where(StripeEvent.event_id == "evt_old")
            .values(received_at=utcnow() - EVENT_ID_RETENTION - timedelta(minutes=1))
        )
        # A day inside the window: Stripe may still resend it by hand, so it stays.
        await session.execute(
            update(StripeEvent)
            .where(StripeEvent.event_id == "evt_edge")
            .values(received_at=utcnow() - EVENT_ID_RETENTION + timedelta(days=1))
        )
    assert await prune_stripe_event_ids({"database": database}) == 1
    async with database.system() as session:
        kept = set(await session.scalars(select(StripeEvent.event_id)))
    assert kept == {"evt_recent", "evt_edge"}


async def test_a_redelivery_inside_the_window_is_still_refused_after_a_prune(
    database: Database,
) -> None:
    async with database.system() as session:
        first = await handle_event(session=session, event=_stripe_event("evt_again"), prices={})
    assert first is not Outcome.DUPLICATE
    await prune_stripe_event_ids({"database": database})
    async with database.system() as session:
        again = await handle_event(session=session, event=_stripe_event("evt_again"), prices={})
    assert again is Outcome.DUPLICATE


def test_the_stripe_prune_runs_with_the_nightly_housekeeping() -> None:
    [job] = [job for job in WorkerSettings.cron_jobs if job.coroutine is prune_stripe_event_ids]
    assert (job.hour, job.minute, job.unique) == (2, 15, True)
