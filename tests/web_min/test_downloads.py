"""GET /downloads/…: a signed link serves its export; tampered 403, expired 410, gone 404."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from fastapi import FastAPI

from core.config import Settings
from core.exports import links
from web_min.app import create_app

ORG = uuid.UUID(int=7)
CSV_KEY = links.export_key(ORG, "report.csv")


@pytest.fixture
async def app(settings: Settings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    configured = settings.model_copy(
        update={"storage_url": f"file://{tmp_path}", "public_url": "http://adpilot.test"}
    )
    app = create_app(configured)
    await app.state.file_store.put(
        CSV_KEY, b"date,spend\n2026-06-09,1.00\n", content_type="text/csv"
    )
    yield app
    await app.state.database.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        yield http


async def test_a_signed_link_downloads_the_file(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get(links.signed_url(app.state.settings, CSV_KEY))
    assert response.status_code == 200
    assert response.content == b"date,spend\n2026-06-09,1.00\n"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert response.headers["cache-control"] == "private, no-store"


async def test_a_tampered_link_is_forbidden(app: FastAPI, client: httpx.AsyncClient) -> None:
    url = links.signed_url(app.state.settings, CSV_KEY)
    other_org = url.replace(str(ORG), str(uuid.UUID(int=8)))
    for bad in (other_org, url.replace("sig=", "sig=0"), url.split("?")[0]):
        response = await client.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["error"] == "permission_denied"


async def test_an_expired_link_is_gone(app: FastAPI, client: httpx.AsyncClient) -> None:
    with time_machine.travel(datetime.now(UTC) - timedelta(days=2), tick=False):
        url = links.signed_url(app.state.settings, CSV_KEY)
    response = await client.get(url)
    assert response.status_code == 410
    assert "expired" in response.json()["detail"]


async def test_a_deleted_export_is_not_found(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    url = links.signed_url(app.state.settings, CSV_KEY)
    (tmp_path / "exports" / str(ORG) / "report.csv").unlink()
    assert (await client.get(url)).status_code == 404
