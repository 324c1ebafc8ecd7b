"""Liveness, readiness and metrics: what a load balancer and Prometheus ask the process."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from core.db import Database
from web_min.observability import AppMetrics

router = APIRouter()
# A readiness probe must answer before the balancer's own timeout does.
CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (nothing else is checked)."""
    return {"status": "ok"}


async def _database_ready(database: Database) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), database.system() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database: {type(exc).__name__}"
    return None


async def _redis_ready(redis_url: str | None) -> str | None:
    if not redis_url:
        return None
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await client.ping()
    except Exception as exc:
        return f"redis: {type(exc).__name__}"
    finally:
        await client.aclose()
    return None


def _receivers(request: Request) -> dict[str, str]:
    receivers = getattr(request.app.state, "receivers", {})
    return {
        name: "connected" if receiver.connected else "disconnected"
        for name, receiver in receivers.items()
    }


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Database and (when configured) Redis answer; 503 naming what is down.

    A channel's receive connection (Signal's websocket) is reported, never a 503: a
    third-party container that flaps must not take the API out of its load balancer, and
    the receiver reconnects by itself (docs/decisions.md).
    """
    database: Database = request.app.state.database
    problems = [
        problem
        for problem in await asyncio.gather(
            _database_ready(database), _redis_ready(database.settings.redis_url)
        )
        if problem is not None
    ]
    body: dict[str, object] = (
        {"status": "unavailable", "down": problems} if problems else {"status": "ready"}
    )
    receivers = _receivers(request)
    if receivers:
        body["receivers"] = receivers
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics (behind a token when one is set)."""
    token = request.app.state.database.settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}".encode()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse(
                {"error": "unauthorized", "detail": "GET /metrics needs the metrics token."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    app_metrics: AppMetrics = request.app.state.metrics
    return Response(app_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
