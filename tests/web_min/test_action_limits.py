"""An action limit that escapes to the edge is a 429 with Retry-After, never a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from core.action_limits import ActionKind, ActionLimited
from web_min import errors


async def test_an_escaped_action_limit_is_a_429_with_retry_after() -> None:
    app = FastAPI()
    errors.install(app)

    @app.post("/api/thing")
    async def thing() -> None:
        raise ActionLimited(kind=ActionKind.CAMPAIGN_CHANGE, scope="org", retry_after=17)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/api/thing")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "17"
    assert response.json()["error"] == "rate_limited"
    assert "at most 60 a minute for your organization" in response.json()["detail"]
