"""Metrics sync of 2,000 ad accounts x 10 campaigns on one worker process, 150 ms per call.

    .venv/bin/python -m bench.sync_accounts [--accounts 2000] [--latency 0.15] [--keep]

A loopback mock of Meta's Graph API (its own process, aiohttp) answers every call after
`--latency` seconds with the documented shapes: the account's currency, its 10 campaigns,
and insights per campaign and day. AdPilot's real Meta adapter talks to it. The benchmark
builds its own PostgreSQL database (adpilot_bench_sync), seeds the accounts with encrypted
tokens, enqueues one `sync_account` job per account on the real Redis (as the 15-minute cron
does) and runs ONE arq worker with the production WorkerSettings' job limits until the queue is
empty. Timed: first job start to last job end. The mock records the peak of requests in flight,
which must stay within the per-platform limit x the calls a sync makes at once (one).
Two rounds: the first sync (campaigns and rows new) and the next tick (same rows, unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
import uuid
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker
from pydantic import SecretStr
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.registry import build_registry, shared_http_client
from bench.loopback import free_port
from channels.turns import dump_job, load_job
from core import schema
from core.accounts.models import AdAccount
from core.campaigns.models import Campaign
from core.config import Settings
from core.db import Database
from core.metrics.models import CampaignMetric
from core.orgs.models import Organization
from core.security import crypto
from worker.metrics_sync import JOB_NAME, JOB_TIMEOUT_SECONDS, MAX_TRIES, sync_account_job
from worker.platform_slots import platform_limit
from worker.settings import WorkerSettings

DB_NAME = "adpilot_bench_sync"
ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DB_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = os.environ.get("ADPILOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CAMPAIGNS = 10
ORGS = 20
TARGET_SECONDS = 60.0


# --- the mock platform (its own process) -------------------------------------------------------


class MockGraph:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    async def _wait(self) -> None:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1

    async def account(self, request: web.Request) -> web.Response:
        await self._wait()
        act = request.match_info["act"]
        return web.json_response({"currency": "USD", "timezone_name": "UTC", "id": act})

    async def campaigns(self, request: web.Request) -> web.Response:
        await self._wait()
        digits = request.match_info["act"].removeprefix("act_")
        rows = [
            {
                "id": f"{digits}{n:02d}",
                "account_id": digits,
                "name": f"Campaign {n}",
                "status": "ACTIVE",
                "objective": "OUTCOME_SALES",
                "daily_budget": "5000",
            }
            for n in range(CAMPAIGNS)
        ]
        return web.json_response({"data": rows, "paging": {"cursors": {"before": "a"}}})

    async def insights(self, request: web.Request) -> web.Response:
        await self._wait()
        digits = request.match_info["act"].removeprefix("act_")
        span = json.loads(request.query["time_range"])
        first, last = date.fromisoformat(span["since"]), date.fromisoformat(span["until"])
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        rows = [
            {
                "campaign_id": f"{digits}{n:02d}",
                "account_currency": "USD",
                "spend": "19.99",
                "impressions": "1200",
                "clicks": "30",
                "actions": [{"action_type": "purchase", "value": "2"}],
                "action_values": [{"action_type": "purchase", "value": "80.5"}],
                "date_start": day.isoformat(),
                "date_stop": day.isoformat(),
            }
            for n in range(CAMPAIGNS)
            for day in days
        ]
        return web.json_response({"data": rows, "paging": {"cursors": {"before": "a"}}})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"peak": self.peak, "calls": self.calls})

    async def reset(self, _request: web.Request) -> web.Response:
        self.peak = self.calls = 0
        return web.json_response({})


def serve_mock(port: int, latency: float) -> None:
    mock = MockGraph(latency)
    app = web.Application()
    app.router.add_get("/v25.0/{act}", mock.account)
    app.router.add_get("/v25.0/{act}/campaigns", mock.campaigns)
    app.router.add_get("/v25.0/{act}/insights", mock.insights)
    app.router.add_get("/stats", mock.stats)
    app.router.add_post("/reset", mock.reset)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def mock_json(port: int, method: str, path: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    loaded: dict[str, Any] = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    return loaded


async def wait_for_mock(port: int, mock: Any) -> None:
    for _ in range(200):
        try:
            await mock_json(port, "GET", "/stats")
            return
        except OSError:
            if not mock.is_alive():
                raise RuntimeError("the mock platform process died") from None
            await asyncio.sleep(0.05)
    raise RuntimeError("the mock platform did not start")


# --- database and queue ------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


async def seed(settings: Settings, accounts: int) -> list[uuid.UUID]:
    engine = create_async_engine(DB_URL)
    token = crypto.encrypt("EAAB-bench-token", settings=settings)
    orgs = [
        {
            "id": uuid.uuid4(),
            "name": f"Bench {n}",
            "slug": f"bench-{n}",
            "settings": {},
            "plan": "free",
            "timezone": "UTC",
            "currency": "USD",
        }
        for n in range(ORGS)
    ]
    ids = [uuid.uuid4() for _ in range(accounts)]
    rows = [
        {
            "id": ids[n],
            "org_id": orgs[n % ORGS]["id"],
            "platform": "meta",
            "external_id": str(100_000 + n),
            "name": f"Account {n}",
            "currency": "USD",
            "timezone": "UTC",
            "access_token_encrypted": token,
            "sync_status": "never",
        }
        for n in range(accounts)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(Organization), orgs)
        await connection.execute(insert(AdAccount), rows)
    await engine.dispose()
    return ids


async def counts(database: Database) -> tuple[int, int, int]:
    async with database.system() as session:
        campaigns = await session.scalar(select(func.count()).select_from(Campaign))
        metrics = await session.scalar(select(func.count()).select_from(CampaignMetric))
        synced = await session.scalar(
            select(func.count()).select_from(AdAccount).where(AdAccount.sync_status == "ok")
        )
    return int(campaigns or 0), int(metrics or 0), int(synced or 0)


async def one_round(
    label: str, settings: Settings, database: Database, account_ids: list[uuid.UUID], port: int
) -> tuple[float, int]:
    # As worker/settings.py's startup builds it: one HTTP client shared by the adapters.
    http_client = shared_http_client(settings)
    await mock_json(port, "POST", "/reset")
    pool = await create_pool(
        RedisSettings.from_dsn(REDIS_URL), job_serializer=dump_job, job_deserializer=load_job
    )
    await pool.flushdb()
    for account_id in account_ids:
        await pool.enqueue_job(
            JOB_NAME, account_id=str(account_id), _job_id=f"{label}:{account_id}"
        )
    from arq import func as arq_func

    worker = Worker(
        functions=[
            arq_func(
                sync_account_job, name=JOB_NAME, timeout=JOB_TIMEOUT_SECONDS, max_tries=MAX_TRIES
            )
        ],
        redis_pool=pool,
        job_serializer=dump_job,
        job_deserializer=load_job,
        burst=True,
        handle_signals=False,
        max_jobs=WorkerSettings.max_jobs,
        poll_delay=WorkerSettings.poll_delay,
        keep_result=WorkerSettings.keep_result,
        ctx={
            "settings": settings,
            "database": database,
            "registry": build_registry(settings, database, http_client=http_client),
        },
    )
    started = time.perf_counter()
    try:
        await worker.main()
    finally:
        await worker.close()
        await http_client.aclose()
    seconds = time.perf_counter() - started
    stats = await mock_json(port, "GET", "/stats")
    campaigns, metrics, synced = await counts(database)
    rate = len(account_ids) / seconds
    print(
        f"{label:<12} {len(account_ids):>6,} {seconds:>8.1f} {rate:>9.1f} {stats['calls']:>7,} "
        f"{stats['peak']:>5} {worker.jobs_complete:>6,} {worker.jobs_failed:>5} "
        f"{campaigns:>8,} {metrics:>8,} {synced:>7,}",
        flush=True,
    )
    return seconds, int(stats["peak"])


async def main(accounts: int, latency: float, keep: bool) -> int:
    port = free_port()
    mock = multiprocessing.get_context("spawn").Process(
        target=serve_mock, args=(port, latency), daemon=True
    )
    mock.start()
    await wait_for_mock(port, mock)
    await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    settings = Settings(
        database_url=DB_URL,
        redis_url=REDIS_URL,
        meta_api_url=f"http://127.0.0.1:{port}",
        meta_app_id="bench-app",
        meta_app_secret=SecretStr("bench-secret"),
        log_level="WARNING",
    )
    database = Database(settings)
    try:
        await schema.upgrade_async(DB_URL)
        account_ids = await seed(settings, accounts)
        limit = platform_limit(settings, "meta")
        print(
            f"metrics sync: {accounts:,} Meta accounts x {CAMPAIGNS} campaigns, "
            f"{settings.sync_lookback_days}-day look-back, mock latency {latency * 1000:.0f} ms "
            f"per call, one worker (max_jobs {WorkerSettings.max_jobs}), meta limit {limit}",
            flush=True,
        )
        print(
            f"{'round':<12} {'accts':>6} {'s':>8} {'accts/s':>9} {'calls':>7} {'peak':>5} "
            f"{'done':>6} {'fail':>5} {'campgns':>8} {'rows':>8} {'synced':>7}"
        )
        first, peak_first = await one_round("first sync", settings, database, account_ids, port)
        again, peak_again = await one_round("next tick", settings, database, account_ids, port)
        within = max(peak_first, peak_again) <= limit
        respected = "yes" if within else "NO"
        print(f"per-platform limit respected at the mock (peak <= {limit}): {respected}")
        per_cycle = int(accounts / max(first, again) * 15 * 60)
        verdict = "met" if max(first, again) <= TARGET_SECONDS else "MISSED"
        print(
            f"target: {accounts:,} accounts within {TARGET_SECONDS:.0f} s: {verdict} "
            f"(a 15-minute cycle fits ~{per_cycle:,} accounts per worker at this rate)"
        )
        return 0 if within else 1
    finally:
        await database.dispose()
        mock.terminate()
        if not keep:
            await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per mock call")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.accounts, args.latency, args.keep)))


if __name__ == "__main__":
    cli()
