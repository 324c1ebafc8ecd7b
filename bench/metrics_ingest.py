"""Metrics ingest on PostgreSQL: upsert 1 M rows, re-upsert them changed, compare with plain COPY.

    .venv/bin/python -m bench.metrics_ingest [--rows 1000000] [--days 100] [--keep]

Builds its own database (adpilot_bench_ingest), migrates it, runs `core.metrics.upsert.upsert`
through the worker role (as the sync job does) and drops the database at the end. The first
ingest takes the direct-COPY path (no key can exist yet); the same rows are then ingested again
through the staging merge for comparison, and everything is set against a plain COPY into a table
with the same indexes and foreign key, the physical limit for this schema.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from core import schema
from core.accounts.models import AdAccount
from core.campaigns.models import Campaign
from core.config import Settings
from core.db import create_engine, session_factory
from core.metrics import upsert as upsert_module
from core.metrics.schemas import MetricIn
from core.metrics.upsert import COLUMNS, Record, driver_connection, prepare, upsert
from core.metrics.windows import day_start
from core.orgs.models import Organization

DB_NAME = "adpilot_bench_ingest"
ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DB_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}"
ACCOUNTS = 20
TIMEZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo")


async def _admin(statement: str) -> None:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


async def _seed(campaigns: int) -> list[tuple[uuid.UUID, uuid.UUID, str, str]]:
    """One org, a few accounts in several timezones, `campaigns` campaigns spread over them."""
    engine = create_async_engine(DB_URL)
    org_id = uuid.uuid4()
    accounts = [
        {
            "id": uuid.uuid4(),
            "org_id": org_id,
            "platform": ("google", "meta", "tiktok")[n % 3],
            "external_id": f"acct-{n}",
            "name": f"Account {n}",
            "timezone": TIMEZONES[n % len(TIMEZONES)],
        }
        for n in range(ACCOUNTS)
    ]
    rows: list[dict[str, Any]] = []
    for n in range(campaigns):
        account = accounts[n % ACCOUNTS]
        rows.append(
            {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "ad_account_id": account["id"],
                "platform": account["platform"],
                "external_id": f"cmp-{n}",
                "name": f"Campaign {n}",
                "extra": {},
                "timezone": account["timezone"],
            }
        )
    async with engine.begin() as connection:
        await connection.execute(
            insert(Organization), [{"id": org_id, "name": "Bench", "slug": "bench", "settings": {}}]
        )
        await connection.execute(insert(AdAccount), accounts)
        campaign_rows = [{k: v for k, v in row.items() if k != "timezone"} for row in rows]
        for start in range(0, len(campaign_rows), 5000):
            await connection.execute(insert(Campaign), campaign_rows[start : start + 5000])
    async with engine.connect() as connection:
        # As autovacuum would have by the time a sync runs: without statistics on a fresh
        # table the foreign-key checks' cached plan can scan all campaigns per metric row.
        await connection.execute(text("ANALYZE"))
        await connection.commit()
    await engine.dispose()
    return [(r["id"], org_id, str(r["platform"]), str(r["timezone"])) for r in rows]


def _rows(
    campaigns: list[tuple[uuid.UUID, uuid.UUID, str, str]], days: int, total: int, bump: int
) -> list[MetricIn]:
    """`total` daily rows, campaign by campaign; `bump` changes every value for the re-upsert."""
    first = date(2026, 1, 1)
    starts = {
        tz: [day_start(first + timedelta(days=d), tz) for d in range(days)] for tz in TIMEZONES
    }
    rows: list[MetricIn] = []
    for n, (campaign_id, org_id, platform, tz) in enumerate(campaigns):
        for day, recorded_at in enumerate(starts[tz]):
            if len(rows) == total:
                return rows
            seed = n * 31 + day * 7 + bump
            rows.append(
                MetricIn(
                    campaign_id=campaign_id,
                    platform=platform,
                    recorded_at=recorded_at,
                    org_id=org_id,
                    impressions=1000 + seed % 5000,
                    clicks=10 + seed % 97,
                    spend=Decimal(1_000_000 + seed % 9_000_000) / 1_000_000,
                    conversions=Decimal(seed % 11) / 2,
                    conversion_value=Decimal(seed % 50_000) / 100,
                )
            )
    return rows


def _report(label: str, count: int, seconds: float) -> float:
    rate = count / seconds
    print(f"  {label:<34} {count:>10,} rows  {seconds:7.2f} s  {rate:>11,.0f} rows/s", flush=True)
    return rate


async def _merge_into_empty(rows: list[MetricIn]) -> float:
    """The same first ingest forced through the staging merge (the path before direct COPY)."""
    engine = create_async_engine(DB_URL)
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE campaign_metrics"))
    await engine.dispose()

    async def never(*_: object) -> bool:
        return False

    direct = upsert_module._copy_fits
    upsert_module._copy_fits = never  # type: ignore[assignment]
    try:
        return await _timed_upsert("upsert into empty, merge path", rows)
    finally:
        upsert_module._copy_fits = direct


async def _timed_upsert(label: str, rows: list[MetricIn]) -> float:
    settings = Settings(database_url=DB_URL)
    engine = create_engine(settings, trust="worker")
    sessions = session_factory(engine)
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        result = await upsert(session=session, rows=rows)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    print(f"  {label}: received {result.received:,}, written {result.written:,}", flush=True)
    return _report(label, len(rows), elapsed)


# The same composite key campaign_metrics has (see migrations/versions/0001).
_FOREIGN_KEYS = (
    " ADD FOREIGN KEY (campaign_id, org_id) REFERENCES campaigns (id, org_id) ON DELETE CASCADE"
)


async def _copy_into(table: str, records: list[Record], *, foreign_keys: bool) -> float:
    engine = create_async_engine(DB_URL)
    async with engine.begin() as connection:
        await connection.execute(
            text(f"CREATE TABLE {table} (LIKE campaign_metrics INCLUDING ALL)")
        )
        if foreign_keys:
            await connection.execute(text(f"ALTER TABLE {table}{_FOREIGN_KEYS}"))
    started = time.perf_counter()
    async with engine.begin() as connection:
        driver = await driver_connection(connection)
        await driver.copy_records_to_table(table, records=records, columns=COLUMNS)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


async def _plain_copy(rows: list[MetricIn]) -> float:
    """COPY the same rows into an empty table shaped exactly like campaign_metrics.

    Same columns, indexes (incl. BRIN) and foreign keys, so the ratio isolates what the
    upsert adds: staging, the conflict checks and (on re-upsert) the updates. A second COPY
    without the foreign keys shows what their per-row checks cost.
    """
    started = time.perf_counter()
    records = prepare(rows)
    _report("validate + collapse only (Python)", len(rows), time.perf_counter() - started)
    seconds = await _copy_into("copy_baseline", records, foreign_keys=True)
    rate = _report("plain COPY into empty table", len(rows), seconds)
    seconds = await _copy_into("copy_baseline_no_fk", records, foreign_keys=False)
    _report("  same, without the foreign key", len(rows), seconds)
    return rate


async def _verify(expected_rows: int) -> tuple[int, int]:
    engine = create_async_engine(DB_URL)
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM campaign_metrics"))).scalar()
        clicks = (
            await connection.execute(text("SELECT sum(clicks) FROM campaign_metrics"))
        ).scalar()
    await engine.dispose()
    assert count == expected_rows, f"expected {expected_rows} rows, found {count}"
    return int(count or 0), int(clicks or 0)


async def main(total: int, days: int, keep: bool) -> None:
    print(f"metrics ingest benchmark: {total:,} rows on PostgreSQL ({DB_NAME})", flush=True)
    await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    try:
        await schema.upgrade_async(DB_URL)
        campaigns = await _seed(-(-total // days))
        print(f"  seeded {len(campaigns):,} campaigns in {ACCOUNTS} accounts", flush=True)
        started = time.perf_counter()
        first = _rows(campaigns, days, total, bump=0)
        changed = _rows(campaigns, days, total, bump=1)
        print(f"  built 2 x {len(first):,} input rows in {time.perf_counter() - started:.1f} s")
        insert_rate = await _timed_upsert("upsert into empty table", first)
        _, clicks_before = await _verify(len(first))
        update_rate = await _timed_upsert("re-upsert, all values changed", changed)
        _, clicks_after = await _verify(len(first))
        assert clicks_after != clicks_before, "re-upsert did not change the values"
        same_rate = await _timed_upsert("re-upsert, nothing changed", changed)
        merge_rate = await _merge_into_empty(first)
        await _verify(len(first))
        copy_rate = await _plain_copy(first)
        print("summary (the limit: a plain COPY into the same keyed table with its foreign key)")
        for label, rate in (
            ("upsert (insert)", insert_rate),
            ("upsert (insert, merge)", merge_rate),
            ("upsert (all changed)", update_rate),
            ("upsert (unchanged)", same_rate),
        ):
            print(f"  {label:<24} {rate:>11,.0f} rows/s  {rate / copy_rate:.2f} x COPY")
        print(f"  plain COPY               {copy_rate:>11,.0f} rows/s  1.00 x COPY")
        verdict = "met" if insert_rate >= 0.9 * copy_rate else "MISSED"
        print(f"  target: insert >= 0.9 x plain COPY: {verdict}")
    finally:
        if not keep:
            await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100, help="days per campaign")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.days, args.keep))


if __name__ == "__main__":
    cli()
