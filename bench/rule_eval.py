"""Rule evaluation at scale on PostgreSQL: 10,000 rules, 50,000 campaigns, 1.5 M metric rows.

    .venv/bin/python -m bench.rule_eval [--scale 1.0] [--keep]

Builds its own database (adpilot_bench_rules), loads metrics with COPY, times full set-based
evaluation cycles, and compares with a naive per-rule/per-campaign ORM loop on a 1/100 slice.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from core import schema
from core.accounts.models import AdAccount
from core.base import to_micros
from core.campaigns.models import Campaign
from core.metrics.models import CampaignMetric
from core.metrics.windows import day_start, today_in
from core.orgs.models import Organization
from core.rules.aggregate import resolve
from core.rules.engine import CampaignFacts, judge
from core.rules.flows import apply_firings, evaluate, load_rules
from core.rules.models import Rule
from core.rules.schemas import parse_rule
from core.rules.service import stored_spec

DB_NAME = "adpilot_bench_rules"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}"
PLATFORMS = ("google", "meta", "tiktok")
TIMEZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles")
CAMPAIGNS_PER_ORG = 50
RULES_PER_ORG = 10
DAYS = 30
NOW = datetime.now(UTC).replace(microsecond=0)


def _table(model: Any) -> Any:
    return model.__table__


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rule_templates(rng: random.Random) -> list[dict[str, Any]]:
    """A realistic mix: thresholds, metric-vs-metric, groups, guards, blended, every mode.

    Thresholds are set so that a rule fires on a minority of campaigns, as real alerting
    rules do (the first version fired on ~30 % of all rule x campaign pairs).
    """
    cpa = rng.choice([90, 110, 130])
    return [
        {
            "conditions": [f"cpa last_7d > {cpa}"],
            "guards": {"min_spend": 50},
            "action": {"type": "pause"},
            "mode": "approve",
        },
        {"conditions": ["spend today > 2 x daily_budget"]},
        {
            "conditions": [f"roas last_3d > {rng.choice([8, 10])}", "conversions last_3d >= 5"],
            "mode": "auto",
            "action": {"type": "change_budget", "percent": 20},
            "limits": {"max_budget_multiple": 2},
        },
        {
            "scope": {"kind": "name_contains", "contains": "Summer"},
            "conditions": ["ctr last_14d < 1.5"],
        },
        {
            "scope": {
                "kind": "name_contains",
                "contains": "Summer",
                "platforms": list(PLATFORMS),
                "blended": True,
            },
            "conditions": [f"cpa last_7d > {cpa}"],
        },
        {
            "conditions": {
                "any": [
                    f"cpa yesterday > {cpa * 2}",
                    {"all": ["conversions last_3d == 0", "spend last_3d > 100"]},
                ]
            },
            "action": {"type": "pause"},
            "mode": "approve",
        },
        {"conditions": ["roas last_7d > 8"], "action": {"type": "resume"}, "mode": "approve"},
        {
            "scope": {"kind": "platform", "platforms": [rng.choice(PLATFORMS)]},
            "conditions": ["cpm last_30d > 25"],
        },
        {"conditions": [f"cpa last_7d > {cpa}"], "guards": {"exclude_today": True}},
        {
            "conditions": ["spend last_3d > 2.5 x daily_budget", "cpa last_3d > 40"],
            "guards": {"lag_hours": 6},
            "action": {"type": "change_budget", "percent": -15, "floor": 10},
            "mode": "auto",
        },
    ]


async def reset_database() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()


async def drop_database() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await admin.close()


def build_rows(orgs: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {
        "orgs": [],
        "accounts": [],
        "campaigns": [],
        "rules": [],
    }
    for o in range(orgs):
        org_id = uuid.uuid4()
        rows["orgs"].append(
            {
                "id": org_id,
                "name": f"Org {o}",
                "slug": f"org-{o}",
                "timezone": "UTC",
                "currency": "USD",
                "settings": {},
            }
        )
        accounts = []
        for platform in PLATFORMS:
            account = {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "platform": platform,
                "external_id": f"{o}-{platform}",
                "name": platform,
                "timezone": rng.choice(TIMEZONES),
            }
            accounts.append(account)
            rows["accounts"].append(account)
        for c in range(CAMPAIGNS_PER_ORG):
            account = accounts[c % len(accounts)]
            budget = Decimal(rng.choice([20, 50, 100, 200]))
            rows["campaigns"].append(
                {
                    "id": uuid.uuid4(),
                    "org_id": org_id,
                    "ad_account_id": account["id"],
                    "platform": account["platform"],
                    "external_id": f"{o}-{c}",
                    "name": f"{'Summer' if c % 4 == 0 else 'Evergreen'} {c} {account['platform']}",
                    "status": "paused" if c % 10 == 0 else "active",
                    "daily_budget": budget,
                    "baseline_daily_budget": budget,
                    "extra": {},
                    "_tz": account["timezone"],
                }
            )
        for r, template in enumerate(rule_templates(rng)[:RULES_PER_ORG]):
            parsed = parse_rule({"name": f"rule {r}", **template})
            rows["rules"].append(
                {
                    "id": uuid.uuid4(),
                    "org_id": org_id,
                    "name": parsed.name,
                    "spec": stored_spec(parsed.spec),
                    "mode": parsed.mode,
                    "enabled": True,
                }
            )
    return rows


def metric_records(campaigns: list[dict[str, Any]], rng: random.Random) -> list[tuple[Any, ...]]:
    records = []
    for campaign in campaigns:
        tz = campaign["_tz"]
        today = today_in(tz, NOW)
        # Each campaign has its own true CPA and order value: ROAS mostly 1-3, sometimes not.
        true_cpa = rng.uniform(12, 90)
        order_value = rng.uniform(30, 150)
        budget = int(campaign["daily_budget"] * 1_000_000)
        for offset in range(DAYS):
            impressions = rng.randint(200, 20000)
            clicks = int(impressions * rng.uniform(0.002, 0.04))
            # Campaigns spend near their budget, with an occasional runaway day.
            pace = rng.uniform(2.1, 2.6) if rng.random() < 0.01 else rng.uniform(0.4, 1.1)
            spend = int(budget * pace)
            conversions = int(spend / 1_000_000 / true_cpa * rng.uniform(0.4, 1.6)) * 1_000_000
            value = int(conversions * order_value * rng.uniform(0.8, 1.2))
            records.append(
                (
                    campaign["id"],
                    campaign["platform"],
                    day_start(today - timedelta(days=offset), tz),
                    campaign["org_id"],
                    impressions,
                    clicks,
                    spend,
                    conversions,
                    value,
                )
            )
    return records


async def load(orgs: int) -> tuple[int, int]:
    rng = random.Random(7)
    log(f"generating {orgs} orgs x {CAMPAIGNS_PER_ORG} campaigns x {DAYS} days")
    rows = build_rows(orgs, rng)
    engine = create_async_engine(URL)
    async with engine.begin() as conn:
        await conn.execute(insert(_table(Organization)), rows["orgs"])
        await conn.execute(insert(_table(AdAccount)), rows["accounts"])
        campaigns = [{k: v for k, v in c.items() if k != "_tz"} for c in rows["campaigns"]]
        for c in campaigns:
            c["daily_budget_micros"] = int(c.pop("daily_budget") * 1_000_000)
            c["baseline_daily_budget_micros"] = int(c.pop("baseline_daily_budget") * 1_000_000)
        await conn.execute(insert(_table(Campaign)), campaigns)
        await conn.execute(insert(_table(Rule)), rows["rules"])
    await engine.dispose()
    log(f"inserted {len(rows['campaigns'])} campaigns and {len(rows['rules'])} rules")
    records = metric_records(rows["campaigns"], rng)
    log(f"COPY {len(records):,} metric rows")
    started = time.perf_counter()
    conn = await asyncpg.connect(DSN)
    try:
        await conn.copy_records_to_table(
            "campaign_metrics",
            records=records,
            columns=[
                "campaign_id",
                "platform",
                "recorded_at",
                "org_id",
                "impressions",
                "clicks",
                "spend_micros",
                "conversions_micros",
                "conversion_value_micros",
            ],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    log(f"loaded in {time.perf_counter() - started:.1f} s")
    return len(rows["campaigns"]), len(records)


async def naive(session: AsyncSession, org_ids: list[uuid.UUID]) -> tuple[float, int, int]:
    """Per rule, per campaign, per window: an ORM query and a Python sum."""
    started = time.perf_counter()
    firings = queries = 0
    for org_id in org_ids:
        for rule in await load_rules(session, org_id=org_id):
            campaigns = (
                await session.scalars(select(Campaign).where(Campaign.org_id == org_id))
            ).all()
            queries += 1
            facts_list = []
            for campaign in campaigns:
                account = await session.get(AdAccount, campaign.ad_account_id)
                tz = account.timezone if account else "UTC"
                facts = CampaignFacts(
                    campaign.id,
                    org_id,
                    campaign.name,
                    campaign.platform,
                    str(campaign.status.value),
                    tz,
                    campaign.daily_budget,
                    campaign.baseline_daily_budget,
                )
                for key in rule.windows:
                    window = resolve(key, tz=tz, now=NOW)
                    metrics = (
                        await session.scalars(
                            select(CampaignMetric).where(
                                CampaignMetric.campaign_id == campaign.id,
                                CampaignMetric.recorded_at >= window.start,
                                CampaignMetric.recorded_at < window.end,
                            )
                        )
                    ).all()
                    queries += 1
                    facts.raw[key] = (
                        sum(m.impressions for m in metrics),
                        sum(m.clicks for m in metrics),
                        sum(to_micros(m.spend) for m in metrics),
                        sum(to_micros(m.conversions) for m in metrics),
                        sum(to_micros(m.conversion_value) for m in metrics),
                    )
                facts_list.append(facts)
            firings += len(judge(rule, facts_list, now=NOW, last_fired={}))
    return time.perf_counter() - started, firings, queries


async def measure(runs: int) -> None:
    engine = create_async_engine(URL, pool_size=2)
    async with engine.begin() as conn:
        # A reused database starts without the cooldowns an earlier run's alerts would impose.
        for table in ("alerts", "pending_actions", "audit_logs"):
            await conn.execute(text(f"DELETE FROM {table}"))
    async with AsyncSession(engine) as session:
        timings = []
        for run in range(runs):
            started = time.perf_counter()
            result = await evaluate(session=session, now=NOW)
            elapsed = time.perf_counter() - started
            timings.append(elapsed)
            log(
                f"cycle {run + 1}: {elapsed:.2f} s, {result.rules:,} rules, "
                f"{result.campaigns:,} campaigns, {result.windows} windows, "
                f"{result.statements} statements, {len(result.firings):,} firings; phases end at "
                + ", ".join(f"{name} {at:.2f}s" for name, at in result.phases.items())
            )
            await session.rollback()
        fast = statistics.median(timings)
        org_ids = sorted({f.org_id for f in result.firings})
        slice_orgs = list(
            (await session.scalars(select(Organization.id).order_by(Organization.slug))).all()
        )
        slice_orgs = slice_orgs[: max(1, len(slice_orgs) // 100)]
        slice_fast = [f for f in result.firings if f.org_id in set(slice_orgs)]
        log(f"naive ORM loop over a 1/100 slice ({len(slice_orgs)} orgs) ...")
        naive_s, naive_firings, queries = await naive(session, slice_orgs)
        await session.rollback()
        extrapolated = naive_s * 100
        log(
            f"naive slice: {naive_s:.2f} s, {queries:,} queries, {naive_firings} firings "
            f"(set-based found {len(slice_fast)} in the same orgs)"
        )
        log(
            f"naive extrapolated to full size: {extrapolated:.0f} s; "
            f"ratio vs set-based cycle: {extrapolated / fast:.0f}x"
        )
        started = time.perf_counter()
        applied = 0
        for org_id in org_ids[:100]:
            async with session.begin():
                alerts = await apply_firings(
                    session=session,
                    org_id=org_id,
                    firings=[f for f in result.firings if f.org_id == org_id],
                )
                applied += len(alerts)
        apply_s = time.perf_counter() - started
        log(
            f"apply: {applied} alerts for 100 orgs in {apply_s:.2f} s "
            f"({applied / apply_s:.0f} alerts/s, one transaction per org)"
        )
        print(
            f"\nRESULT cycle median {fast:.2f} s (best {min(timings):.2f} s); naive slice "
            f"{naive_s:.2f} s -> x100 {extrapolated:.0f} s; ratio {extrapolated / fast:.0f}x; "
            f"apply {applied / apply_s:.0f} alerts/s"
        )
    await engine.dispose()


async def main_async(scale: float, keep: bool, reuse: bool, load_only: bool) -> None:
    orgs = max(2, int(1000 * scale))
    try:
        if not reuse:
            log(f"creating database {DB_NAME}")
            await reset_database()
            await asyncio.to_thread(schema.upgrade, URL)
            await load(orgs)
        if not load_only:
            await measure(runs=3)
    finally:
        if not keep:
            await drop_database()
            log(f"dropped {DB_NAME}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000 orgs / 10k rules")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    parser.add_argument("--load-only", action="store_true", help="load, do not measure")
    args = parser.parse_args()
    asyncio.run(main_async(args.scale, args.keep, args.reuse, args.load_only))


if __name__ == "__main__":
    main()
