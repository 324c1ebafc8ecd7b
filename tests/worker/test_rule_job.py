"""The worker's rule job: one cycle across orgs, firing once and then held by the cooldown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from core.base import utcnow
from core.db import Database
from core.rules.models import Alert
from tests import factories
from tests.core.approvals.fakes import FakePlatform, registry_with
from tests.core.rules.conftest import save_rule
from worker.rules import evaluate_rules


async def test_the_rule_job_fires_an_alert_once_and_the_cooldown_holds_the_next_tick(
    database: Database,
) -> None:
    async with database.system() as session:
        organization = await factories.org(session)
        account = await factories.ad_account(session, organization, platform="meta")
        campaign = await factories.campaign(session, account, name="Leads")
        await factories.daily_metrics(
            session,
            campaign,
            first_day=utcnow().date() - timedelta(days=2),
            days=3,
            conversions=Decimal(0),
        )
        await save_rule(session, organization, name="Heads up", conditions=["spend last_3d > 50"])
        platform = FakePlatform(name="meta")
        platform.adopt(campaign)
    ctx = {"database": database, "registry": registry_with(platform)}

    assert await evaluate_rules(ctx) == {
        "alerts": 1,
        "proposed": 0,
        "executed": 0,
        "failed_orgs": 0,
    }
    assert (await evaluate_rules(ctx))["alerts"] == 0  # the next tick is inside the cooldown
    async with database.system() as session:
        alerts = list(await session.scalars(select(Alert)))
    assert [alert.org_id for alert in alerts] == [organization.id]
