"""The HTTP app's edge: health, readiness, metrics, request ids, headers, body limit, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from core.base import utcnow
from core.config import Settings
from core.errors import NotFound, PlatformError, QuotaExceeded, ValidationFailed
from web_min.app import MAX_BODY_BYTES, configure_structlog, create_app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)

    # Routes that raise, so the error table is exercised through the real handlers.
    @app.get("/boom/{kind}")
    async def boom(kind: str) -> None:
        errors: dict[str, Exception] = {
            "validation": ValidationFailed("Budget must be positive.", field="daily_budget"),
            "missing": NotFound("No such campaign."),
            "platform": PlatformError("Meta said no."),
            "slow": PlatformError("Meta is busy.", retry_after=29.5),
            "quota": QuotaExceeded(limit=50, resets_at=utcnow() + timedelta(hours=2)),
        }
        raise errors.get(kind, RuntimeError("secret internals: token=abc"))

    @app.post("/echo")
    async def echo(payload: dict[str, int]) -> dict[str, int]:
        return payload

    yield app
    await app.state.database.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        yield http


async def test_healthz_answers_without_touching_anything(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_names_a_configured_redis_that_is_down(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(down)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        response = await http.get("/readyz")
    await app.state.database.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert [problem.split(":")[0] for problem in response.json()["down"]] == ["redis"]


async def test_readyz_is_ready_with_the_real_redis(settings: Settings, redis_url: str) -> None:
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        response = await http.get("/readyz")
    await app.state.database.dispose()
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/boom/missing")
    await client.get("/boom/validation")
    await client.get("/no/such/path/at/all")
    text = (await client.get("/metrics")).text
    assert 'adpilot_http_requests_total{method="GET",route="/boom/{kind}",status="404"} 1.0' in text
    assert 'adpilot_http_requests_total{method="GET",route="/boom/{kind}",status="400"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "adpilot_http_request_duration_seconds_bucket" in text
    assert "/no/such/path" not in text


async def test_request_id_is_kept_when_plain_and_replaced_when_not(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/healthz"), await client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_a_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    declared = await client.post("/echo", content=b"x" * (MAX_BODY_BYTES + 1))
    assert declared.status_code == 413
    assert declared.json()["error"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must hold while the body streams in.
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"y" * 65536

    streamed = await client.post("/echo", content=chunks())
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("path", "status", "error", "detail"),
    [
        ("/boom/validation", 400, "validation_failed", "Budget must be positive."),
        ("/boom/missing", 404, "not_found", "No such campaign."),
        ("/boom/platform", 502, "platform_error", "Meta said no."),
        ("/boom/other", 500, "internal_error", "Something went wrong on our side."),
        ("/nowhere", 404, "not_found", "Not Found"),
    ],
)
async def test_errors_follow_the_table_with_no_internals(
    client: httpx.AsyncClient, path: str, status: int, error: str, detail: str
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    body = response.json()
    assert (body["error"], body["detail"]) == (error, detail)
    assert body["request_id"] == response.headers["x-request-id"]
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_malformed_json_is_a_400_with_details(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["error"] == "bad_request"
    wrong = await client.post("/echo", json={"n": "not a number"})
    assert wrong.status_code == 400
    assert wrong.json()["detail"][0]["loc"] == ["body", "n"]


async def test_one_json_access_line_per_request_without_query_or_body(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    configure_structlog()
    with caplog.at_level(logging.INFO, logger="adpilot.access"):
        await client.post("/echo?token=sekrit-value", json={"secret": 987654321})
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    assert len(lines) == 1
    line = lines[0]
    assert {key: line[key] for key in ("event", "method", "route", "status")} == {
        "event": "request",
        "method": "POST",
        "route": "/echo",
        "status": 200,
    }
    assert isinstance(line["duration_ms"], float)
    assert "sekrit-value" not in caplog.text
    assert "987654321" not in caplog.text


async def test_errors_that_know_when_to_retry_say_so(client: httpx.AsyncClient) -> None:
    slow = await client.get("/boom/slow")
    assert (slow.status_code, slow.headers["retry-after"]) == (502, "30")
    quota = await client.get("/boom/quota")
    assert quota.status_code == 429
    assert 7000 < int(quota.headers["retry-after"]) <= 7200


async def test_any_method_a_scanner_sends_is_one_metric_label(client: httpx.AsyncClient) -> None:
    for junk in ("JUNK1", "JUNK2", "PROPFIND"):
        await client.request(junk, "/healthz")
    text = (await client.get("/metrics")).text
    assert 'method="other"' in text
    assert "JUNK1" not in text
    assert "PROPFIND" not in text


async def test_metrics_behind_a_token_when_one_is_set(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr("scrape-me-please")}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    await app.state.database.dispose()
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "adpilot_http_requests_total" in right.text
    assert "scrape-me-please" not in anonymous.text


async def test_the_heap_alive_after_start_up_is_frozen_out_of_collections(
    settings: Settings,
) -> None:
    import gc

    gc.unfreeze()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # Modules, routes and engines live as long as the process: full collections skip them.
        assert gc.get_freeze_count() > 0
    gc.unfreeze()
