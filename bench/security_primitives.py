"""Key rotation and quota throughput on PostgreSQL: `python -m bench.security_primitives`.

1. rotate-keys: N ad accounts with two tokens each under key A, rotated to "B,A" in batches.
2. quota: concurrent reserve_generation() calls on one org (the hot row) through the app role.
Uses its own database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from core import schema
from core.accounts.models import AdAccount
from core.billing import service as quota
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.errors import QuotaExceeded
from core.orgs.models import Organization, PlanTier
from core.security.crypto import Cipher, generate_key
from core.security.rotation import rotate_all

PG_ADMIN_URL = os.environ.get(
    "ADPILOT_BENCH_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "adpilot_bench_security"


async def admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


async def seed_accounts(database: Database, cipher: Cipher, count: int) -> uuid.UUID:
    org_id = uuid.uuid4()
    async with database.system() as session:
        session.add(Organization(id=org_id, name="Bench", slug="bench", plan=PlanTier.AGENCY))
        await session.flush()
        rows = [
            {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "platform": "google",
                "external_id": f"acct-{n}",
                "name": f"Account {n}",
                "access_token_encrypted": cipher.encrypt(f"ya29.access-{n}"),
                "refresh_token_encrypted": cipher.encrypt(f"1//refresh-{n}"),
            }
            for n in range(count)
        ]
        for start in range(0, count, 5_000):
            await session.execute(insert(AdAccount), rows[start : start + 5_000])
    return org_id


async def bench_rotation(database: Database, accounts: int, batch_size: int) -> None:
    key_a, key_b = generate_key(), generate_key()
    await seed_accounts(database, Cipher([key_a]), accounts)
    started = time.perf_counter()
    report = await rotate_all(
        sessions=database.system, cipher=Cipher([key_b, key_a]), batch_size=batch_size
    )
    elapsed = time.perf_counter() - started
    again_started = time.perf_counter()
    again = await rotate_all(sessions=database.system, cipher=Cipher([key_b, key_a]))
    again_elapsed = time.perf_counter() - again_started
    print(
        f"rotate-keys: {report.rotated} secrets re-encrypted in {elapsed:.2f} s "
        f"({report.rotated / elapsed:,.0f}/s, batch {batch_size}); "
        f"second run: {again.current} already current, {again.rotated} rotated, "
        f"{again_elapsed:.2f} s"
    )


async def bench_quota(database: Database, workers: int, calls: int) -> None:
    org_id = uuid.uuid4()
    async with database.system() as session:
        session.add(Organization(id=org_id, name="Q", slug="quota", plan=PlanTier.AGENCY))
    refused = 0

    async def worker(share: int) -> None:
        nonlocal refused
        for _ in range(share):
            try:
                async with database.tenant(org_id) as session:
                    await quota.reserve_generation(session=session, org_id=org_id)
            except QuotaExceeded:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(calls // workers) for _ in range(workers)))
    elapsed = time.perf_counter() - started
    async with database.tenant(org_id) as session:
        status = await quota.quota_status(session=session, org_id=org_id)
    print(
        f"quota: {calls} reservations on one org by {workers} concurrent workers in "
        f"{elapsed:.2f} s ({calls / elapsed:,.0f}/s); counter {status.used}, refused {refused}"
    )


async def main(accounts: int, batch_size: int, workers: int, calls: int) -> None:
    await admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{PG_DB}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
    os.environ["ADPILOT_DATABASE_URL"] = url
    reset_settings_cache()
    try:
        await asyncio.to_thread(schema.upgrade, url)
        database = Database(Settings(database_url=url, encryption_keys=generate_key()))
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, PostgreSQL")
        await bench_rotation(database, accounts, batch_size)
        await bench_quota(database, workers, calls)
        await database.dispose()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--calls", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.batch_size, args.workers, args.calls))
