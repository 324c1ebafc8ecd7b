"""Tokens renewed ahead of expiry: once per account even with two workers, stored encrypted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.accounts.service import tokens_of
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.notify.models import Notification
from tests.worker.sync_scene import (
    FakePlatform,
    account_row,
    arq_pool,
    connected_account,
    job_ctx,
    refused,
)
from worker.token_refresh import refresh_expiring_tokens

pytestmark = pytest.mark.redis


async def test_two_workers_refreshing_the_same_account_make_one_refresh(
    database: Database, settings: Settings, redis_url: str
) -> None:
    scene = await connected_account(
        database,
        platform="meta",
        access_token="EAAB-long-lived",
        expires_at=utcnow() + timedelta(days=2),
    )
    platform = FakePlatform(gate=asyncio.Event())
    # Two workers: each its own Redis connection pool, sharing only the server.
    async with arq_pool(redis_url) as first_redis, arq_pool(redis_url) as second_redis:
        first_worker = job_ctx(database, settings, platform, first_redis)
        second_worker = job_ctx(database, settings, platform, second_redis)
        first = asyncio.create_task(refresh_expiring_tokens(first_worker))
        # The first worker is inside the platform's refresh call, holding the account's lock.
        await platform.entered.wait()
        assert await refresh_expiring_tokens(second_worker) == {"busy": 1}
        assert platform.gate is not None
        platform.gate.set()
        assert await first == {"refreshed": 1}
        # A later tick finds nothing due: the new token lasts 60 days.
        assert await refresh_expiring_tokens(second_worker) == {}
    assert platform.refreshes == ["EAAB-long-lived"]
    account = await account_row(database, scene.account_id)
    assert account.access_token_encrypted is not None
    assert "fresh-1" not in account.access_token_encrypted
    assert tokens_of(account).access_token == "fresh-1"
    assert account.token_expires_at is not None
    assert account.token_expires_at > utcnow() + timedelta(days=30)


async def test_a_google_refresh_keeps_the_refresh_token_and_tiktok_is_left_alone(
    database: Database, settings: Settings, redis_url: str
) -> None:
    google = await connected_account(
        database,
        platform="google",
        access_token="ya29.old",
        refresh_token="1//refresh",
        expires_at=utcnow() + timedelta(minutes=10),
    )
    # TikTok advertiser tokens do not expire and have no refresh flow: never touched.
    await connected_account(database, platform="tiktok", expires_at=utcnow() + timedelta(minutes=1))
    platform = FakePlatform(name="google")
    async with arq_pool(redis_url) as redis:
        assert await refresh_expiring_tokens(job_ctx(database, settings, platform, redis)) == {
            "refreshed": 1
        }
    assert platform.refreshes == ["1//refresh"]
    tokens = tokens_of(await account_row(database, google.account_id))
    assert (tokens.access_token, tokens.refresh_token) == ("fresh-1", "1//refresh")


async def test_a_refused_refresh_flags_the_account_and_tells_the_admins_once(
    database: Database, settings: Settings, redis_url: str
) -> None:
    scene = await connected_account(
        database,
        platform="google",
        refresh_token="1//revoked",
        expires_at=utcnow() + timedelta(minutes=5),
    )
    platform = FakePlatform(name="google", refresh_failure=refused())
    async with arq_pool(redis_url) as redis:
        ctx = job_ctx(database, settings, platform, redis)
        assert await refresh_expiring_tokens(ctx) == {"auth_error": 1}
        assert await refresh_expiring_tokens(ctx) == {"auth_error": 1}
    async with database.system() as session:
        (alert,) = list(await session.scalars(select(Notification)))
    assert alert.payload["kind"] == "auth_error"
    assert (await account_row(database, scene.account_id)).sync_status == "auth_error"
