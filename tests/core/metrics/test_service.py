"""Window aggregation, comparison and series on SQLite and PostgreSQL, per-account timezones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.campaigns.models import Campaign
from core.errors import ValidationFailed
from core.metrics import service
from core.metrics.kpis import Totals
from core.metrics.schemas import MetricIn
from core.metrics.windows import WindowSpec, day_start
from core.orgs.models import Organization
from tests import factories

# 12:00 UTC: 05:00 in Los Angeles (PDT since 8 March), 21:00 in Tokyo, both on 10 March.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FIRST = date(2026, 3, 1)


@dataclass
class World:
    org: Organization
    la: AdAccount
    tokyo: AdAccount
    la_campaign: Campaign
    tokyo_campaign: Campaign
    google_campaign: Campaign


async def _daily(session: AsyncSession, campaign: Campaign, tz: str, days: int = 10) -> None:
    """Day n of March: n clicks, 100 n impressions, spend n, n/10 conversions, value 3 n."""
    rows = [
        MetricIn(
            campaign_id=campaign.id,
            platform=campaign.platform,
            recorded_at=day_start(FIRST + timedelta(days=offset), tz),
            org_id=campaign.org_id,
            impressions=100 * (offset + 1),
            clicks=offset + 1,
            spend=Decimal(offset + 1),
            conversions=Decimal(offset + 1) / 10,
            conversion_value=Decimal(3 * (offset + 1)),
        )
        for offset in range(days)
    ]
    await service.upsert(session=session, rows=rows)


@pytest.fixture
async def world(session: AsyncSession) -> World:
    org = await factories.org(session)
    la = await factories.ad_account(session, org, platform="meta", timezone="America/Los_Angeles")
    tokyo = await factories.ad_account(session, org, platform="tiktok", timezone="Asia/Tokyo")
    google = await factories.ad_account(session, org, platform="google", timezone="Asia/Tokyo")
    la_campaign = await factories.campaign(session, la, name="LA")
    tokyo_campaign = await factories.campaign(session, tokyo, name="Tokyo")
    google_campaign = await factories.campaign(session, google, name="Google Tokyo")
    await _daily(session, la_campaign, "America/Los_Angeles")
    await _daily(session, tokyo_campaign, "Asia/Tokyo")
    await _daily(session, google_campaign, "Asia/Tokyo", days=5)
    # Noise that must never leak in: another org with the same shape of data.
    other = await factories.org(session)
    other_account = await factories.ad_account(session, other, platform="meta")
    await _daily(session, await factories.campaign(session, other_account, name="LA"), "UTC")
    await factories.act_as(session, org)
    return World(org, la, tokyo, la_campaign, tokyo_campaign, google_campaign)


def _spec(name: str, **kwargs: object) -> WindowSpec:
    return WindowSpec(name=name, now=NOW, **kwargs)  # type: ignore[arg-type]


async def _by_label(session: AsyncSession, world: World, window: WindowSpec, **kw: object):
    result = await service.aggregate(session=session, org_id=world.org.id, window=window, **kw)  # type: ignore[arg-type]
    return {a.label: a.totals for a in result}


async def test_each_account_uses_its_own_day_boundaries(
    session: AsyncSession, world: World
) -> None:
    yesterday = await _by_label(session, world, _spec("yesterday"))
    # Each campaign's own 9 March, although the two days start 16 hours apart in UTC.
    assert yesterday["LA"].clicks == 9
    assert yesterday["Tokyo"].clicks == 9
    today = await _by_label(session, world, _spec("today"))
    assert today["LA"].clicks == 10
    assert today["Tokyo"].clicks == 10
    assert "Google Tokyo" not in today  # its data stops on 5 March


async def test_named_windows_sum_the_right_days(session: AsyncSession, world: World) -> None:
    expected = {
        "last_3d": sum(range(8, 11)),
        "last_7d": sum(range(4, 11)),
        "last_14d": sum(range(1, 11)),
        "lifetime": sum(range(1, 11)),
    }
    for name, clicks in expected.items():
        totals = await _by_label(session, world, _spec(name))
        assert totals["LA"].clicks == clicks, name
        assert totals["Tokyo"].clicks == clicks, name
    excluded = await _by_label(session, world, _spec("last_3d", exclude_today=True))
    assert excluded["LA"].clicks == 7 + 8 + 9
    custom = await _by_label(
        session, world, _spec("custom", start=date(2026, 3, 2), end=date(2026, 3, 4))
    )
    assert custom["Tokyo"].clicks == 2 + 3 + 4
    assert custom["Google Tokyo"].clicks == 2 + 3 + 4


async def test_totals_are_exact_and_kpis_derived(session: AsyncSession, world: World) -> None:
    [la] = await service.aggregate(
        session=session,
        org_id=world.org.id,
        window=_spec("last_3d"),
        campaign_ids=[world.la_campaign.id],
    )
    assert la.key == str(world.la_campaign.id)
    assert la.totals == Totals(
        impressions=2700,
        clicks=27,
        spend=Decimal(27),
        conversions=Decimal("2.7"),
        conversion_value=Decimal(81),
    )
    assert la.totals.ctr == Decimal(1)
    assert la.totals.cpc == Decimal(1)
    assert la.totals.cpm == Decimal(10)
    assert la.totals.cpa == Decimal(10)
    assert la.totals.roas == Decimal(3)
    assert la.totals.conversion_rate == Decimal(10)


async def test_group_by_platform_account_and_org(session: AsyncSession, world: World) -> None:
    window = _spec("lifetime")
    by_platform = await _by_label(session, world, window, group_by="platform")
    assert {k: v.clicks for k, v in by_platform.items()} == {"meta": 55, "tiktok": 55, "google": 15}
    by_account = await service.aggregate(
        session=session, org_id=world.org.id, window=window, group_by="account"
    )
    assert {a.key: a.totals.clicks for a in by_account} == {
        str(world.la.id): 55,
        str(world.tokyo.id): 55,
        str(world.tokyo_campaign.ad_account_id): 55,
        str(world.google_campaign.ad_account_id): 15,
    }
    blended = await service.totals(
        session=session,
        org_id=world.org.id,
        window=window,
        campaign_ids=[world.tokyo_campaign.id, world.google_campaign.id],
    )
    assert blended.clicks == 70
    assert blended.spend == Decimal(70)
    only_meta = await service.totals(
        session=session, org_id=world.org.id, window=window, platform="meta"
    )
    assert only_meta.clicks == 55


async def test_empty_scope_gives_zero_totals_and_none_kpis(
    session: AsyncSession, world: World
) -> None:
    nothing = await service.totals(
        session=session, org_id=world.org.id, window=_spec("today"), platform="linkedin"
    )
    assert nothing == Totals()
    assert (nothing.ctr, nothing.cpc, nothing.cpa, nothing.roas) == (None, None, None, None)
    empty_org = await factories.org(session)
    assert await service.aggregate(session=session, org_id=empty_org.id, window="last_7d") == []


async def test_compare_with_previous_period(session: AsyncSession, world: World) -> None:
    comparisons = await service.compare(
        session=session, org_id=world.org.id, window=_spec("last_3d")
    )
    by_label = {c.label: c for c in comparisons}
    la = by_label["LA"]
    assert (la.current.clicks, la.previous.clicks) == (27, 18)  # 8..10 vs 5..7
    assert la.deltas["clicks"].absolute == Decimal(9)
    assert la.deltas["clicks"].percent == Decimal(50)
    assert la.deltas["cpc"].absolute == Decimal(0)
    # Google Tokyo's data stops on 5 March: inside the previous period (5..7) only.
    google = by_label["Google Tokyo"]
    assert (google.current.clicks, google.previous.clicks) == (0, 5)
    assert google.deltas["clicks"].percent == Decimal(-100)
    assert google.deltas["cpc"].absolute is None
    first_days = await service.compare(
        session=session,
        org_id=world.org.id,
        window=_spec("custom", start=date(2026, 3, 1), end=date(2026, 3, 2)),
        campaign_ids=[world.la_campaign.id],
    )
    assert first_days[0].deltas["spend"].percent is None  # nothing before 1 March
    with pytest.raises(ValidationFailed):
        await service.compare(session=session, org_id=world.org.id, window="lifetime")


async def test_series_is_daily_in_local_days_with_gaps_filled(
    session: AsyncSession, world: World
) -> None:
    points = await service.series(
        session=session,
        org_id=world.org.id,
        window=_spec("last_7d"),
        campaign_ids=[world.la_campaign.id, world.google_campaign.id],
    )
    by_label: dict[str, list[tuple[date, int]]] = {}
    for point in points:
        by_label.setdefault(point.label, []).append((point.day, point.totals.clicks))
    days = [date(2026, 3, d) for d in range(4, 11)]
    assert by_label["LA"] == list(zip(days, range(4, 11), strict=True))
    assert by_label["Google Tokyo"] == [(days[0], 4), (days[1], 5)] + [(d, 0) for d in days[2:]]
    per_platform = await service.series(
        session=session, org_id=world.org.id, window=_spec("last_3d"), group_by="platform"
    )
    tiktok = [(p.day, p.totals.clicks) for p in per_platform if p.key == "tiktok"]
    assert tiktok == [(date(2026, 3, d), d) for d in (8, 9, 10)]
    lifetime = await service.series(
        session=session, org_id=world.org.id, window=_spec("lifetime"), group_by="org"
    )
    assert lifetime[0].day == date(2026, 3, 1)
    assert sum(p.totals.clicks for p in lifetime) == 125


async def test_unknown_window_or_grouping_is_a_validation_error(
    session: AsyncSession, world: World
) -> None:
    with pytest.raises(ValidationFailed):
        await service.aggregate(session=session, org_id=world.org.id, window="fortnight")
    with pytest.raises(ValidationFailed):
        await service.aggregate(
            session=session,
            org_id=world.org.id,
            window="today",
            group_by="planet",  # type: ignore[arg-type]
        )
