"""A delivery worker process killed with SIGKILL mid-batch: after a restart, every notification
reaches the (loopback) Telegram Bot API exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from channels.turns import dump_job, load_job
from core.config import Settings
from core.db import Database
from core.notify import service as outbox
from core.notify.models import Destination, Notification
from tests import factories
from tests.conftest import truncate_all
from tests.worker.mock_telegram import MockTelegram
from worker.notifications import JOB_NAME, sweep_notifications

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHATS = 20
ROUNDS = 3
LEASE_SECONDS = 2.0
QUEUE = "arq:outbox-crash-test"
ROOT = Path(__file__).resolve().parents[2]
GUARD_SECONDS = 60.0  # a broken run fails instead of hanging; not a timing assert


@pytest.fixture
async def pg_database(pg_url: str) -> AsyncIterator[Database]:
    db = Database(Settings(database_url=pg_url))
    try:
        yield db
    finally:
        await db.dispose()
        owner = create_async_engine(pg_url)
        await truncate_all(owner)
        await owner.dispose()


async def _seed(database: Database) -> None:
    """CHATS Telegram destinations, ROUNDS summaries each: one distinct text per chat and round."""
    async with database.system() as session:
        org = await factories.org(session)
        session.add_all(
            Destination(
                org_id=org.id,
                channel="telegram",
                conversation_id=str(1000 + n),
                kinds={"summaries": True},
            )
            for n in range(CHATS)
        )
    async with database.tenant(org.id) as session:
        for number in range(ROUNDS):
            await outbox.notify(
                session=session, org_id=org.id, kind="summaries", text=f"summary {number}"
            )


def _environment(pg_url: str, redis_url: str, api_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ADPILOT_DATABASE_URL": pg_url,
        "ADPILOT_REDIS_URL": redis_url,
        "ADPILOT_TELEGRAM_BOT_TOKEN": TOKEN,
        "ADPILOT_TELEGRAM_WEBHOOK_SECRET": "crash-test-webhook-secret-0123456789",
        "ADPILOT_TELEGRAM_API_URL": api_url,
        "ADPILOT_NOTIFY_LEASE_SECONDS": str(LEASE_SECONDS),
    }


async def _worker(environment: dict[str, str], *, errors: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.worker.outbox_worker_process",
        QUEUE,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=errors,
    )


async def _enqueue(redis: ArqRedis) -> Job:
    job = await redis.enqueue_job(JOB_NAME, _job_id=str(uuid.uuid4()), _queue_name=QUEUE)
    assert job is not None
    return job


async def _statuses(database: Database) -> Counter[str]:
    async with database.system() as session:
        return Counter(await session.scalars(select(Notification.status)))


async def _settled_as_accepted(database: Database, mock: MockTelegram) -> None:
    """Wait until every send the API answered is recorded, so the kill lands with sends in
    flight only (the instant between a platform's acceptance and our commit cannot be closed
    for Telegram, which takes no idempotency key; see docs/decisions.md)."""
    for _ in range(int(GUARD_SECONDS / 0.05)):
        if (await _statuses(database))["sent"] >= len(mock.accepted):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("answered sends were never recorded")


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_worker_killed_mid_batch_delivers_every_notification_exactly_once(
    pg_database: Database, pg_url: str, redis_url: str
) -> None:
    await _seed(pg_database)
    total = CHATS * ROUNDS
    # From the 25th send on, the API holds every request unanswered: the batch is mid-flight.
    mock = MockTelegram(TOKEN, hold_from=25)
    environment = _environment(pg_url, redis_url, await mock.start())
    redis = await create_pool(
        RedisSettings.from_dsn(redis_url), job_serializer=dump_job, job_deserializer=load_job
    )
    try:
        await _enqueue(redis)
        first = await _worker(environment, errors=asyncio.subprocess.DEVNULL)
        async with asyncio.timeout(GUARD_SECONDS):
            await mock.held.wait()
        await _settled_as_accepted(pg_database, mock)
        first.kill()  # SIGKILL: no shutdown hook, no finally
        await first.wait()
        delivered_before = len(mock.accepted)
        stuck = await _statuses(pg_database)
        assert 0 < delivered_before < total
        assert stuck["sending"] > 0, stuck  # claimed rows the dead worker still holds

        mock.release_held()  # the held requests are answered to a closed socket: never landed
        # Once the dead worker's lease is over, the sweeper makes its rows due again.
        settings = Settings(database_url=pg_url, notify_lease_seconds=LEASE_SECONDS)
        ctx = {"database": pg_database, "settings": settings}
        for _ in range(int(GUARD_SECONDS / 0.2)):
            await sweep_notifications(ctx)
            if (await _statuses(pg_database))["sending"] == 0:
                break
            await asyncio.sleep(0.2)
        second = await _worker(environment, errors=asyncio.subprocess.DEVNULL)
        try:
            job = await _enqueue(redis)
            assert await job.result(timeout=GUARD_SECONDS) == total - delivered_before
        finally:
            second.kill()
            await second.wait()
    finally:
        await redis.aclose()
        await mock.stop()

    sent = Counter((message.chat_id, message.text) for message in mock.accepted)
    expected = {(1000 + n, f"summary {r}") for n in range(CHATS) for r in range(ROUNDS)}
    assert set(sent) == expected  # none lost
    assert max(sent.values()) == 1  # none twice
    async with pg_database.system() as session:
        rows = list(await session.scalars(select(Notification)))
    assert {row.status for row in rows} == {"sent"}
    ids = {(message.chat_id, message.text): str(message.message_id) for message in mock.accepted}
    assert {row.message_id for row in rows} == set(ids.values())
