"""`adpilot sync` and `adpilot dead-letters`, through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.sandbox import CampaignSpec, SandboxAdapter
from core.accounts.models import AdAccount
from core.config import Settings
from core.db import Database
from core.events import dead_letters
from core.metrics.models import CampaignMetric
from core.security import crypto
from tests import factories
from tests.worker.sync_scene import arq_pool

ADPILOT = str(Path(sys.executable).with_name("adpilot"))


def adpilot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADPILOT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=120,
        check=False,
    )


async def _sandbox_account(database: Database) -> uuid.UUID:
    sandbox = SandboxAdapter(database)
    tokens = await sandbox.authenticate(code="test", redirect_uri="http://localhost/")
    made = await sandbox.provision_account(
        name="Backfill Co",
        campaigns=(
            CampaignSpec(name="Brand", daily_budget=Decimal(40)),
            CampaignSpec(name="Generic", daily_budget=Decimal(25)),
        ),
        history_days=120,
    )
    async with database.system() as session:
        organization = await factories.org(session)
        account = AdAccount(
            org_id=organization.id,
            platform="sandbox",
            external_id=made.account.external_id,
            name="Backfill Co",
            access_token_encrypted=crypto.encrypt(tokens.access_token),
            refresh_token_encrypted=crypto.encrypt_optional(tokens.refresh_token),
            token_expires_at=tokens.expires_at,
        )
        session.add(account)
        await session.flush()
        return account.id


async def _metric_rows(database: Database) -> int:
    async with database.system() as session:
        return int(await session.scalar(select(func.count()).select_from(CampaignMetric)) or 0)


async def test_sync_backfills_one_account_with_progress_and_is_idempotent(
    database: Database, settings: Settings
) -> None:
    account_id = await _sandbox_account(database)
    done = adpilot("sync", "--account", str(account_id), "--backfill", "30d")
    assert done.returncode == 0, done.stderr
    assert "30/30" in done.stdout  # the progress bar over days, finished
    assert "Synced Backfill Co: 2 campaign(s), 30 day(s)" in done.stdout
    stored = await _metric_rows(database)
    assert stored == 2 * 30
    again = adpilot("sync", "--account", str(account_id), "--backfill", "30d")
    assert again.returncode == 0, again.stderr
    assert "(0 new or changed)" in again.stdout
    assert await _metric_rows(database) == stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--account", str(uuid.UUID(int=7))), "No ad account with id"),
        (("--account", "act_555"), "is not an ad account id"),
        (("--account", str(uuid.UUID(int=7)), "--backfill", "90x"), "Bad duration '90x'"),
        (("--account", str(uuid.UUID(int=7)), "--backfill", "0d"), "Bad duration '0d'"),
    ],
)
async def test_sync_refuses_bad_input_with_one_clear_line(
    database: Database, args: tuple[str, ...], message: str
) -> None:
    result = adpilot("sync", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.redis
async def test_dead_letters_list_show_retry_and_purge(database: Database, redis_url: str) -> None:
    async with database.system() as session:
        letter = await dead_letters.record(
            session=session,
            job_name="sync_account",
            arguments={"account_id": "4f1c2d3e-0000-4000-8000-000000000001"},
            error="PlatformUnavailable: Meta answered HTTP 503.\nsecond line",
            attempts=5,
        )
        await dead_letters.record(
            session=session, job_name="sync_account", arguments={}, error="boom", attempts=2
        )
    listed = adpilot("dead-letters", "list")
    assert listed.returncode == 0, listed.stderr
    assert str(letter.id) in listed.stdout
    assert "Meta answered HTTP 503." in listed.stdout

    shown = adpilot("dead-letters", "show", str(letter.id))
    assert shown.returncode == 0, shown.stderr
    assert "4f1c2d3e-0000-4000-8000-000000000001" in shown.stdout
    assert "second line" in shown.stdout
    assert "after 5 tries" in shown.stdout

    retried = adpilot("dead-letters", "retry", str(letter.id), ADPILOT_REDIS_URL=redis_url)
    assert retried.returncode == 0, retried.stderr
    async with arq_pool(redis_url) as redis:
        (job,) = await redis.queued_jobs()
    assert (job.function, job.kwargs) == (
        "sync_account",
        {"account_id": "4f1c2d3e-0000-4000-8000-000000000001"},
    )
    twice = adpilot("dead-letters", "retry", str(letter.id), ADPILOT_REDIS_URL=redis_url)
    assert twice.returncode == 1
    assert "already retried" in twice.stderr
    # Retried letters leave the default list.
    assert str(letter.id) not in adpilot("dead-letters", "list").stdout

    missing = adpilot("dead-letters", "show", str(uuid.UUID(int=9)))
    assert missing.returncode == 1
    assert "No dead letter with id" in missing.stderr

    purged = adpilot("dead-letters", "purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert "Deleted 2 dead letter(s)" in purged.stdout
    assert "No dead letters." in adpilot("dead-letters", "list").stdout
