"""Ingest and aggregation through the app's tenant sessions (RLS role on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from core.db import Database
from core.errors import ValidationFailed
from core.metrics import service, upsert
from core.metrics.models import CampaignMetric
from core.metrics.schemas import MetricIn
from core.metrics.windows import WindowSpec, day_start
from tests import factories


async def test_upsert_and_aggregate_in_a_tenant_session(database: Database) -> None:
    async with database.system() as session:
        org = await factories.org(session)
        other = await factories.org(session)
        account = await factories.ad_account(session, org, timezone="Europe/Paris")
        campaign = await factories.campaign(session, account, name="Mine")
        foreign = await factories.campaign(
            session, await factories.ad_account(session, other), name="Theirs"
        )
        ids = (org.id, campaign.id, foreign.id, other.id, account.platform)
    org_id, campaign_id, foreign_id, other_id, platform = ids

    def row(target: object, owner: object, day: int) -> MetricIn:
        return MetricIn(
            campaign_id=target,  # type: ignore[arg-type]
            platform=platform,
            recorded_at=day_start(date(2026, 5, day), "Europe/Paris"),
            org_id=owner,  # type: ignore[arg-type]
            impressions=100,
            clicks=5,
            spend=Decimal("2.5"),
        )

    async with database.tenant(org_id) as session:
        result = await service.upsert(
            session=session, rows=[row(campaign_id, org_id, d) for d in (1, 2)]
        )
        assert result.written == 2
    async with database.tenant(org_id) as session:
        # Another org's campaign is invisible to this tenant, so its rows are refused.
        with pytest.raises(ValidationFailed):
            await service.upsert(session=session, rows=[row(foreign_id, other_id, 1)])
    async with database.tenant(org_id) as session:
        window = WindowSpec(name="last_7d", now=datetime(2026, 5, 3, 12, tzinfo=UTC))
        [only] = await service.aggregate(session=session, org_id=org_id, window=window)
        assert (only.label, only.totals.clicks, only.totals.spend) == ("Mine", 10, Decimal(5))


def _metric(campaign_id: uuid.UUID, org_id: uuid.UUID, clicks: int, day: int = 1) -> MetricIn:
    return MetricIn(
        campaign_id=campaign_id,
        platform="sandbox",
        recorded_at=day_start(date(2026, 5, day), "UTC"),
        org_id=org_id,
        impressions=100,
        clicks=clicks,
        spend=Decimal("2.5"),
    )


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_database_refuses_foreign_rows_without_the_python_check(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the service's owner check switched off, PostgreSQL itself refuses every foreign row."""
    async with database.system() as session:
        mine = await factories.org(session)
        other = await factories.org(session)
        foreign = await factories.campaign(session, await factories.ad_account(session, other))
        foreign_id = foreign.id
    # The other org's own metric for 1 May: an ON CONFLICT update would overwrite it.
    async with database.tenant(other.id) as session:
        await service.upsert(session=session, rows=[_metric(foreign_id, other.id, clicks=7)])

    async def _no_python_check(*_args: object) -> None:
        return None

    monkeypatch.setattr(upsert, "_check_owners", _no_python_check)

    # The other org's campaign id with the caller's own org id: the key already exists, and
    # the conflicting row is invisible to this tenant, so RLS refuses the update.
    with pytest.raises(DBAPIError, match=r"row-level security policy \(USING expression\)"):
        async with database.tenant(mine.id) as session:
            await upsert.upsert(session=session, rows=[_metric(foreign_id, mine.id, clicks=999)])
    # The same with the row's org set to the campaign's real org: RLS's WITH CHECK refuses it.
    with pytest.raises(
        DBAPIError, match='new row violates row-level security policy for table "campaign_metrics"'
    ):
        async with database.tenant(mine.id) as session:
            await upsert.upsert(session=session, rows=[_metric(foreign_id, other.id, clicks=999)])
    # A day the other org has no row for: no RLS row to hide, the composite key refuses it.
    fresh_day = _metric(foreign_id, mine.id, clicks=999, day=2)
    composite_key = 'violates foreign key constraint "fk_campaign_metrics_campaign_id_campaigns"'
    with pytest.raises(DBAPIError, match=composite_key):
        async with database.tenant(mine.id) as session:
            await upsert.upsert(session=session, rows=[fresh_day])

    async with database.system() as session:
        stored = await session.scalars(
            select(CampaignMetric.clicks).where(CampaignMetric.campaign_id == foreign_id)
        )
        assert list(stored) == [7]
