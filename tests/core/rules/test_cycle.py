"""The worker's cycle with real roles: evaluate across orgs, apply per org under RLS."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.models import ActionStatus, PendingAction
from core.db import Database
from core.rules.flows import apply_firings, evaluate, run_cycle
from core.rules.models import Alert, Rule
from tests import factories
from tests.core.approvals.fakes import FakePlatform, registry_with
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


async def test_auto_mode_executes_through_the_platform_within_guardrails(
    session: AsyncSession,
) -> None:
    organization = await factories.org(session)
    acct = await factories.ad_account(session, organization, platform="sandbox")
    winner = await factories.campaign(session, acct, name="Winner", daily_budget=Decimal(100))
    await factories.daily_metrics(
        session,
        winner,
        first_day=NOW.date() - timedelta(days=2),
        days=3,
        conversion_value=Decimal(400),
    )
    await save_rule(
        session,
        organization,
        name="Scale winners",
        mode="auto",
        conditions=["roas last_3d > 5"],
        action={"type": "change_budget", "percent": 20},
        limits={"max_budget_multiple": 2},
    )
    platform = FakePlatform(name="sandbox")
    platform.adopt(winner)
    result = await evaluate(session=session, now=NOW, org_id=organization.id)
    alerts = await apply_firings(
        session=session,
        org_id=organization.id,
        firings=result.firings,
        registry=registry_with(platform),
    )
    assert [alert.action_taken for alert in alerts] == ["auto_executed"]
    assert [(call.method, call.budget) for call in platform.calls] == [
        ("update_budget", Decimal("120.00"))
    ]
    await session.refresh(winner)
    assert winner.daily_budget == Decimal(120)
    pending = await session.get(PendingAction, alerts[0].pending_action_id)
    assert pending is not None
    assert pending.status == ActionStatus.EXECUTED
    assert pending.decided_via == "rule"


async def test_auto_mode_refused_by_org_guardrail(session: AsyncSession) -> None:
    organization = await factories.org(session)
    organization.settings = {"max_budget_change_percent": 10}
    acct = await factories.ad_account(session, organization, platform="sandbox")
    winner = await factories.campaign(session, acct, name="Winner", daily_budget=Decimal(100))
    await factories.daily_metrics(
        session, winner, first_day=NOW.date(), days=1, conversion_value=Decimal(400)
    )
    await save_rule(
        session,
        organization,
        name="Big step",
        mode="auto",
        conditions=["roas today > 5"],
        action={"type": "change_budget", "percent": 50},
        limits={"max_budget_multiple": 2},
    )
    platform = FakePlatform(name="sandbox")
    platform.adopt(winner)
    result = await evaluate(session=session, now=NOW, org_id=organization.id)
    alerts = await apply_firings(
        session=session,
        org_id=organization.id,
        firings=result.firings,
        registry=registry_with(platform),
    )
    assert alerts[0].action_taken == "refused"
    assert "limit of 10" in alerts[0].message
    assert platform.calls == []


async def test_two_auto_rules_on_one_campaign_execute_once_and_never_share_a_grant(
    session: AsyncSession,
) -> None:
    organization = await factories.org(session)
    acct = await factories.ad_account(session, organization, platform="sandbox")
    loser = await factories.campaign(session, acct, name="Loser", daily_budget=Decimal(100))
    await factories.daily_metrics(
        session, loser, first_day=NOW.date() - timedelta(days=2), days=3, conversions=Decimal(0)
    )
    for name in ("No conversions", "Burning cash"):
        await save_rule(
            session,
            organization,
            name=name,
            mode="auto",
            conditions=["spend last_3d > 50"],
            action={"type": "pause"},
        )
    platform = FakePlatform(name="sandbox")
    platform.adopt(loser)
    result = await evaluate(session=session, now=NOW, org_id=organization.id)
    alerts = await apply_firings(
        session=session,
        org_id=organization.id,
        firings=result.firings,
        registry=registry_with(platform),
    )
    assert sorted(alert.action_taken or "" for alert in alerts) == ["auto_executed", "auto_failed"]
    assert [call.method for call in platform.calls] == ["pause_campaign"]
    executed = next(alert for alert in alerts if alert.action_taken == "auto_executed")
    action = await session.get(PendingAction, executed.pending_action_id)
    assert action is not None
    assert action.status == ActionStatus.EXECUTED  # the executed grant stays undoable
    await session.refresh(loser)
    assert loser.status.value == "paused"
