"""What the signed org binding costs: `python -m bench.org_binding [--rounds 10] [--pairs 40]`.

Two PostgreSQL databases, migrated to head and seeded alike, the production layout (app and
worker log in as themselves); in one the policies are put back to 0002's predicate:
- `old`: `org_id = current_setting('app.org_id')::uuid` and the old `set_tenant` (one
  unsigned set_config);
- `new`: `org_id = (SELECT app_current_org())` (HMAC checked once per statement) and
  today's signing `set_tenant`.
The same process alternates old and new call by call (the order flips every pair), so the
load swings of a shared machine fall on both alike; each round reports per-workload medians,
and the summary is the median over all samples plus the median of the per-round new/old ratios.
Workloads: bot turns (`report 7d`, `campaigns`, an agent turn with one tool call) over the demo
org, and tenant queries through `Database.tenant` over an org with 1,000 campaigns and 30 days
of daily metrics (list all campaigns, a 30-day per-campaign aggregate, one campaign by id).
The raw output (text and every sample as JSON) goes to bench/results/. Both databases are
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic_ai.models.function import FunctionModel
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import core.db
from bench.bot_turn import context_for, tool_then_answer
from bot.engine import Bot, TurnContext
from channels.cli import demo_seed
from core import schema
from core.accounts.models import AdAccount
from core.campaigns import service as campaigns
from core.campaigns.models import Campaign, CampaignStatus
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.metrics import service as metrics
from core.metrics.models import CampaignMetric
from core.models import TENANT_TABLES
from core.orgs import service as orgs

PG_ADMIN_URL = os.environ.get(
    "ADPILOT_BENCH_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "adpilot_bench_org_binding"
RESULTS = Path(__file__).resolve().parent / "results"
BIG_ORG_CAMPAIGNS = 1_000
BIG_ORG_DAYS = 30
WARMUP = 5

Mode = Literal["old", "new"]
MODES: tuple[Mode, Mode] = ("old", "new")
Op = Callable[[], Awaitable[object]]
# workload -> mode -> one list of per-call milliseconds per round
Samples = dict[str, dict[Mode, list[list[float]]]]
# The predicates as migrations 0002 and 0003 write them.
PREDICATES: dict[Mode, str] = {
    "old": "NULLIF(current_setting('app.org_id', true), '')::uuid",
    "new": "(SELECT app_current_org())",
}
SIGNED_SET_TENANT = core.db.set_tenant


async def unsigned_set_tenant(session: AsyncSession, org_id: uuid.UUID) -> None:
    """`set_tenant` as it was before the signed binding: one unsigned setting."""
    session.info["org_id"] = org_id
    await session.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": core.db.ORG_SETTING, "value": str(org_id)},
    )


async def set_policies(owner_url: str, mode: Mode) -> None:
    """Point every tenant policy of one database at one binding."""
    engine = create_async_engine(owner_url)
    try:
        async with engine.begin() as connection:
            for table, column in TENANT_TABLES.items():
                predicate = f"{column} = {PREDICATES[mode]}"
                await connection.execute(
                    text(
                        f"ALTER POLICY tenant_isolation ON {table} "
                        f"USING ({predicate}) WITH CHECK ({predicate})"
                    )
                )
    finally:
        await engine.dispose()


def use_binding(mode: Mode) -> None:
    """The Python side: tenant_session looks set_tenant up at call time, so the bot follows."""
    core.db.set_tenant = SIGNED_SET_TENANT if mode == "new" else unsigned_set_tenant


async def seed_big_org(database: Database) -> tuple[uuid.UUID, uuid.UUID]:
    """An org with 1,000 campaigns and 30 days of daily metrics; returns (org, one campaign)."""
    async with database.system() as session:
        org = await orgs.create(session=session, name="Bench 1000", slug="bench-1000")
        account = AdAccount(
            org_id=org.id, platform="meta", external_id="act_1000", name="Big account"
        )
        session.add(account)
        await session.flush()
        campaign_ids = [uuid.uuid4() for _ in range(BIG_ORG_CAMPAIGNS)]
        campaign_rows = [
            {
                "id": campaign_id,
                "org_id": org.id,
                "ad_account_id": account.id,
                "platform": "meta",
                "external_id": f"cmp-{index}",
                "name": f"Campaign {index:04d}",
                "status": CampaignStatus.ACTIVE,
                "daily_budget": Decimal("50"),
                "baseline_daily_budget": Decimal("50"),
                "currency": "USD",
                "extra": {},
            }
            for index, campaign_id in enumerate(campaign_ids)
        ]
        await session.execute(insert(Campaign), campaign_rows)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        metric_rows = [
            {
                "campaign_id": campaign_id,
                "platform": "meta",
                "recorded_at": today - timedelta(days=day),
                "org_id": org.id,
                "impressions": 1_000 + day,
                "clicks": 30 + day % 7,
                "spend": Decimal("41.25"),
                "conversions": Decimal("2"),
                "conversion_value": Decimal("120"),
            }
            for campaign_id in campaign_ids
            for day in range(BIG_ORG_DAYS)
        ]
        await session.execute(insert(CampaignMetric), metric_rows)
        return org.id, campaign_ids[0]


def tenant_ops(database: Database, org_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Op]:
    async def list_all() -> object:
        async with database.tenant(org_id) as session:
            rows = await campaigns.list_campaigns(session=session, org_id=org_id)
        assert len(rows) == BIG_ORG_CAMPAIGNS, len(rows)
        return rows

    async def window() -> object:
        async with database.tenant(org_id) as session:
            rows = await metrics.aggregate(session=session, org_id=org_id, window="30d")
        assert len(rows) == BIG_ORG_CAMPAIGNS, len(rows)
        return rows

    async def one() -> object:
        async with database.tenant(org_id) as session:
            return await campaigns.get(session=session, org_id=org_id, campaign_id=campaign_id)

    return {
        "tenant: list 1,000 campaigns": list_all,
        "tenant: 30d aggregate, 1,000 campaigns": window,
        "tenant: one campaign by id": one,
    }


async def bot_ops(database: Database, settings: Settings) -> dict[str, Op]:
    """Bot turns over the demo org; history reaches its cap (40 messages) during the warm-up."""
    registry = demo_seed.embedded_registry(settings, database)
    command_bot = Bot(database=database, registry=registry, settings=settings)
    agent_bot = Bot(
        database=database,
        registry=registry,
        settings=settings,
        model=FunctionModel(tool_then_answer),
    )
    command_ctx = await context_for(database, "command")
    agent_ctx = await context_for(database, "agent")

    async def turn(bot: Bot, ctx: TurnContext, message: str) -> object:
        reply = await bot.handle_text(ctx, message)
        if reply.is_error:
            raise RuntimeError(f"benchmark turn failed: {reply.text}")
        return reply

    return {
        "bot: command `report 7d`": lambda: turn(command_bot, command_ctx, "report 7d"),
        "bot: command `campaigns`": lambda: turn(command_bot, command_ctx, "campaigns"),
        "bot: agent, 1 tool call": lambda: turn(agent_bot, agent_ctx, "how are we doing?"),
    }


async def prepare(mode: Mode, only: str) -> tuple[str, Database, dict[str, Op]]:
    """One migrated, seeded database whose policies use `mode`'s binding, and its workloads."""
    name = f"{PG_DB}_{mode}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    owner_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    os.environ["ADPILOT_DATABASE_URL"] = owner_url
    reset_settings_cache()
    await schema.upgrade_async(owner_url)
    await set_policies(owner_url, mode)
    use_binding(mode)
    await demo_seed.seed(
        Settings(database_url=owner_url), slug=demo_seed.DEMO_SLUG, progress=lambda _m: None
    )
    settings = Settings(
        database_url=owner_url,
        database_app_url=owner_url.replace("postgres@", "adpilot_app@"),
        database_worker_url=owner_url.replace("postgres@", "adpilot_worker@"),
    )
    database = Database(settings)
    big_org, one_campaign = await seed_big_org(database)
    ops = {**await bot_ops(database, settings), **tenant_ops(database, big_org, one_campaign)}
    return name, database, {label: op for label, op in ops.items() if only in label}


