"""Idempotent bulk upsert on the natural key, on SQLite and PostgreSQL (COPY path)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.campaigns.models import Campaign
from core.errors import ValidationFailed
from core.metrics.models import CampaignMetric
from core.metrics.schemas import MetricIn
from core.metrics.upsert import upsert
from core.metrics.windows import day_start
from tests import factories


async def _campaign(session: AsyncSession, platform: str = "meta") -> Campaign:
    org = await factories.org(session)
    account = await factories.ad_account(session, org, platform=platform)
    return await factories.campaign(session, account)


def _rows(campaign: Campaign, days: int, *, scale: int = 1) -> list[MetricIn]:
    first = date(2026, 3, 1)
    return [
        MetricIn(
            campaign_id=campaign.id,
            platform=campaign.platform,
            recorded_at=day_start(first + timedelta(days=offset), "UTC"),
            org_id=campaign.org_id,
            impressions=1000 * scale + offset,
            clicks=10 * scale,
            spend=Decimal("12.345678") * scale,
            conversions=Decimal("1.5") * scale,
            conversion_value=Decimal("99.99") * scale,
        )
        for offset in range(days)
    ]


async def _stored(session: AsyncSession, campaign: Campaign) -> list[CampaignMetric]:
    result = await session.scalars(
        select(CampaignMetric)
        .where(CampaignMetric.campaign_id == campaign.id)
        .order_by(CampaignMetric.recorded_at)
        .execution_options(populate_existing=True)
    )
    return list(result)


async def test_upsert_twice_has_no_duplicates_and_updates_values(session: AsyncSession) -> None:
    campaign = await _campaign(session)
    first = await upsert(session=session, rows=_rows(campaign, 30))
    assert (first.received, first.distinct, first.written) == (30, 30, 30)
    again = await upsert(session=session, rows=_rows(campaign, 30))
    assert again.written == 0  # unchanged rows are skipped
    changed = await upsert(session=session, rows=_rows(campaign, 30, scale=2))
    assert changed.written == 30
    stored = await _stored(session, campaign)
    assert len(stored) == 30
    assert stored[0].impressions == 2000
    assert stored[5].spend == Decimal("24.691356")
    assert stored[5].conversions == Decimal(3)
    assert stored[5].conversion_value == Decimal("199.98")
    assert stored[0].recorded_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert all(row.updated_at is not None for row in stored)


async def test_partial_overlap_inserts_new_and_updates_old(session: AsyncSession) -> None:
    campaign = await _campaign(session)
    await upsert(session=session, rows=_rows(campaign, 10))
    overlap = _rows(campaign, 15, scale=3)[5:]
    result = await upsert(session=session, rows=overlap)
    assert result.written == 10
    stored = await _stored(session, campaign)
    assert len(stored) == 15
    assert [row.clicks for row in stored] == [10] * 5 + [30] * 10


async def test_duplicate_keys_in_one_batch_last_one_wins(session: AsyncSession) -> None:
    campaign = await _campaign(session)
    rows = _rows(campaign, 3) + _rows(campaign, 3, scale=5)
    result = await upsert(session=session, rows=rows)
    assert (result.received, result.distinct) == (6, 3)
    stored = await _stored(session, campaign)
    assert [row.clicks for row in stored] == [50, 50, 50]


async def test_empty_input_is_a_no_op(session: AsyncSession) -> None:
    result = await upsert(session=session, rows=[])
    assert result.written == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"impressions": -1}, "impressions"),
        ({"clicks": -5}, "clicks"),
        ({"spend": Decimal("-0.01")}, "spend"),
        ({"conversions": Decimal("-1")}, "conversions"),
        ({"conversion_value": Decimal("NaN")}, "conversion_value"),
        ({"spend": Decimal("0.0000001")}, "spend"),
        ({"recorded_at": datetime(2026, 3, 1)}, "recorded_at"),
        ({"clicks": 1.5}, "clicks"),
        ({"platform": ""}, "platform"),
    ],
)
async def test_invalid_rows_are_rejected_and_nothing_written(
    session: AsyncSession, change: dict[str, object], field: str
) -> None:
    campaign = await _campaign(session)
    good = _rows(campaign, 3)
    bad = _replace(good[1], change)
    with pytest.raises(ValidationFailed) as caught:
        await upsert(session=session, rows=[good[0], bad, good[2]])
    assert caught.value.field == field
    assert "row 1" in caught.value.message
    assert await _stored(session, campaign) == []


def _replace(row: MetricIn, change: dict[str, object]) -> MetricIn:
    fields = {name: getattr(row, name) for name in MetricIn.__dataclass_fields__}
    return MetricIn(**{**fields, **change})


async def test_rows_for_another_orgs_or_unknown_campaign_are_rejected(
    session: AsyncSession,
) -> None:
    campaign = await _campaign(session)
    other = await _campaign(session)
    await factories.act_as(session, campaign.org_id)
    stolen = _replace(_rows(campaign, 1)[0], {"org_id": other.org_id})
    with pytest.raises(ValidationFailed):
        await upsert(session=session, rows=[stolen])
    wrong_platform = _replace(_rows(campaign, 1)[0], {"platform": "google"})
    with pytest.raises(ValidationFailed):
        await upsert(session=session, rows=[wrong_platform])
    unknown = _replace(_rows(campaign, 1)[0], {"campaign_id": uuid.uuid4()})
    with pytest.raises(ValidationFailed):
        await upsert(session=session, rows=[unknown])


async def test_many_rows_across_chunks(session: AsyncSession) -> None:
    organization = await factories.org(session)
    accounts = [await factories.ad_account(session, organization) for _ in range(4)]
    campaigns = [await factories.campaign(session, account) for account in accounts]
    rows = [row for campaign in campaigns for row in _rows(campaign, 400)]
    result = await upsert(session=session, rows=rows)
    assert result.written == 1600
    count = await session.scalar(
        select(func.count()).where(CampaignMetric.campaign_id.in_([c.id for c in campaigns]))
    )
    assert count == 1600
    again = await upsert(session=session, rows=[_replace(r, {"clicks": 7}) for r in rows])
    assert again.written == 1600
    total = await session.scalar(
        select(func.sum(CampaignMetric.clicks)).where(
            CampaignMetric.campaign_id.in_([c.id for c in campaigns])
        )
    )
    assert total == 1600 * 7


async def test_identical_repeats_in_one_batch_collapse(session: AsyncSession) -> None:
    campaign = await _campaign(session)
    rows = _rows(campaign, 4)
    result = await upsert(session=session, rows=rows + rows[:2])
    assert (result.received, result.distinct, result.written) == (6, 4, 4)
    assert len(await _stored(session, campaign)) == 4


async def test_failed_upsert_keeps_earlier_work_in_the_transaction(session: AsyncSession) -> None:
    campaign = await _campaign(session)
    await upsert(session=session, rows=_rows(campaign, 2))
    bad = _replace(_rows(campaign, 3)[2], {"clicks": -1})
    with pytest.raises(ValidationFailed):
        await upsert(session=session, rows=[*_rows(campaign, 3, scale=9)[:2], bad])
    stored = await _stored(session, campaign)
    assert [row.clicks for row in stored] == [10, 10]


async def test_org_scope_refuses_rows_of_another_org(session: AsyncSession) -> None:
    campaign = await _campaign(session)
    other = await _campaign(session)
    await factories.act_as(session, campaign.org_id)
    with pytest.raises(ValidationFailed):
        await upsert(session=session, rows=_rows(other, 1), org_id=campaign.org_id)
    result = await upsert(session=session, rows=_rows(campaign, 1), org_id=campaign.org_id)
    assert result.written == 1


async def test_one_wrong_org_among_rows_of_the_same_campaign_is_caught(
    session: AsyncSession,
) -> None:
    campaign = await _campaign(session)
    other = await _campaign(session)
    await factories.act_as(session, campaign.org_id)
    rows = _rows(campaign, 5)
    # Same campaign_id object in every row; only the middle row claims another org.
    rows[2] = _replace(rows[2], {"org_id": other.org_id})
    with pytest.raises(ValidationFailed):
        await upsert(session=session, rows=rows)
