"""Ingest and aggregation through the app's tenant sessions (RLS role on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core.db import Database
from core.errors import ValidationFailed
from core.metrics import service
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
