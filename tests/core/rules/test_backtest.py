"""Backtest: day-by-day replay with cooldown and simulated effects."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.rules.backtest import backtest
from tests import factories
from tests.core.rules.conftest import NOW, save_rule

TODAY = NOW.date()


async def test_backtest_lists_days_and_campaigns_with_cooldown(session: AsyncSession) -> None:
    organization = await factories.org(session)
    acct = await factories.ad_account(session, organization, timezone="Europe/Berlin")
    spiky = await factories.campaign(session, acct, name="Spiky")
    calm = await factories.campaign(session, acct, name="Calm")
    start = TODAY - timedelta(days=10)
    await factories.daily_metrics(
        session, calm, first_day=start, days=10, spend=Decimal(10), timezone="Europe/Berlin"
    )
    # Spikes on days -8 and -7 (back to back) and on day -3.
    for offset in range(10, 0, -1):
        spend = Decimal(200) if offset in (8, 7, 3) else Decimal(10)
        await factories.daily_metrics(
            session,
            spiky,
            first_day=TODAY - timedelta(days=offset),
            days=1,
            spend=spend,
            timezone="Europe/Berlin",
        )
    rule = await save_rule(
        session,
        organization,
        name="Spike",
        conditions=["spend yesterday > 100"],
        limits={"cooldown_hours": 48},
    )
    result = await backtest(
        session=session, org_id=organization.id, rule_ref="spike", days=10, now=NOW
    )
    assert result.first_day == TODAY - timedelta(days=10)
    assert result.last_day == TODAY - timedelta(days=1)
    # Day d judges "yesterday" = d-1: spikes at -8, -7, -3 show on days -7, -6, -2;
    # the 48 h cooldown swallows day -6.
    assert [(hit.day, hit.campaign) for hit in result.hits] == [
        (TODAY - timedelta(days=7), "Spiky"),
        (TODAY - timedelta(days=2), "Spiky"),
    ]
    assert result.hits[0].observed["spend yesterday"] == "200"
    by_id = await backtest(
        session=session, org_id=organization.id, rule_ref=str(rule.id), days=10, now=NOW
    )
    assert by_id.hits == result.hits


async def test_backtest_simulates_pause_and_unknown_rule(session: AsyncSession) -> None:
    organization = await factories.org(session)
    acct = await factories.ad_account(session, organization)
    target = await factories.campaign(session, acct, name="Leaky")
    await factories.daily_metrics(
        session, target, first_day=TODAY - timedelta(days=5), days=5, conversions=Decimal(0)
    )
    await save_rule(
        session,
        organization,
        name="stop",
        conditions=["spend last_3d > 50"],
        action={"type": "pause"},
        mode="approve",
        limits={"cooldown_hours": 0},
    )
    result = await backtest(
        session=session, org_id=organization.id, rule_ref="stop", days=5, now=NOW
    )
    # Paused on the first day it qualifies; a paused campaign is not paused again.
    assert len(result.hits) == 1
    assert result.hits[0].action == "Pause Leaky"
    with pytest.raises(NotFound):
        await backtest(session=session, org_id=organization.id, rule_ref="nope", now=NOW)
