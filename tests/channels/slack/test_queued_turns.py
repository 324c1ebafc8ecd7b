"""ADPILOT_CHAT_TURNS=queue: the web acks and enqueues on real Redis; a real arq worker answers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from arq import Retry
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker
from fastapi import FastAPI
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from channels.base import ChannelError, Failure
from channels.turns import ChatTurn, dump_job, load_job
from core.config import Settings
from core.db import Database
from tests.channels.slack.conftest import MockSlack
from web_min.app import create_app
from worker.chat_turns import chat_turn
from worker.settings import WorkerSettings, quiet_job_arguments, shutdown, startup

SIGNING_SECRET = "8f742231b10e8888abcd99aaabbb85a5"


def queued(settings: Settings, slack: MockSlack, redis_url: str) -> Settings:
    assert slack.server is not None
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr("xoxb-test-token"),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": str(slack.server.make_url("/api/")),
            "redis_url": redis_url,
            "chat_turns": "queue",
        }
    )


@pytest.fixture
async def configured(
    settings: Settings, database: Database, slack: MockSlack, redis_url: str
) -> Settings:
    return queued(settings, slack, redis_url)


@pytest.fixture
async def app(configured: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(configured)
    yield app
    await app.state.slack.aclose()
    await app.state.database.dispose()


async def command(app: FastAPI, slack: MockSlack, trigger: str) -> httpx.Response:
    assert slack.server is not None
    body = urlencode(
        {
            "team_id": "T111",
            "channel_id": "C111",
            "user_id": "USTRANGER",
            "command": "/adpilot",
            "text": "campaigns",
            "response_url": str(slack.server.make_url("/respond")),
            "trigger_id": trigger,
            "api_app_id": "A111",
        }
    ).encode()
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": str(
            SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
        ),
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        return await http.post("/slack/events", content=body, headers=headers)


async def run_worker(configured: Settings, redis_url: str) -> None:
    """arq's own Worker, burst mode: runs what is queued, then returns."""
    worker = Worker(
        functions=WorkerSettings.functions,
        redis_settings=RedisSettings.from_dsn(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        job_serializer=dump_job,
        job_deserializer=load_job,
        keep_result=WorkerSettings.keep_result,
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
        ctx={"settings": configured},
    )
    try:
        await worker.main()
    finally:
        await worker.close()


async def test_a_queued_command_is_acked_at_once_and_answered_once_by_the_worker(
    app: FastAPI, configured: Settings, slack: MockSlack, redis_url: str
) -> None:
    first = await command(app, slack, "13345224609.738474920.8088930838d88f008e0")
    # The same command delivered twice (a proxy retry) is one job.
    again = await command(app, slack, "13345224609.738474920.8088930838d88f008e0")
    assert (first.status_code, again.status_code) == (200, 200)
    assert slack.of("response_url") == []  # nothing runs the turn in the web process

    redis = await create_pool(
        RedisSettings.from_dsn(redis_url), job_serializer=dump_job, job_deserializer=load_job
    )
    try:
        (job,) = await redis.queued_jobs()
        assert job.function == "chat_turn"
        raw = await redis.get(f"arq:job:{job.job_id}")
        assert raw is not None
        assert json.loads(raw)["a"][0]["fields"]["text"] == "campaigns"  # JSON, never pickle
    finally:
        await redis.aclose()

    await run_worker(configured, redis_url)

    (answer,) = slack.of("response_url")
    assert "not linked" in answer["text"]


async def test_with_redis_down_the_command_is_refused_in_the_ack_not_lost_silently(
    settings: Settings, database: Database, slack: MockSlack
) -> None:
    app = create_app(queued(settings, slack, "redis://127.0.0.1:1/0"))
    try:
        response = await command(app, slack, "1.2.3")
    finally:
        await app.state.database.dispose()
    assert response.status_code == 200
    assert "cannot take commands right now" in response.text


async def test_a_rate_limited_turn_is_retried_later_and_a_refused_one_is_not() -> None:
    turn = ChatTurn(channel="slack", kind="command", key="k", fields={}).to_job()

    async def slowed(_: ChatTurn) -> None:
        raise ChannelError("slow down", retry_after=7)

    async def refused(_: ChatTurn) -> None:
        raise ChannelError("no", failure=Failure.CHAT_NOT_FOUND)

    with pytest.raises(Retry) as retry:
        await chat_turn({"turn_handlers": {"slack": slowed}, "job_try": 1}, turn)
    assert retry.value.defer_score == 7000
    assert await chat_turn({"turn_handlers": {"slack": refused}, "job_try": 1}, turn) == (
        "failed: chat_not_found"
    )
    assert await chat_turn({"turn_handlers": {}, "job_try": 1}, turn) == "dropped"


async def test_the_worker_builds_the_configured_channels_and_closes_them(
    configured: Settings,
) -> None:
    ctx: dict[str, object] = {"settings": configured}
    await startup(ctx)
    try:
        # Slack incoming webhooks need no settings: each destination holds its own URL.
        assert set(ctx["channels"]) == {"slack", "slack_webhook"}  # type: ignore[call-overload]
        assert set(ctx["turn_handlers"]) == {"slack"}  # type: ignore[call-overload]
    finally:
        await shutdown(ctx)


async def test_the_worker_log_names_each_job_but_never_its_message(
    configured: Settings, slack: MockSlack, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_job_arguments()
    app = create_app(configured)
    try:
        await command(app, slack, "1.secret-text-check")
    finally:
        await app.state.slack.aclose()
        await app.state.database.dispose()
    with caplog.at_level(logging.INFO):
        await run_worker(configured, redis_url)
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("arq", "worker", "channels"))  # not the mock's access log
    )
    assert "chat_turn:slack:1.secret-text-check" in ours  # the job, by its id
    assert "'channel': 'slack'" not in ours  # no job arguments at all (arq would cut them
    assert "campaigns" not in ours  # at 80 characters, then the text would follow)
    assert "/respond" not in ours  # its response_url
