"""Rule evaluation at scale on PostgreSQL: 10,000 rules, 50,000 campaigns, 1.5 M metric rows.

    .venv/bin/python -m bench.rule_eval [--scale 1.0] [--keep]

Builds its own database (adpilot_bench_rules), loads metrics with COPY, times full set-based
evaluation cycles as the worker role, runs a naive per-rule/per-campaign ORM loop on a 1/100 slice
and exits non-zero unless both find the same firings (rule id, scope key), then applies the
firings of 100 orgs as `run_cycle` does: one `Database.tenant` transaction per org as the RLS-bound
app role, with a platform registry (the sandbox standing in for Google, Meta and TikTok), so
auto-mode firings execute. Every figure of the closing RESULT block comes from that one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from adapters.registry import build_registry
from core import schema
from core.accounts.models import AdAccount
from core.base import to_micros
from core.campaigns.models import Campaign
from core.config import Settings, get_settings, reset_settings_cache
from core.db import Database
from core.metrics.models import CampaignMetric
from core.metrics.windows import day_start, today_in
from core.orgs.models import Organization
from core.rules.aggregate import resolve
from core.rules.engine import CampaignFacts, Firing, judge
from core.rules.flows import Evaluation, apply_firings, evaluate, load_rules
from core.rules.models import Rule
from core.rules.schemas import parse_rule
from core.rules.service import stored_spec
from core.sandbox.models import SandboxAccount, SandboxCampaign
from core.security.crypto import encrypt

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
# A fixed Fernet key for the bench's own throw-away database (never a real secret).
BENCH_ENCRYPTION_KEY = "F16TH-tTfrmBQqX1mpFGOawZPsePS9aJl5wroKhSfkc="


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
    token = encrypt("bench-access-token", settings=bench_settings())
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
                "access_token_encrypted": token,
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
            # The column type (core.base.Micros) scales major units to micros itself.
            c["daily_budget_micros"] = c.pop("daily_budget")
            c["baseline_daily_budget_micros"] = c.pop("baseline_daily_budget")
        await conn.execute(insert(_table(Campaign)), campaigns)
        await conn.execute(insert(_table(Rule)), rows["rules"])
        # The sandbox stands in for each platform, so auto-mode firings really execute.
        await conn.execute(
            insert(_table(SandboxAccount)),
            [
                {"external_id": a["external_id"], "name": a["name"], "timezone": a["timezone"]}
                for a in rows["accounts"]
            ],
        )
        await conn.execute(
            insert(_table(SandboxCampaign)),
            [
                {
                    "external_id": c["external_id"],
                    "account_external_id": f"{c['external_id'].split('-')[0]}-{c['platform']}",
                    "name": c["name"],
                    "status": "PAUSED" if c["status"] == "paused" else "ACTIVE",
                    "daily_budget_micros": c["daily_budget_micros"],
                }
                for c in campaigns
            ],
        )
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


def bench_settings() -> Settings:
    """The production layout: app and worker log in as their own roles (trust auth here)."""
    os.environ.update(
        {
            "ADPILOT_DATABASE_URL": URL,
            "ADPILOT_DATABASE_APP_URL": URL.replace("postgres@", "adpilot_app@"),
            "ADPILOT_DATABASE_WORKER_URL": URL.replace("postgres@", "adpilot_worker@"),
            "ADPILOT_ENCRYPTION_KEYS": BENCH_ENCRYPTION_KEY,
        }
    )
    reset_settings_cache()
    return get_settings()


FiringKey = tuple[uuid.UUID, str]


def firing_keys(firings: Iterable[Firing]) -> set[FiringKey]:
    return {(firing.rule_id, firing.scope_key) for firing in firings}


async def naive(
    session: AsyncSession, org_ids: list[uuid.UUID]
) -> tuple[float, set[FiringKey], int]:
    """Per rule, per campaign, per window: an ORM query and a Python sum."""
    started = time.perf_counter()
    firings: set[FiringKey] = set()
    queries = 0
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
            firings |= firing_keys(judge(rule, facts_list, now=NOW, last_fired={}))
    return time.perf_counter() - started, firings, queries


def phase_durations(phases: dict[str, float]) -> dict[str, float]:
    """Evaluation.phases holds seconds since the start at each phase's end; make them lengths."""
    durations, previous = {}, 0.0
    for name, at in phases.items():
        durations[name] = at - previous
        previous = at
    return durations


