"""`adpilot rules list` and `adpilot rules backtest`, through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from core.orgs.models import Organization
from core.rules import service
from core.users.models import Role
from tests import factories

ADPILOT = str(Path(sys.executable).with_name("adpilot"))


def adpilot(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADPILOT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "ADPILOT_DATABASE_URL": url},
        timeout=120,
        check=False,
    )


async def _seed(url: str) -> str:
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            organization = await factories.org(session)
            admin = await factories.user(session, organization, role=Role.ADMIN)
            acct = await factories.ad_account(session, organization, platform="meta")
            leaky = await factories.campaign(session, acct, name="Leaky Bucket")
            today = datetime.now(UTC).date()
            for ago in range(6, 0, -1):
                spend = Decimal(300) if ago == 3 else Decimal(20)
                await factories.daily_metrics(
                    session, leaky, first_day=today - timedelta(days=ago), days=1, spend=spend
                )
            await service.create_rule(
                session=session,
                org_id=organization.id,
                user=admin,
                rule_in={
                    "name": "Spend spike",
                    "conditions": ["spend yesterday > 100"],
                    "scope": {"kind": "platform", "platforms": ["meta"]},
                },
            )
            return organization.slug
    finally:
        await engine.dispose()


async def _drop(url: str, slug: str) -> None:
    # The PostgreSQL test database is shared by the run: leave nothing behind.
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(Organization).where(Organization.slug == slug))
    finally:
        await engine.dispose()


async def test_rules_list_and_backtest(db_url: str) -> None:
    slug = await _seed(db_url)
    try:
        _check_commands(db_url, slug)
    finally:
        await _drop(db_url, slug)


def _check_commands(db_url: str, slug: str) -> None:
    listed = adpilot("rules", "list", "--org", slug, url=db_url)
    assert listed.returncode == 0, listed.stderr
    assert "Spend spike" in listed.stdout
    assert "spend yesterday > 100" in listed.stdout
    result = adpilot("rules", "backtest", "spend spike", "--org", slug, "--days", "7", url=db_url)
    assert result.returncode == 0, result.stderr
    day = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    assert day in result.stdout
    assert "Leaky Bucket" in result.stdout
    assert "1 firings on 1 of 7 days" in result.stdout
    missing = adpilot("rules", "backtest", "nope", "--org", slug, url=db_url)
    assert missing.returncode == 1
    assert "No rule 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
