"""The worker's cycle with real roles: evaluate across orgs, apply per org under RLS."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from core.approvals.models import PendingAction
from core.db import Database
from core.rules.flows import run_cycle
from core.rules.models import Alert, Rule
from tests import factories
from tests.core.rules.conftest import NOW, save_rule


async def test_run_cycle_applies_each_org_in_its_own_transaction(database: Database) -> None:
    async with database.system() as session:
        orgs = []
        for name in ("Acme", "Globex"):
            organization = await factories.org(session, name=name)
            acct = await factories.ad_account(session, organization, platform="meta")
            target = await factories.campaign(session, acct, name=f"{name} Leads")
            await factories.daily_metrics(
                session,
                target,
                first_day=NOW.date() - timedelta(days=2),
                days=3,
                conversions=Decimal(0),
            )
            await save_rule(
                session,
                organization,
                name="No conversions",
                mode="approve",
                conditions=["spend last_3d > 50", "conversions last_3d == 0"],
                action={"type": "pause"},
            )
            await save_rule(
                session, organization, name="Heads up", conditions=["spend last_3d > 50"]
            )
            orgs.append(organization.id)
    report = await run_cycle(database=database, now=NOW)
    assert report.evaluation.rules == 4
    assert report.alerts == 4
    assert report.proposed == 2
    assert report.failed_orgs == []
    async with database.system() as session:
        alerts = list(await session.scalars(select(Alert)))
        pending = list(await session.scalars(select(PendingAction)))
        evaluated = list(await session.scalars(select(Rule.last_evaluated_at)))
    assert {alert.org_id for alert in alerts} == set(orgs)
    assert {p.kind for p in pending} == {"pause_campaign"}
    assert {p.origin_channel for p in pending} == {"rule"}
    assert all(p.rule_id is not None for p in pending)
    assert evaluated == [NOW] * 4
    # A second cycle an hour later is inside every cooldown.
    again = await run_cycle(database=database, now=NOW + timedelta(hours=1))
    assert again.alerts == 0
