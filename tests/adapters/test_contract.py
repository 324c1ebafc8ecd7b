"""One behavioural suite over every adapter, so the four cannot drift apart.

The HTTP adapters run against respx-served in-memory fakes of their APIs (tests/adapters/fakes.py);
the sandbox runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import respx
from sqlalchemy import delete

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.sandbox import CampaignSpec, SandboxAdapter
from adapters.tiktok_ads import TikTokAdsAdapter
from core.config import Settings
from core.db import Database
from core.errors import PlatformNotFound
from core.ports import AdPlatform, HourlyMetricsSource, MetricRow, PlatformCampaign
from core.sandbox.models import SandboxAccount
from tests.adapters.fakes import FakeGoogle, FakeMeta, FakeTikTok


@dataclass
class Subject:
    adapter: AdPlatform
    account_id: str
    token: str


async def _sandbox(url: str) -> AsyncIterator[Subject]:
    database = Database(Settings(database_url=url))
    adapter = SandboxAdapter(database)
    made = await adapter.provision_account(
        name="Contract",
        currency="USD",
        timezone="UTC",
        history_days=10,
        campaigns=[
            CampaignSpec(name="A", daily_budget=Decimal("50")),
            CampaignSpec(name="B", daily_budget=Decimal("20")),
        ],
    )
    try:
        yield Subject(adapter, made.account.external_id, "sandbox-token")
    finally:
        async with database.system() as session:
            # Campaigns and their revisions go with the account (ON DELETE CASCADE).
            await session.execute(
                delete(SandboxAccount).where(SandboxAccount.external_id == made.account.external_id)
            )
        await database.dispose()


@pytest.fixture(
    params=[
        "google",
        "meta",
        "tiktok",
        "sandbox-sqlite",
        pytest.param("sandbox-postgresql", marks=pytest.mark.postgres),
    ]
)
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(name, database url); sync because the migrated-template fixtures run their own loop."""
    name = str(request.param)
    if name == "sandbox-postgresql":
        return name, str(request.getfixturevalue("pg_url"))
    if name == "sandbox-sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "contract.db"
        target.write_bytes(template.read_bytes())
        return name, f"sqlite+aiosqlite:///{target}"
    return name, None


@pytest.fixture
async def subject(
    platform: tuple[str, str | None], http_settings: Settings, router: respx.MockRouter
) -> AsyncIterator[Subject]:
    name, url = platform
    if url is not None:
        async for item in _sandbox(url):
            yield item
        return
    adapter: GoogleAdsAdapter | MetaAdsAdapter | TikTokAdsAdapter
    if name == "google":
        FakeGoogle().install(router)
        adapter, account_id = GoogleAdsAdapter(http_settings), "1234567890"
    elif name == "meta":
        FakeMeta().install(router)
        adapter, account_id = MetaAdsAdapter(http_settings), "555"
    else:
        FakeTikTok().install(router)
        adapter, account_id = TikTokAdsAdapter(http_settings), "7000001"
    try:
        yield Subject(adapter, account_id, "token-abc")
    finally:
        await adapter.aclose()


async def _find(subject: Subject, campaign_id: str) -> PlatformCampaign:
    campaigns = await subject.adapter.list_campaigns(subject.account_id, access_token=subject.token)
    return next(c for c in campaigns if c.external_id == campaign_id)


async def test_is_an_ad_platform(subject: Subject) -> None:
    assert isinstance(subject.adapter, AdPlatform)
    assert isinstance(subject.adapter, HourlyMetricsSource)


async def test_lists_accounts_and_campaigns(subject: Subject) -> None:
    accounts = await subject.adapter.list_accounts(access_token=subject.token)
    assert subject.account_id in [account.external_id for account in accounts]
    campaigns = await subject.adapter.list_campaigns(subject.account_id, access_token=subject.token)
    assert len(campaigns) == 2
    for campaign in campaigns:
        assert campaign.status == "ACTIVE"
        assert isinstance(campaign.daily_budget, Decimal)
        assert campaign.daily_budget > 0
        assert campaign.account_id == subject.account_id


async def test_pause_then_resume_is_visible(subject: Subject) -> None:
    campaigns = await subject.adapter.list_campaigns(subject.account_id, access_token=subject.token)
    target = campaigns[0].external_id
    paused = await subject.adapter.pause_campaign(
        subject.account_id, target, access_token=subject.token
    )
    assert paused.status == "PAUSED"
    assert (await _find(subject, target)).status == "PAUSED"
    assert (await _find(subject, campaigns[1].external_id)).status == "ACTIVE"
    resumed = await subject.adapter.resume_campaign(
        subject.account_id, target, access_token=subject.token
    )
    assert resumed.status == "ACTIVE"
    assert (await _find(subject, target)).status == "ACTIVE"


async def test_budget_update_is_visible(subject: Subject) -> None:
    campaigns = await subject.adapter.list_campaigns(subject.account_id, access_token=subject.token)
    target = campaigns[1].external_id
    result = await subject.adapter.update_budget(
        subject.account_id, target, Decimal("75.50"), access_token=subject.token
    )
    assert result.daily_budget == Decimal("75.5")
    assert (await _find(subject, target)).daily_budget == Decimal("75.5")


async def test_get_campaign_reads_the_live_state(subject: Subject) -> None:
    campaigns = await subject.adapter.list_campaigns(subject.account_id, access_token=subject.token)
    target = campaigns[1]
    read = await subject.adapter.get_campaign(
        subject.account_id, target.external_id, access_token=subject.token
    )
    assert read == target
    await subject.adapter.update_budget(
        subject.account_id, target.external_id, Decimal("81.25"), access_token=subject.token
    )
    await subject.adapter.pause_campaign(
        subject.account_id, target.external_id, access_token=subject.token
    )
    changed = await subject.adapter.get_campaign(
        subject.account_id, target.external_id, access_token=subject.token
    )
    assert (changed.status, changed.daily_budget) == ("PAUSED", Decimal("81.25"))
    untouched = await subject.adapter.get_campaign(
        subject.account_id, campaigns[0].external_id, access_token=subject.token
    )
    assert (untouched.status, untouched.daily_budget) == ("ACTIVE", campaigns[0].daily_budget)


async def test_get_campaign_of_an_unknown_id_is_not_found(subject: Subject) -> None:
    with pytest.raises(PlatformNotFound):
        await subject.adapter.get_campaign(
            subject.account_id, "987654321", access_token=subject.token
        )


async def test_metrics_are_decimal_rows_in_range(subject: Subject) -> None:
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=2)
    rows = await subject.adapter.get_metrics(subject.account_id, None, start, end, subject.token)
    campaigns = await subject.adapter.list_campaigns(subject.account_id, access_token=subject.token)
    ids = {campaign.external_id for campaign in campaigns}
    assert rows
    assert {row.campaign_external_id for row in rows} == ids
    for row in rows:
        assert isinstance(row, MetricRow)
        assert start <= row.day <= end
        assert row.hour is None
        assert isinstance(row.spend, Decimal)
        assert row.spend > 0
        assert isinstance(row.conversions, Decimal)
        assert row.currency == "USD"
    one = sorted(ids)[0]
    only = await subject.adapter.get_metrics(subject.account_id, one, start, end, subject.token)
    assert only
    assert {row.campaign_external_id for row in only} == {one}
