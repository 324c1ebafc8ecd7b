"""Live evaluation on SQLite and PostgreSQL: scopes, groups, guards, cooldown, caps, timezones."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from core.campaigns.models import CampaignStatus
from core.rules.engine import Firing
from core.rules.flows import apply_firings, evaluate
from tests import factories
from tests.core.rules.conftest import NOW, save_rule

TODAY = NOW.date()


async def _setup(session: AsyncSession, **account: Any):
    organization = await factories.org(session)
    acct = await factories.ad_account(session, organization, **account)
    return organization, acct


async def _fired(session: AsyncSession, organization, now=NOW) -> dict[str, list[Firing]]:
    result = await evaluate(session=session, now=now, org_id=organization.id)
    fired: dict[str, list[Firing]] = {}
    for firing in result.firings:
        fired.setdefault(firing.rule_name, []).append(firing)
    return fired


def _budget(firing: Firing) -> str:
    assert firing.action is not None
    return firing.action.arguments["daily_budget"]


async def test_threshold_fires_on_matching_campaign_only(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    bad = await factories.campaign(session, acct, name="Bad")
    good = await factories.campaign(session, acct, name="Good")
    week = TODAY - timedelta(days=6)
    await factories.daily_metrics(session, bad, first_day=week, days=7, conversions=Decimal(1))
    await factories.daily_metrics(session, good, first_day=week, days=7, conversions=Decimal(4))
    await save_rule(session, organization, name="cpa", conditions=["cpa last_7d > 30"])
    fired = await _fired(session, organization)
    assert [f.campaign_id for f in fired["cpa"]] == [bad.id]
    firing = fired["cpa"][0]
    assert firing.observed["cpa last_7d"] == "40"
    assert "cpa last_7d = 40 > 30" in firing.message


async def test_scope_kinds(session: AsyncSession) -> None:
    organization = await factories.org(session)
    meta = await factories.ad_account(session, organization, platform="meta")
    google = await factories.ad_account(session, organization, platform="google")
    summer_meta = await factories.campaign(session, meta, name="Summer Sale Meta")
    summer_google = await factories.campaign(session, google, name="Summer Sale Google")
    winter = await factories.campaign(session, google, name="Winter Promo")
    for target in (summer_meta, summer_google, winter):
        await factories.daily_metrics(session, target, first_day=TODAY - timedelta(days=2), days=3)
    spend = ["spend last_3d > 100"]
    await save_rule(session, organization, name="all", conditions=spend)
    await save_rule(
        session,
        organization,
        name="platform",
        conditions=spend,
        scope={"kind": "platform", "platforms": ["google"]},
    )
    await save_rule(
        session,
        organization,
        name="named",
        conditions=spend,
        scope={"kind": "campaigns", "campaigns": ["winter promo", str(summer_meta.id)]},
    )
    await save_rule(
        session,
        organization,
        name="contains",
        conditions=spend,
        scope={"kind": "name_contains", "contains": "summer"},
    )
    fired = await _fired(session, organization)
    ids = {name: {f.campaign_id for f in firings} for name, firings in fired.items()}
    assert ids["all"] == {summer_meta.id, summer_google.id, winter.id}
    assert ids["platform"] == {summer_google.id, winter.id}
    assert ids["named"] == {winter.id, summer_meta.id}
    assert ids["contains"] == {summer_meta.id, summer_google.id}


async def test_blended_scope_sums_across_platforms(session: AsyncSession) -> None:
    organization = await factories.org(session)
    accounts = [
        await factories.ad_account(session, organization, platform=p)
        for p in ("google", "meta", "tiktok")
    ]
    first = TODAY - timedelta(days=6)
    # Per platform CPA 20, 40 and 100; blended 120 / 3.4 = 35.29 (Evergreen stays out).
    for acct, conversions in zip(accounts, ("2", "1", "0.4"), strict=True):
        target = await factories.campaign(session, acct, name=f"Summer {acct.platform}")
        await factories.daily_metrics(
            session,
            target,
            first_day=first,
            days=1,
            spend=Decimal(40),
            conversions=Decimal(conversions),
        )
    other = await factories.campaign(session, accounts[0], name="Evergreen")
    await factories.daily_metrics(session, other, first_day=first, days=1, spend=Decimal(1000))
    await save_rule(
        session,
        organization,
        name="blended",
        scope={
            "kind": "name_contains",
            "contains": "Summer",
            "platforms": ["google", "meta", "tiktok"],
            "blended": True,
            "label": "Summer",
        },
        conditions=["cpa last_7d > 35"],
    )
    await save_rule(
        session,
        organization,
        name="single",
        conditions=["cpa last_7d > 35"],
        scope={"kind": "name_contains", "contains": "Summer"},
    )
    fired = await _fired(session, organization)
    assert len(fired["blended"]) == 1
    blended = fired["blended"][0]
    assert blended.scope_key == "blended:Summer"
    assert blended.campaign_id is None
    assert len(blended.campaign_ids) == 3
    assert blended.observed["cpa last_7d"] == "35.2941"
    assert "3 campaigns (blended)" in blended.message
    # Per campaign, Meta (40) and TikTok (100) cross 35.
    assert len(fired["single"]) == 2


async def test_any_all_groups_and_metric_vs_metric(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    over = await factories.campaign(session, acct, name="Over", daily_budget=Decimal(30))
    under = await factories.campaign(session, acct, name="Under", daily_budget=Decimal(100))
    for target in (over, under):
        await factories.daily_metrics(session, target, first_day=TODAY, days=1, spend=Decimal(70))
    await save_rule(
        session, organization, name="overspend", conditions=["spend today > 2 x daily_budget"]
    )
    await save_rule(
        session,
        organization,
        name="nested",
        conditions={
            "any": [
                {"all": ["spend today > 1000", "clicks today > 1"]},
                {"all": ["ctr today >= 5", "daily_budget today < 50"]},
            ]
        },
    )
    await save_rule(session, organization, name="none", conditions={"any": ["spend today > 1000"]})
    fired = await _fired(session, organization)
    assert [f.campaign_id for f in fired["overspend"]] == [over.id]
    assert fired["overspend"][0].observed["daily_budget today"] == "30"
    assert [f.campaign_id for f in fired["nested"]] == [over.id]
    assert "none" not in fired


async def test_guards_min_spend_min_conversions(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    small = await factories.campaign(session, acct, name="Small")
    big = await factories.campaign(session, acct, name="Big")
    first = TODAY - timedelta(days=6)
    await factories.daily_metrics(
        session, small, first_day=first, days=1, spend=Decimal(50), conversions=Decimal(1)
    )
    await factories.daily_metrics(
        session, big, first_day=first, days=5, spend=Decimal(50), conversions=Decimal(1)
    )
    await save_rule(
        session,
        organization,
        name="guarded",
        conditions=["cpa last_7d > 30"],
        guards={"min_spend": 100, "min_conversions": 3},
    )
    fired = await _fired(session, organization)
    assert [f.campaign_id for f in fired["guarded"]] == [big.id]
    assert fired["guarded"][0].observed["spend last_7d"] == "250"


async def test_exclude_today_and_lag_buffer(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    target = await factories.campaign(session, acct)
    # Only today and yesterday have spend.
    await factories.daily_metrics(
        session, target, first_day=TODAY - timedelta(days=1), days=2, spend=Decimal(60)
    )
    base = {"conditions": ["spend last_3d >= 100"]}
    await save_rule(session, organization, name="raw", **base)
    await save_rule(session, organization, name="settled", guards={"exclude_today": True}, **base)
    await save_rule(
        session,
        organization,
        name="lagged",
        conditions=["spend last_3d > 0"],
        guards={"lag_hours": 13},
    )
    await save_rule(
        session,
        organization,
        name="short-lag",
        conditions=["spend last_3d > 0"],
        guards={"lag_hours": 12},
    )
    fired = await _fired(session, organization)
    assert "raw" in fired  # 120 with today
    assert "settled" not in fired  # 60 without today
    # At 12:00 yesterday ended 12 h ago: a 13 h buffer drops it, a 12 h buffer keeps it.
    assert "lagged" not in fired
    assert "short-lag" in fired


async def test_windows_follow_the_account_timezone(session: AsyncSession) -> None:
    organization = await factories.org(session)
    tokyo = await factories.ad_account(session, organization, timezone="Asia/Tokyo")
    la = await factories.ad_account(session, organization, timezone="America/Los_Angeles")
    jp = await factories.campaign(session, tokyo, name="JP")
    us = await factories.campaign(session, la, name="US")
    # 12:00 UTC is 21:00 in Tokyo (same date) and 05:00 in Los Angeles (same date).
    await factories.daily_metrics(session, jp, first_day=TODAY, days=1, timezone="Asia/Tokyo")
    await factories.daily_metrics(
        session, us, first_day=TODAY, days=1, timezone="America/Los_Angeles"
    )
    await factories.daily_metrics(
        session,
        us,
        first_day=TODAY + timedelta(days=1),
        days=1,
        timezone="America/Los_Angeles",
        spend=Decimal(999),
    )
    await save_rule(session, organization, name="today", conditions=["spend today > 0"])
    await save_rule(session, organization, name="yesterday", conditions=["spend yesterday > 0"])
    fired = await _fired(session, organization)
    assert {f.campaign_id for f in fired["today"]} == {jp.id, us.id}
    assert fired["today"][0].observed["spend today"] == "40"
    assert "yesterday" not in fired
    # Three hours later Tokyo has moved to the next day; Los Angeles has not.
    later = await _fired(session, organization, now=NOW + timedelta(hours=3))
    assert {f.campaign_id for f in later["yesterday"]} == {jp.id}
    assert {f.campaign_id for f in later["today"]} == {us.id}


async def test_cooldown_and_cumulative_cap(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    target = await factories.campaign(session, acct, daily_budget=Decimal(100))
    await factories.daily_metrics(session, target, first_day=TODAY - timedelta(days=3), days=4)
    await save_rule(
        session,
        organization,
        name="scale",
        mode="approve",
        conditions=["roas last_3d > 2"],
        action={"type": "change_budget", "percent": 20, "ceiling": 1000},
        limits={"cooldown_hours": 24, "max_budget_multiple": "1.5"},
    )
    first = await evaluate(session=session, now=NOW, org_id=organization.id)
    assert _budget(first.firings[0]) == "120.00"
    await apply_firings(session=session, org_id=organization.id, firings=first.firings)
    again = await evaluate(session=session, now=NOW + timedelta(hours=23), org_id=organization.id)
    assert again.firings == []  # cooldown
    target.daily_budget = Decimal(140)
    await session.flush()
    later = await evaluate(session=session, now=NOW + timedelta(hours=25), org_id=organization.id)
    # 140 x 1.2 = 168, but never above 1.5 x baseline 100.
    assert _budget(later.firings[0]) == "150.00"
    target.daily_budget = Decimal(150)
    await session.flush()
    capped = await evaluate(session=session, now=NOW + timedelta(hours=50), org_id=organization.id)
    assert capped.firings == []


async def test_floor_and_resume_only_paused(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    active = await factories.campaign(session, acct, daily_budget=Decimal(20))
    paused = await factories.campaign(session, acct, status=CampaignStatus.PAUSED)
    for target in (active, paused):
        await factories.daily_metrics(session, target, first_day=TODAY, days=1)
    await save_rule(
        session,
        organization,
        name="cut",
        conditions=["spend today > 1"],
        action={"type": "change_budget", "percent": -50, "floor": 15},
        mode="auto",
    )
    await save_rule(
        session,
        organization,
        name="wake",
        conditions=["spend today > 1"],
        action={"type": "resume"},
        mode="approve",
    )
    fired = await _fired(session, organization)
    assert [_budget(f) for f in fired["cut"]] == ["15.00"]
    assert [f.campaign_id for f in fired["wake"]] == [paused.id]


async def test_apply_writes_alerts_and_pending_actions(session: AsyncSession) -> None:
    organization, acct = await _setup(session)
    target = await factories.campaign(session, acct, name="Loser")
    await factories.daily_metrics(session, target, first_day=TODAY, days=1, conversions=Decimal(0))
    await save_rule(
        session,
        organization,
        name="stop",
        mode="approve",
        conditions=["spend today > 10", "conversions today == 0"],
        action={"type": "pause"},
    )
    await save_rule(
        session,
        organization,
        name="robot",
        mode="auto",
        conditions=["spend today > 10"],
        action={"type": "pause"},
    )
    await save_rule(session, organization, name="tell", conditions=["spend today > 10"])
    result = await evaluate(session=session, now=NOW, org_id=organization.id)
    alerts = await apply_firings(session=session, org_id=organization.id, firings=result.firings)
    taken = {alert.message.split("'")[1]: alert for alert in alerts}
    assert taken["stop"].action_taken == "approval_requested"
    assert taken["stop"].pending_action_id is not None
    assert taken["robot"].action_taken == "auto_pending"
    assert taken["tell"].action_taken == "notified"
    assert all(alert.created_at == NOW for alert in alerts)
    # Cooldown now holds for all three.
    assert (await evaluate(session=session, now=NOW, org_id=organization.id)).firings == []


async def test_statement_count_does_not_grow_with_campaigns(session: AsyncSession) -> None:
    counts = []
    for campaigns in (2, 12):
        organization, acct = await _setup(session)
        for n in range(campaigns):
            target = await factories.campaign(session, acct, name=f"C{n}")
            await factories.daily_metrics(
                session, target, first_day=TODAY - timedelta(days=2), days=3
            )
        await save_rule(session, organization, name="a", conditions=["cpa last_7d > 1"])
        await save_rule(
            session, organization, name="b", conditions=["spend last_3d > 1", "ctr yesterday > 1"]
        )
        await save_rule(session, organization, name="c", conditions=["clicks last_7d > 1"])
        statements: list[str] = []
        sync_engine = session.get_bind()

        def count(conn, cursor, statement, *args, seen=statements) -> None:
            seen.append(statement)

        event.listen(sync_engine, "before_cursor_execute", count)
        try:
            result = await evaluate(session=session, now=NOW, org_id=organization.id)
        finally:
            event.remove(sync_engine, "before_cursor_execute", count)
        assert len(result.firings) >= campaigns
        assert result.windows == 3
        counts.append(len(statements))
    # rules, campaigns, cooldowns, and one scan for all three windows together.
    assert counts[0] == counts[1] == 4


def test_fixed_clock_is_a_weekday() -> None:
    assert date(2026, 3, 18).weekday() == 2
