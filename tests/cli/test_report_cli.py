"""`adpilot report export --org SLUG --days N`, through the real entry point, to local disk."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from core.orgs.models import Organization
from tests import factories
from tests.cli.test_rules_cli import ADPILOT


def adpilot(*args: str, url: str, storage: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADPILOT, *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "COLUMNS": "300",
            "ADPILOT_DATABASE_URL": url,
            "ADPILOT_STORAGE_URL": f"file://{storage}",
            "ADPILOT_PUBLIC_URL": "https://ads.example",
        },
        timeout=120,
        check=False,
    )


async def _seed(url: str) -> str:
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            organization = await factories.org(session)
            account = await factories.ad_account(session, organization, platform="tiktok")
            video = await factories.campaign(session, account, name="Video Push")
            today = datetime.now(UTC).date()
            await factories.daily_metrics(
                session, video, first_day=today - timedelta(days=2), days=3
            )
            return organization.slug
    finally:
        await engine.dispose()


async def _drop(url: str, slug: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(Organization).where(Organization.slug == slug))
    finally:
        await engine.dispose()


def _check_files(storage: Path) -> None:
    [csv_path] = list(storage.glob("exports/*/*.csv"))
    [png_path] = list(storage.glob("exports/*/*.png"))
    assert png_path.read_bytes().startswith(b"\x89PNG")
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 8
    assert {row[2] for row in rows[1:]} == {"Video Push"}
    assert [row[7] for row in rows[-3:]] == ["40.00", "40.00", "40.00"]
    assert oct(csv_path.stat().st_mode & 0o777) == "0o600"


async def test_report_export_writes_files_and_prints_links(db_url: str, tmp_path: Path) -> None:
    slug = await _seed(db_url)
    try:
        result = adpilot(
            "report", "export", "--org", slug, "--days", "7", url=db_url, storage=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert "Exported 7 row(s)" in result.stdout
        assert "link: https://ads.example/downloads/exports/" in result.stdout
        _check_files(tmp_path)

        missing = adpilot("report", "export", "--org", "nope", url=db_url, storage=tmp_path)
        assert missing.returncode == 1
        assert "No organization" in missing.stderr
        assert "Traceback" not in missing.stderr
    finally:
        await _drop(db_url, slug)
