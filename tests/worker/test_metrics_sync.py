"""Metrics sync jobs on the real Redis: fan-out, idempotent upsert, defer, auth alerts, limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
import respx
from arq import Retry, func
from arq.worker import Worker
from pydantic import SecretStr
from sqlalchemy import func as sql_func
from sqlalchemy import select

from adapters.meta_ads import MetaAdsAdapter
from core.accounts.models import AdAccount
from core.campaigns.models import Campaign
from core.config import Settings
from core.db import Database
from core.errors import PlatformUnavailable
from core.events.models import DeadLetterJob
from core.metrics.models import CampaignMetric
from core.notify.models import Notification
from core.ports import PlatformCampaign, PlatformRegistry
from tests.adapters.fakes import META, FakeMeta
from tests.adapters.helpers import payload
from tests.worker.sync_scene import (
    FakePlatform,
    account_row,
    add_account,
    arq_pool,
    connected_account,
    job_ctx,
    refused,
    registry_of,
)
from worker.metrics_sync import (
    JOB_NAME,
    MAX_TRIES,
    enqueue_syncs,
    sync_account_job,
    sync_job_id,
)
from worker.platform_slots import KEY_PREFIX, PlatformSlots

pytestmark = pytest.mark.redis


async def _counts(database: Database) -> tuple[int, int]:
    async with database.system() as session:
        campaigns = await session.scalar(select(sql_func.count()).select_from(Campaign))
        metrics = await session.scalar(select(sql_func.count()).select_from(CampaignMetric))
    return int(campaigns or 0), int(metrics or 0)


async def test_a_resync_upserts_the_same_rows_and_marks_the_account_synced(
    database: Database, settings: Settings, redis_url: str
) -> None:
    meta = settings.model_copy(
        update={"meta_app_id": "meta-app", "meta_app_secret": SecretStr("meta-secret")}
    )
    fake = FakeMeta()
    scene = await connected_account(database, platform="meta")
    async with database.system() as session:
        stored = await session.get(AdAccount, scene.account_id)
        assert stored is not None
        stored.external_id = fake.account
    registry = PlatformRegistry()
    registry.register("meta", lambda: MetaAdsAdapter(meta))
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        async with arq_pool(redis_url) as redis:
            ctx = {"database": database, "settings": meta, "registry": registry, "redis": redis}
            assert await sync_account_job({**ctx, "job_try": 1}, str(scene.account_id)) == "synced"
            first = await _counts(database)
            fake.campaigns["6001"]["name"] = "Prospecting EU"
            assert await sync_account_job({**ctx, "job_try": 1}, str(scene.account_id)) == "synced"
    # Two campaigns, one row per campaign and day of the 3-day look-back; the re-sync adds none.
    assert first == (2, 2 * 3)
    assert await _counts(database) == first
    async with database.system() as session:
        names = sorted(await session.scalars(select(Campaign.name)))
    assert names == ["Prospecting EU", "Retargeting"]
    account = await account_row(database, scene.account_id)
    assert account.sync_status == "ok"
    assert account.last_synced_at is not None


async def test_a_rate_limited_sync_is_deferred_by_the_platforms_wait(
    database: Database, settings: Settings, redis_url: str
) -> None:
    meta = settings.model_copy(
        update={"meta_app_id": "meta-app", "meta_app_secret": SecretStr("meta-secret")}
    )
    scene = await connected_account(database, platform="meta")
    async with database.system() as session:
        stored = await session.get(AdAccount, scene.account_id)
        assert stored is not None
        stored.external_id = "555"
    registry = PlatformRegistry()
    registry.register("meta", lambda: MetaAdsAdapter(meta))
    usage = '{"555": [{"type": "ads_insights", "estimated_time_to_regain_access": 7}]}'
    with respx.mock(assert_all_called=True) as router:
        router.get(f"{META}/act_555").mock(
            return_value=httpx.Response(
                400,
                json=payload("meta/error_17.json"),
                headers={"x-business-use-case-usage": usage},
            )
        )
        async with arq_pool(redis_url) as redis:
            ctx = {"database": database, "settings": meta, "registry": registry, "redis": redis}
            with pytest.raises(Retry) as deferred:
                await sync_account_job({**ctx, "job_try": 1}, str(scene.account_id))
            # The slot went back when the job was deferred.
            assert await PlatformSlots(redis, meta).in_use("meta") == 0
    # Meta said 7 minutes: the job comes back then, not at arq's default backoff.
    assert deferred.value.defer_score == 7 * 60 * 1000
    assert (await account_row(database, scene.account_id)).sync_status != "ok"


async def test_a_refused_token_is_renewed_once_and_the_sync_goes_on(
    database: Database, settings: Settings, redis_url: str
) -> None:
    scene = await connected_account(database, access_token="EAAB-stale")
    platform = FakePlatform()
    first_call = True

    original = platform.list_campaigns

    async def refuse_stale(account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        nonlocal first_call
        if first_call:
            first_call = False
            raise refused()
        return await original(account_id, access_token=access_token)

    platform.list_campaigns = refuse_stale  # type: ignore[method-assign]
    async with arq_pool(redis_url) as redis:
        ctx = job_ctx(database, settings, platform, redis)
        assert await sync_account_job(ctx, str(scene.account_id)) == "synced"
    # Meta has no refresh token: the stale long-lived token itself was exchanged.
    assert platform.refreshes == ["EAAB-stale"]
    assert platform.tokens_seen == ["fresh-1"]
    account = await account_row(database, scene.account_id)
    assert account.access_token_encrypted is not None
    assert "fresh-1" not in account.access_token_encrypted


async def test_lost_authorisation_notifies_the_admins_once_across_cycles(
    database: Database, settings: Settings, redis_url: str
) -> None:
    scene = await connected_account(database)
    platform = FakePlatform(failure=refused(), refresh_failure=refused())
    async with arq_pool(redis_url) as redis:
        ctx = job_ctx(database, settings, platform, redis)
        assert await sync_account_job(ctx, str(scene.account_id)) == "auth_error"
        # The next 15-minute cycle fails the same way: no second alert.
        assert await sync_account_job(ctx, str(scene.account_id)) == "auth_error"
        async with database.system() as session:
            (alert,) = list(await session.scalars(select(Notification)))
        assert (alert.channel, alert.conversation_id, alert.status) == (
            "telegram",
            scene.admin_chat,
            "pending",
        )
        assert alert.payload["kind"] == "auth_error"
        assert "Reconnect" in alert.payload["text"] or "reconnect" in alert.payload["text"]
        assert alert.payload["reconnect_hint"]
        assert (await account_row(database, scene.account_id)).sync_status == "auth_error"

        # Reconnected: a good sync clears the flag, so a later loss is told again.
        platform.failure = None
        assert await sync_account_job(ctx, str(scene.account_id)) == "synced"
        platform.failure = refused()
        assert await sync_account_job(ctx, str(scene.account_id)) == "auth_error"
    async with database.system() as session:
        alerts = list(await session.scalars(select(Notification)))
    assert len(alerts) == 2


async def test_the_cron_fans_out_one_job_per_account_and_tick(
    database: Database, settings: Settings, redis_url: str
) -> None:
    scene = await connected_account(database)
    second = await add_account(database, scene.org_id)
    async with arq_pool(redis_url) as redis:
        ctx = {"database": database, "redis": redis, "settings": settings}
        assert await enqueue_syncs(ctx) == 2
        # The same tick again (a second worker's cron): nothing new.
        assert await enqueue_syncs(ctx) == 0
        queued = await redis.queued_jobs()
    assert sorted(job.kwargs["account_id"] for job in queued) == sorted(
        [str(scene.account_id), str(second)]
    )
    assert {job.function for job in queued} == {JOB_NAME}
    # Spread over the cycle (300 s by default): the second account's job is due later.
    scores = sorted(job.score for job in queued if job.score is not None)
    assert scores[1] - scores[0] >= 149_000
    tick = datetime(2026, 11, 30, 12, 44, 59, tzinfo=UTC)
    assert sync_job_id(scene.account_id, tick) == f"sync:{scene.account_id}:20261130T1230"


def _worker(redis_url: str, ctx: dict[str, object]) -> Worker:
    from arq.connections import RedisSettings

    from channels.turns import dump_job, load_job

    return Worker(
        functions=[func(sync_account_job, name=JOB_NAME, max_tries=MAX_TRIES)],
        redis_settings=RedisSettings.from_dsn(redis_url),
        job_serializer=dump_job,
        job_deserializer=load_job,
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
        max_jobs=8,
        ctx=ctx,
    )


async def test_the_platform_limit_holds_across_two_workers(
    database: Database, settings: Settings, redis_url: str
) -> None:
    limited = settings.model_copy(update={"sync_concurrency_meta": 2, "sync_spread_seconds": 0})
    scene = await connected_account(database)
    for _ in range(7):
        await add_account(database, scene.org_id)
    platform = FakePlatform()
    async with arq_pool(redis_url) as redis:
        fan_out = {"database": database, "redis": redis, "settings": limited}
        assert await enqueue_syncs(fan_out) == 8
        ctx = {"database": database, "settings": limited, "registry": registry_of(platform)}
        workers = [_worker(redis_url, dict(ctx)), _worker(redis_url, dict(ctx))]
        try:
            await asyncio.gather(*(worker.main() for worker in workers))
        finally:
            for worker in workers:
                await worker.close()
        assert await redis.zcard(KEY_PREFIX + "meta") == 0
    assert platform.reads == 8
    # Sixteen job slots between the two workers, two platform slots: never more at once.
    assert platform.peak == 2
    async with database.system() as session:
        statuses = set(await session.scalars(select(AdAccount.sync_status)))
    assert statuses == {"ok"}


async def test_a_sync_that_keeps_failing_is_dead_lettered_after_its_tries(
    database: Database, settings: Settings, redis_url: str
) -> None:
    quick = settings.model_copy(update={"sync_retry_backoff_seconds": 0.0})
    scene = await connected_account(database, access_token="EAAB-secret-token")
    platform = FakePlatform(failure=PlatformUnavailable("Meta answered HTTP 503."))
    async with arq_pool(redis_url) as redis:
        await redis.enqueue_job(JOB_NAME, account_id=str(scene.account_id))
        worker = _worker(
            redis_url, {"database": database, "settings": quick, "registry": registry_of(platform)}
        )
        try:
            await worker.main()
        finally:
            await worker.close()
    assert platform.reads == MAX_TRIES
    async with database.system() as session:
        (letter,) = list(await session.scalars(select(DeadLetterJob)))
    assert letter.job_name == JOB_NAME
    assert letter.arguments == {"account_id": str(scene.account_id)}
    assert letter.attempts == MAX_TRIES
    assert letter.org_id == scene.org_id
    assert "503" in letter.error
    assert "EAAB-secret-token" not in str(letter.arguments) + letter.error
    account = await account_row(database, scene.account_id)
    assert account.sync_status == "error"


async def test_without_redis_the_cron_syncs_every_account_in_process(
    database: Database, settings: Settings
) -> None:
    meta = settings.model_copy(
        update={"meta_app_id": "meta-app", "meta_app_secret": SecretStr("meta-secret")}
    )
    fake = FakeMeta()
    scene = await connected_account(database, platform="meta")
    async with database.system() as session:
        stored = await session.get(AdAccount, scene.account_id)
        assert stored is not None
        stored.external_id = fake.account
    registry = PlatformRegistry()
    registry.register("meta", lambda: MetaAdsAdapter(meta))
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        # The embedded scheduler's context: no "redis", so nothing is enqueued anywhere.
        ctx = {"database": database, "settings": meta, "registry": registry}
        assert await enqueue_syncs(ctx) == 1
    assert await _counts(database) == (2, 2 * 3)
    assert (await account_row(database, scene.account_id)).sync_status == "ok"
