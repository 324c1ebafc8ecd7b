"""The outbox's delivery job: sends once, retries, falls back, de-duplicates, digests, waits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from channels.base import ChannelError, Failure
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.deliveries import service as deliveries
from core.notify import service as outbox
from core.notify.models import Notification
from tests.worker.outbox_fakes import ScriptedChannel, org_with_destinations, worker_ctx
from worker.notifications import deliver_notifications, sweep_notifications

ALERTS = {"alerts": True}


async def _queue(
    database: Database, org_id: uuid.UUID, texts: list[str], dedupe_key: str | None = None
) -> None:
    async with database.tenant(org_id) as session:
        for text in texts:
            await outbox.notify(
                session=session, org_id=org_id, kind="alerts", text=text, dedupe_key=dedupe_key
            )


async def _rows(database: Database) -> list[Notification]:
    async with database.system() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.created_at)))


async def test_each_notification_is_sent_once_with_its_message_id(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(database, ("telegram", "100", ALERTS))
    await _queue(database, world.org_id, ["CPA up on Spring Sale", "Budget spent on Brand"])
    telegram = ScriptedChannel("telegram")
    ctx = worker_ctx(database, settings, telegram=telegram)

    assert await deliver_notifications(ctx) == 2
    assert telegram.texts() == ["CPA up on Spring Sale", "Budget spent on Brand"]
    rows = await _rows(database)
    assert [(row.status, row.message_id) for row in rows] == [
        ("sent", "telegram-1"),
        ("sent", "telegram-2"),
    ]
    # Nothing is due any more: a second run sends nothing.
    assert await deliver_notifications(ctx) == 0
    assert len(telegram.posted) == 2


async def test_many_alerts_for_one_destination_go_as_one_digest(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database, ("telegram", "100", ALERTS), notifications={"digest_threshold": 5}
    )
    await _queue(database, world.org_id, [f"CPA up on campaign {n}" for n in range(40)])
    telegram = ScriptedChannel("telegram")

    assert await deliver_notifications(worker_ctx(database, settings, telegram=telegram)) == 1
    [digest] = telegram.texts()
    assert digest.startswith("40 alerts:")
    assert all(f"CPA up on campaign {n}" in digest for n in range(40))
    rows = await _rows(database)
    assert {(row.status, row.message_id) for row in rows} == {("digested", "telegram-1")}


async def test_below_the_threshold_each_alert_goes_on_its_own(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database, ("telegram", "100", ALERTS), notifications={"digest_threshold": 5}
    )
    await _queue(database, world.org_id, [f"alert {n}" for n in range(4)])
    telegram = ScriptedChannel("telegram")
    await deliver_notifications(worker_ctx(database, settings, telegram=telegram))
    assert telegram.texts() == [f"alert {n}" for n in range(4)]


async def test_identical_alerts_within_the_window_go_once(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database, ("telegram", "100", ALERTS), notifications={"dedupe_minutes": 60}
    )
    telegram = ScriptedChannel("telegram")
    ctx = worker_ctx(database, settings, telegram=telegram)
    await _queue(database, world.org_id, ["CPA up on Spring Sale"] * 2, dedupe_key="rule:1:c1")
    await _queue(database, world.org_id, ["Brand spent out"], dedupe_key="rule:2:c2")
    await deliver_notifications(ctx)
    assert telegram.texts() == ["CPA up on Spring Sale", "Brand spent out"]
    # The same alert again later, still within the window: recorded as a repeat, not sent.
    await _queue(database, world.org_id, ["CPA up on Spring Sale"], dedupe_key="rule:1:c1")
    await deliver_notifications(ctx)
    assert len(telegram.posted) == 2
    statuses = [row.status for row in await _rows(database)]
    assert sorted(statuses) == ["duplicate", "duplicate", "sent", "sent"]


async def test_outside_the_dedupe_window_the_same_alert_goes_again(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database, ("telegram", "100", ALERTS), notifications={"dedupe_minutes": 30}
    )
    telegram = ScriptedChannel("telegram")
    ctx = worker_ctx(database, settings, telegram=telegram)
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        await _queue(database, world.org_id, ["CPA up"], dedupe_key="rule:1:c1")
        await deliver_notifications(ctx)
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        await _queue(database, world.org_id, ["CPA up"], dedupe_key="rule:1:c1")
        await deliver_notifications(ctx)
    assert telegram.texts() == ["CPA up", "CPA up"]


async def test_quiet_hours_hold_alerts_and_send_them_as_one_digest_after(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database,
        ("telegram", "100", {"alerts": True, "approvals": True}),
        timezone="Europe/Berlin",
        notifications={"quiet_hours": {"start": "22:00", "end": "07:00"}, "digest_threshold": 50},
    )
    telegram = ScriptedChannel("telegram")
    ctx = worker_ctx(database, settings, telegram=telegram)
    # 23:30 in Berlin (UTC+1 in winter): inside the quiet hours.
    night = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    with time_machine.travel(night, tick=False):
        await _queue(database, world.org_id, ["CPA up on Spring Sale", "Brand spent out"])
        assert await deliver_notifications(ctx) == 0
        rows = await _rows(database)
        assert {(row.status, row.held) for row in rows} == {("pending", True)}
        # Held until 07:00 Berlin = 06:00 UTC the next day.
        assert {row.next_attempt_at for row in rows} == {datetime(2026, 12, 1, 6, 0, tzinfo=UTC)}
    with time_machine.travel(datetime(2026, 12, 1, 5, 59, tzinfo=UTC), tick=False):
        assert await deliver_notifications(ctx) == 0
    with time_machine.travel(datetime(2026, 12, 1, 6, 1, tzinfo=UTC), tick=False):
        assert await deliver_notifications(ctx) == 1
    [digest] = telegram.texts()
    assert digest.startswith("2 alerts while notifications were paused (quiet hours):")
    assert "CPA up on Spring Sale" in digest
    assert "Brand spent out" in digest


async def test_a_rate_limited_send_waits_as_long_as_the_platform_asked(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(database, ("telegram", "100", ALERTS))
    await _queue(database, world.org_id, ["CPA up"])
    telegram = ScriptedChannel("telegram", errors=[ChannelError("slow down", retry_after=700)])
    before = utcnow()
    await deliver_notifications(worker_ctx(database, settings, telegram=telegram))
    [row] = await _rows(database)
    assert row.status == "pending"
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= before + timedelta(seconds=700)
    assert row.last_error is not None
    assert row.last_error.startswith("rate_limited")


async def test_a_permanent_failure_falls_back_to_the_next_destination(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database,
        ("telegram", "100", ALERTS),
        ("email", "ops@example.com", {"alerts": "fallback"}),
    )
    await _queue(database, world.org_id, ["CPA up on Spring Sale"])
    telegram = ScriptedChannel(
        "telegram", errors=[ChannelError("blocked", failure=Failure.BLOCKED)]
    )
    email = ScriptedChannel("email")
    ctx = worker_ctx(database, settings, telegram=telegram, email=email)
    # The fallback destination took only this one: it was not among the first recipients.
    await deliver_notifications(ctx)
    assert telegram.posted == []
    assert [(address.conversation_id, reply.text) for address, reply in email.posted] == [
        ("ops@example.com", "CPA up on Spring Sale")
    ]
    [row] = await _rows(database)
    assert (row.status, row.channel, row.message_id) == ("sent", "email", "email-1")
    assert row.payload["tried"] == [str(world.destinations["telegram:100"])]


async def test_a_destination_that_keeps_failing_gives_way_after_the_last_attempt(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database,
        ("telegram", "100", ALERTS),
        ("email", "ops@example.com", {"alerts": "fallback"}),
    )
    await _queue(database, world.org_id, ["CPA up"])
    async with database.system() as session:
        [row] = list(await session.scalars(select(Notification)))
        row.attempts = 5  # five earlier tries failed; this is the sixth
    telegram = ScriptedChannel(
        "telegram", errors=[ChannelError("down", failure=Failure.UNREACHABLE)]
    )
    email = ScriptedChannel("email")
    await deliver_notifications(worker_ctx(database, settings, telegram=telegram, email=email))
    assert len(email.posted) == 1


async def test_with_no_fallback_left_the_notification_fails_visibly(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(database, ("telegram", "100", ALERTS))
    await _queue(database, world.org_id, ["CPA up"])
    telegram = ScriptedChannel(
        "telegram", errors=[ChannelError("token revoked", failure=Failure.TOKEN_REVOKED)]
    )
    await deliver_notifications(worker_ctx(database, settings, telegram=telegram))
    [row] = await _rows(database)
    assert row.status == "failed"
    assert row.last_error is not None
    assert row.last_error.startswith("token_revoked")


async def test_a_failed_whatsapp_delivery_moves_to_the_fallback(
    database: Database, settings: Settings
) -> None:
    world = await org_with_destinations(
        database,
        ("whatsapp", "+14155550100", ALERTS),
        ("email", "ops@example.com", {"alerts": "fallback"}),
    )
    await _queue(database, world.org_id, ["CPA up"])
    whatsapp, email = ScriptedChannel("whatsapp"), ScriptedChannel("email")
    ctx = worker_ctx(database, settings, whatsapp=whatsapp, email=email)
    await deliver_notifications(ctx)
    [row] = await _rows(database)
    assert (row.status, row.message_id) == ("sent", "whatsapp-1")
    # Later WhatsApp reports the message failed: outside the 24-hour window.
    async with database.tenant(world.org_id) as session:
        await deliveries.record_status(
            session=session,
            org_id=world.org_id,
            channel="whatsapp",
            conversation_id="+14155550100",
            message_id="whatsapp-1",
            status="failed",
            error_code=131047,
            error_title="Re-engagement message",
        )
    assert await sweep_notifications(ctx) == 1
    await deliver_notifications(ctx)
    assert [reply.text for _, reply in email.posted] == ["CPA up"]
    [row] = await _rows(database)
    assert (row.status, row.channel) == ("sent", "email")
    assert await sweep_notifications(ctx) == 0  # settled: not moved again


async def test_a_row_reclaimed_after_its_lease_is_never_settled_by_its_first_holder(
    database: Database,
) -> None:
    world = await org_with_destinations(database, ("telegram", "100", ALERTS))
    await _queue(database, world.org_id, ["CPA up"])
    now = utcnow()
    async with database.system() as session:
        first, [row] = await outbox.claim_due(
            session=session, now=now, lease=timedelta(seconds=1), limit=10
        )
    later = now + timedelta(seconds=5)
    async with database.system() as session:
        assert await outbox.reclaim_expired(session=session, now=later) == 1
        second, [again] = await outbox.claim_due(
            session=session, now=later, lease=timedelta(seconds=60), limit=10
        )
    assert again.id == row.id
    assert second != first
    async with database.system() as session:
        assert await outbox.renew(session=session, ids=[row.id], token=first, until=later) == set()
        assert (
            await outbox.settle(
                session=session, ids=[row.id], token=first, status=outbox.SENT, now=later
            )
            == 0
        )
        assert (
            await outbox.settle(
                session=session, ids=[row.id], token=second, status=outbox.SENT, now=later
            )
            == 1
        )
    # Claimed rows are not claimable again while held.
    async with database.system() as session:
        _, none = await outbox.claim_due(
            session=session, now=later, lease=timedelta(seconds=60), limit=10
        )
    assert none == []