async def run(rounds: int, pairs: int, only: str, out: list[str]) -> Samples:
    # A fresh secret per run: migrations and app derive the same binding key from it.
    os.environ["ADPILOT_SECRET_KEY"] = secrets.token_urlsafe(32)
    prepared = {}
    try:
        for mode in MODES:
            prepared[mode] = await prepare(mode, only)
        return await alternate(
            {mode: ops for mode, (_, _, ops) in prepared.items()}, rounds, pairs, out
        )
    finally:
        use_binding("new")
        for name, database, _ in prepared.values():
            await database.dispose()
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def call(mode: Mode, op: Op) -> float:
    use_binding(mode)
    started = time.perf_counter()
    await op()
    return (time.perf_counter() - started) * 1000


async def alternate(
    ops: dict[Mode, dict[str, Op]], rounds: int, pairs: int, out: list[str]
) -> Samples:
    """Old and new alternate call by call (order flipped every pair), so load swings hit both."""
    names = list(ops["old"])
    samples: Samples = {name: {"old": [], "new": []} for name in names}
    for name in names:
        for mode in MODES:
            for _ in range(WARMUP):
                await call(mode, ops[mode][name])
    for round_index in range(rounds):
        for name in names:
            taken: dict[Mode, list[float]] = {"old": [], "new": []}
            for pair in range(pairs):
                order: tuple[Mode, Mode] = ("old", "new") if pair % 2 == 0 else ("new", "old")
                for mode in order:
                    taken[mode].append(await call(mode, ops[mode][name]))
            for mode in MODES:
                samples[name][mode].append(taken[mode])
            old_median, new_median = (
                statistics.median(taken["old"]),
                statistics.median(taken["new"]),
            )
            out.append(
                f"round {round_index + 1:>2} {name:<40} "
                f"median old {old_median:8.3f} ms, new {new_median:8.3f} ms"
            )
            print(out[-1], flush=True)
    return samples


