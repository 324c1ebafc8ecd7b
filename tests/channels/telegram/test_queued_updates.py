"""ADPILOT_CHAT_TURNS=queue for Telegram: the route acks and enqueues; a real arq worker answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from core.config import Settings
from core.db import Database
from tests.channels.slack.test_queued_turns import run_worker
from tests.channels.telegram.test_webhook import (  # noqa: F401 (fixtures)
    TelegramApi,
    post,
    telegram_api,
    text_update,
    tg_settings,
)
from web_min.app import create_app

STRANGER = 9999


@pytest.fixture
def queued(tg_settings: Settings, redis_url: str) -> Settings:  # noqa: F811
    return tg_settings.model_copy(update={"redis_url": redis_url, "chat_turns": "queue"})


@pytest.fixture
async def app(queued: Settings, database: Database) -> AsyncIterator[FastAPI]:
    app = create_app(queued)
    yield app
    await app.state.telegram.drain()
    await app.state.database.dispose()


async def test_a_queued_update_is_acked_and_answered_once_by_the_worker(
    app: FastAPI,
    queued: Settings,
    redis_url: str,
    telegram_api: TelegramApi,  # noqa: F811
) -> None:
    update = text_update(STRANGER, "campaigns")
    assert (await post(app, update)).status_code == 200
    assert (await post(app, update)).json() == {"ok": True, "duplicate": True}
    assert telegram_api.router["sendMessage"].call_count == 0  # nothing runs it in the web

    await run_worker(queued, redis_url)

    assert telegram_api.router["sendMessage"].call_count == 1
    sent = telegram_api.router["sendMessage"].calls.last.request.content.decode()
    assert "link" in sent


async def test_with_redis_down_the_update_is_refused_so_telegram_redelivers_it(
    queued: Settings,
    database: Database,
    redis_url: str,
    telegram_api: TelegramApi,  # noqa: F811
) -> None:
    update = text_update(STRANGER, "campaigns")
    down = create_app(queued.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        refused = await post(down, update)
    finally:
        await down.state.telegram.drain()
        await down.state.database.dispose()
    assert refused.status_code == 503
    # Telegram redelivers what was not acked; with Redis back, it is taken, not a duplicate.
    up = create_app(queued)
    try:
        taken = await post(up, update)
    finally:
        await up.state.telegram.drain()
        await up.state.database.dispose()
    assert taken.json() == {"ok": True}