async def measure_cycles(database: Database, runs: int) -> list[Evaluation]:
    """Full evaluation cycles as the worker runs them (worker role, every org)."""
    evaluations = []
    for run in range(runs):
        async with database.system() as session:
            started = time.perf_counter()
            evaluation = await evaluate(session=session, now=NOW)
            elapsed = time.perf_counter() - started
            await session.rollback()
        log(
            f"cycle {run + 1}: {elapsed:.2f} s, {evaluation.rules:,} rules, "
            f"{evaluation.campaigns:,} campaigns, {evaluation.windows} windows, "
            f"{evaluation.statements} statements, {len(evaluation.firings):,} firings; "
            + ", ".join(f"{k} {v:.2f}s" for k, v in phase_durations(evaluation.phases).items())
        )
        evaluation.phases["total"] = elapsed
        evaluations.append(evaluation)
    return evaluations


async def measure_naive(database: Database, evaluation: Evaluation) -> dict[str, Any]:
    """The naive loop on a 1/100 slice; its firings must equal the set-based ones there."""
    async with database.system() as session:
        org_ids = list(
            (await session.scalars(select(Organization.id).order_by(Organization.slug))).all()
        )
        slice_orgs = org_ids[: max(1, len(org_ids) // 100)]
        log(f"naive ORM loop over a 1/100 slice ({len(slice_orgs)} orgs) ...")
        seconds, naive_keys, queries = await naive(session, slice_orgs)
        await session.rollback()
    in_slice = set(slice_orgs)
    fast_keys = firing_keys(f for f in evaluation.firings if f.org_id in in_slice)
    if naive_keys != fast_keys:
        raise SystemExit(
            f"FIRINGS DIFFER on the slice: {len(fast_keys - naive_keys)} only set-based, "
            f"{len(naive_keys - fast_keys)} only naive"
        )
    log(f"naive slice: {seconds:.2f} s, {queries:,} queries, {len(naive_keys)} firings, identical")
    return {"orgs": len(slice_orgs), "seconds": seconds, "queries": queries, "firings": naive_keys}


async def measure_apply(database: Database, evaluation: Evaluation, orgs: int) -> dict[str, Any]:
    """Apply the firings of `orgs` orgs as run_cycle does: tenant transaction, real registry."""
    registry = build_registry(database.settings, database, simulate_unconfigured=True)
    per_org: dict[uuid.UUID, list[Firing]] = defaultdict(list)
    for firing in evaluation.firings:
        per_org[firing.org_id].append(firing)
    chosen = sorted(per_org)[:orgs]
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for org_id in chosen:
        async with database.tenant(org_id) as session:
            alerts = await apply_firings(
                session=session, org_id=org_id, firings=per_org[org_id], registry=registry
            )
            outcomes.update(alert.action_taken or "notified" for alert in alerts)
    seconds = time.perf_counter() - started
    total = sum(outcomes.values())
    log(f"apply: {total} alerts for {len(chosen)} orgs in {seconds:.2f} s: {dict(outcomes)}")
    return {"orgs": len(chosen), "seconds": seconds, "alerts": total, "outcomes": dict(outcomes)}


async def measure(runs: int) -> None:
    owner = create_async_engine(URL)
    async with owner.begin() as conn:
        # A reused database starts without the cooldowns an earlier run's alerts would impose.
        for table in ("alerts", "pending_actions", "audit_logs"):
            await conn.execute(text(f"DELETE FROM {table}"))
    await owner.dispose()
    database = Database(bench_settings())
    try:
        evaluations = await measure_cycles(database, runs)
        ordered = sorted(evaluations, key=lambda e: e.phases["total"])
        median = ordered[len(ordered) // 2]
        slice_run = await measure_naive(database, median)
        applied = await measure_apply(database, median, orgs=100)
    finally:
        await database.dispose()
    fast = median.phases["total"]
    extrapolated = slice_run["seconds"] * 100
    print("\nRESULT (every figure below comes from this run)")
    totals = [evaluation.phases["total"] for evaluation in evaluations]
    print("  cycles: " + ", ".join(f"{seconds:.2f} s" for seconds in totals))
    print(f"  cycle median {fast:.2f} s, best {ordered[0].phases['total']:.2f} s")
    print(
        f"  median run: {median.rules:,} rules, {median.campaigns:,} campaigns, "
        f"{median.windows} windows, {median.statements} statements, "
        f"{len(median.firings):,} firings"
    )
    durations = phase_durations({k: v for k, v in median.phases.items() if k != "total"})
    print("  median run phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in durations.items()))
    print(
        f"  naive slice: {slice_run['orgs']} orgs, {slice_run['seconds']:.2f} s, "
        f"{slice_run['queries']:,} queries, {len(slice_run['firings'])} firings = set-based"
    )
    print(
        f"  naive x100 = {extrapolated:.1f} s; vs cycle median {fast:.2f} s = "
        f"{extrapolated / fast:.0f}x"
    )
    print(
        f"  apply: {applied['alerts']} alerts for {applied['orgs']} orgs in "
        f"{applied['seconds']:.2f} s = {applied['alerts'] / applied['seconds']:.0f} alerts/s; "
        f"outcomes {applied['outcomes']}"
    )


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
