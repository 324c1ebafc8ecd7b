"""Webhook rate limits: per verified source, shared through the real Redis, 429 + Retry-After."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from core.config import Settings
from web_min.app import create_app
from web_min.rate_limit import WEBHOOK_PER_SOURCE, RateLimiter, TooManyRequests


async def test_the_101st_webhook_of_one_source_in_a_minute_is_refused() -> None:
    limiter = RateLimiter(None)
    for _ in range(100):
        await limiter.check(WEBHOOK_PER_SOURCE, "telegram", "chat-1")
    with pytest.raises(TooManyRequests) as refused:
        await limiter.check(WEBHOOK_PER_SOURCE, "telegram", "chat-1")
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.limit == "100 per 1 minute"
    # Another chat of the same workspace is not throttled with it.
    await limiter.check(WEBHOOK_PER_SOURCE, "telegram", "chat-2")


async def test_replicas_share_one_window_through_redis(redis_url: str) -> None:
    first, second = RateLimiter(redis_url), RateLimiter(redis_url)
    assert first.shared
    for _ in range(60):
        await first.check(WEBHOOK_PER_SOURCE, "slack", "U1")
    for _ in range(40):
        await second.check(WEBHOOK_PER_SOURCE, "slack", "U1")
    for limiter in (first, second):
        with pytest.raises(TooManyRequests):
            await limiter.check(WEBHOOK_PER_SOURCE, "slack", "U1")


async def test_a_redis_outage_lets_requests_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="web_min.rate_limit"):
        await limiter.check(WEBHOOK_PER_SOURCE, "slack", "U1")
    assert "rate limit store unavailable" in caplog.text


@pytest.fixture
async def limited_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)

    @app.post("/limited/{source}")
    async def limited(source: str, request: Request) -> dict[str, str]:
        await request.app.state.limiter.check(WEBHOOK_PER_SOURCE, "test", source)
        return {"ok": source}

    yield app
    await app.state.database.dispose()


async def test_over_the_limit_is_a_429_with_retry_after(limited_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        for _ in range(100):
            assert (await http.post("/limited/a")).status_code == 200
        refused = await http.post("/limited/a")
        other = await http.post("/limited/b")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"] == "rate_limited"
    assert other.status_code == 200