def summary(samples: Samples) -> list[str]:
    lines = [
        f"{'workload':<40} {'old p50':>9} {'new p50':>9} {'overhead':>9} {'paired':>9}",
    ]
    for name, by_mode in samples.items():
        old = [value for round_samples in by_mode["old"] for value in round_samples]
        new = [value for round_samples in by_mode["new"] for value in round_samples]
        ratios = [
            statistics.median(new_round) / statistics.median(old_round)
            for old_round, new_round in zip(by_mode["old"], by_mode["new"], strict=True)
        ]
        old_median, new_median = statistics.median(old), statistics.median(new)
        lines.append(
            f"{name:<40} {old_median:>9.3f} {new_median:>9.3f} "
            f"{(new_median / old_median - 1) * 100:>8.1f}% "
            f"{(statistics.median(ratios) - 1) * 100:>8.1f}%"
        )
    return lines


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=40, help="old/new call pairs per round")
    parser.add_argument("--only", default="", help="run only workloads whose name contains this")
    args = parser.parse_args()
    started = datetime.now(UTC)
    out = [
        f"org binding overhead: {args.rounds} rounds x {args.pairs} old/new call pairs per "
        f"workload (+{WARMUP} warm-up each), alternating call by call",
        f"started {started:%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
    ]
    print("\n".join(out), flush=True)
    samples = asyncio.run(run(args.rounds, args.pairs, args.only, out))
    out.append(f"finished; load average {os.getloadavg()[0]:.2f}")
    out.append("")
    out.append(
        "overhead = new p50 / old p50 - 1 over all samples; paired = median of per-round ratios"
    )
    out += summary(samples)
    print("\n".join(out[-len(samples) - 2 :]))
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"org_binding-{started:%Y%m%dT%H%M}"
    stem.with_suffix(".txt").write_text("\n".join(out) + "\n")
    stem.with_suffix(".json").write_text(json.dumps(samples))
    print(f"raw output: {stem}.txt, {stem}.json")


if __name__ == "__main__":
    main()
