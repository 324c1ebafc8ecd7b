"""Which PostgreSQL path an upsert takes: straight COPY when no key can exist, else the merge.

Straight COPY is only for logins that bypass RLS (PostgreSQL refuses COPY FROM under RLS) and
rows whose campaigns have nothing stored in the rows' time span. A wrong guess (a concurrent
writer, a repeated key, a foreign campaign) must fall back to the merge with the same outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from core.campaigns.models import Campaign
from core.db import Database
from core.errors import ValidationFailed
from core.metrics import upsert as upsert_module
from core.metrics.models import CampaignMetric
from core.metrics.schemas import MetricIn
from core.metrics.upsert import upsert
from core.metrics.windows import day_start
from tests import factories

pytestmark = pytest.mark.postgres


@pytest.fixture
def backend() -> str:
    return "postgresql"


def rows_for(campaign: Campaign, days: int, *, first: date, scale: int = 1) -> list[MetricIn]:
    return [
        MetricIn(
            campaign_id=campaign.id,
            platform=campaign.platform,
            recorded_at=day_start(first + timedelta(days=offset), "UTC"),
            org_id=campaign.org_id,
            impressions=100 * scale + offset,
            clicks=5 * scale,
            spend=Decimal("3.25") * scale,
            conversions=Decimal(1),
            conversion_value=Decimal("10.5") * scale,
        )
        for offset in range(days)
    ]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the write paths taken, in order."""
    taken: list[str] = []
    for name in ("_copy_direct", "_merge_via_stage"):
        original: Callable[..., Awaitable[Any]] = getattr(upsert_module, name)

        def spy(
            *args: Any, _name: str = name, _original: Callable[..., Awaitable[Any]] = original
        ) -> Awaitable[Any]:
            taken.append(_name)
            return _original(*args)

        monkeypatch.setattr(upsert_module, name, spy)
    return taken


async def seeded_campaign(database: Database) -> Campaign:
    async with database.system() as session:
        org = await factories.org(session)
        account = await factories.ad_account(session, org, platform="google")
        return await factories.campaign(session, account)


async def stored(database: Database, campaign: Campaign) -> list[CampaignMetric]:
    async with database.system() as session:
        query = select(CampaignMetric).where(CampaignMetric.campaign_id == campaign.id)
        return list(await session.scalars(query.order_by(CampaignMetric.recorded_at)))


async def test_new_rows_from_the_worker_are_copied_straight_in(
    database: Database, paths: list[str]
) -> None:
    campaign = await seeded_campaign(database)
    async with database.system() as session:
        result = await upsert(session=session, rows=rows_for(campaign, 5, first=date(2026, 5, 1)))
    assert (result.received, result.distinct, result.written) == (5, 5, 5)
    assert paths == ["_copy_direct"]
    saved = await stored(database, campaign)
    assert [row.impressions for row in saved] == [100, 101, 102, 103, 104]
    assert all(row.updated_at is not None for row in saved)


async def test_rows_overlapping_stored_days_take_the_merge(
    database: Database, paths: list[str]
) -> None:
    campaign = await seeded_campaign(database)
    async with database.system() as session:
        await upsert(session=session, rows=rows_for(campaign, 5, first=date(2026, 5, 1)))
        # A re-sync of the last two days plus one new day.
        again = rows_for(campaign, 3, first=date(2026, 5, 4), scale=2)
        result = await upsert(session=session, rows=again)
    assert paths == ["_copy_direct", "_merge_via_stage"]
    assert result.written == 3
    assert [row.clicks for row in await stored(database, campaign)] == [5, 5, 5, 10, 10, 10]


async def test_the_app_role_under_rls_takes_the_merge(database: Database, paths: list[str]) -> None:
    campaign = await seeded_campaign(database)
    async with database.tenant(campaign.org_id) as session:
        result = await upsert(session=session, rows=rows_for(campaign, 4, first=date(2026, 5, 1)))
    assert paths == ["_merge_via_stage"]
    assert result.written == 4


async def test_a_key_written_behind_the_probe_falls_back_to_the_merge(
    database: Database, paths: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = await seeded_campaign(database)
    async with database.system() as session:
        await upsert(session=session, rows=rows_for(campaign, 3, first=date(2026, 5, 1)))

    async def wrong_guess(*_: Any) -> bool:
        return True  # as if another writer committed these days right after the probe

    monkeypatch.setattr(upsert_module, "_copy_fits", wrong_guess)
    async with database.system() as session:
        result = await upsert(
            session=session, rows=rows_for(campaign, 4, first=date(2026, 5, 1), scale=3)
        )
    assert paths == ["_copy_direct", "_copy_direct", "_merge_via_stage"]
    assert (result.distinct, result.written) == (4, 4)
    assert [row.clicks for row in await stored(database, campaign)] == [15, 15, 15, 15]


async def test_a_key_repeated_in_the_input_keeps_the_last_row(
    database: Database, paths: list[str]
) -> None:
    campaign = await seeded_campaign(database)
    day = date(2026, 6, 1)
    repeated = [*rows_for(campaign, 2, first=day), *rows_for(campaign, 1, first=day, scale=4)]
    async with database.system() as session:
        result = await upsert(session=session, rows=repeated)
    assert paths == ["_copy_direct", "_merge_via_stage"]
    assert (result.received, result.distinct) == (3, 2)
    assert [row.clicks for row in await stored(database, campaign)] == [20, 5]


async def test_a_foreign_campaign_is_refused_and_nothing_is_written(
    database: Database, paths: list[str]
) -> None:
    mine = await seeded_campaign(database)
    theirs = await seeded_campaign(database)
    forged = [
        dataclasses.replace(row, org_id=mine.org_id)
        for row in rows_for(theirs, 2, first=date(2026, 5, 1))
    ]
    async with database.system() as session:
        with pytest.raises(ValidationFailed, match="belongs to another org"):
            await upsert(
                session=session,
                rows=[*rows_for(mine, 2, first=date(2026, 5, 1)), *forged],
                org_id=mine.org_id,
            )
        count = await session.scalar(select(func.count()).select_from(CampaignMetric))
    assert count == 0
    assert paths == ["_copy_direct", "_merge_via_stage"]


@pytest.mark.parametrize("stamp", ["2026-05-01", 20260501])
async def test_a_recorded_at_that_is_no_datetime_is_named_not_a_driver_error(
    database: Database, stamp: object
) -> None:
    campaign = await seeded_campaign(database)
    rows = [
        dataclasses.replace(row, recorded_at=stamp)  # type: ignore[arg-type]
        for row in rows_for(campaign, 2, first=date(2026, 5, 1))
    ]
    async with database.system() as session:
        with pytest.raises(ValidationFailed, match="Metric row 0: recorded_at"):
            await upsert(session=session, rows=rows)
