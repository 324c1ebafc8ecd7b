"""ADPILOT_CHAT_TURNS=queue for WhatsApp: the route acks and enqueues; a real arq worker answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from core.config import Settings
from core.db import Database
from tests.channels.slack.test_queued_turns import run_worker
from tests.channels.whatsapp.conftest import GraphApi, post, status, text, wamid
from web_min.app import create_app

STRANGER = "15550001111"


@pytest.fixture
def queued(wa_settings: Settings, redis_url: str) -> Settings:
    return wa_settings.model_copy(update={"redis_url": redis_url, "chat_turns": "queue"})


@pytest.fixture
async def queued_app(queued: Settings, database: Database) -> AsyncIterator[FastAPI]:
    app = create_app(queued)
    yield app
    await app.state.whatsapp.aclose()
    await app.state.database.dispose()


async def test_a_queued_message_is_acked_and_answered_once_by_the_worker(
    queued_app: FastAPI, queued: Settings, redis_url: str, graph: GraphApi
) -> None:
    message = text(STRANGER, "campaigns", message_id=wamid())
    assert (await post(queued_app, message)).json() == {"ok": True}
    assert (await post(queued_app, message)).json() == {"ok": True, "duplicate": True}
    # A status of another message rides the same queue as its own job.
    assert (await post(queued_app, status(wamid(), "delivered", STRANGER))).json() == {"ok": True}
    assert graph.sent == []  # nothing runs it in the web process

    await run_worker(queued, redis_url)

    assert len(graph.sent) == 1
    assert graph.sent[0]["to"] == STRANGER
    assert "link" in graph.sent[0]["text"]["body"].lower()


async def test_with_redis_down_the_message_is_refused_so_meta_redelivers_it(
    queued: Settings, database: Database, graph: GraphApi
) -> None:
    message = text(STRANGER, "campaigns", message_id=wamid())
    down = create_app(queued.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        refused = await post(down, message)
    finally:
        await down.state.whatsapp.aclose()
        await down.state.database.dispose()
    assert refused.status_code == 503
    up = create_app(queued)
    try:
        taken = await post(up, message)
    finally:
        await up.state.whatsapp.aclose()
        await up.state.database.dispose()
    assert taken.json() == {"ok": True}
