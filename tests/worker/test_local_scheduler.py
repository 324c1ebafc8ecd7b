"""The embedded scheduler: the worker's cron jobs in-process, on their times, past failures."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import cron
from fastapi import FastAPI

from core.config import Settings
from web_min.app import create_app
from worker.local_scheduler import LocalScheduler, claim_schedule
from worker.settings import WorkerSettings

T0 = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)


async def test_jobs_run_at_their_time_once_and_a_failure_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def every_minute(ctx: dict[str, Any]) -> None:
        calls.append(f"minute:{ctx['tag']}")

    async def broken(ctx: dict[str, Any]) -> None:
        raise RuntimeError("platform down")

    scheduler = LocalScheduler(
        [cron(every_minute, name="every_minute", second=0), cron(broken, name="broken", second=0)],
        {"tag": "embedded"},
    )
    assert await scheduler.run_due(T0) == []  # the first tick is 12:01:00
    # arq's cron fires at .123456 past the second it names.
    assert scheduler.seconds_to_next(T0) == pytest.approx(50.123456)
    with caplog.at_level(logging.ERROR, logger="worker.local_scheduler"):
        ran = await scheduler.run_due(T0 + timedelta(seconds=51))
    assert ran == ["every_minute", "broken"]
    assert calls == ["minute:embedded"]
    assert "scheduled job broken failed" in caplog.text
    # Each ran once for 12:01; nothing more until 12:02.
    assert await scheduler.run_due(T0 + timedelta(seconds=55)) == []
    assert len(await scheduler.run_due(T0 + timedelta(seconds=111))) == 2


def test_the_embedded_scheduler_keeps_its_own_copies_of_the_worker_jobs() -> None:
    scheduler = LocalScheduler(WorkerSettings.cron_jobs, {})
    names = {job.name for job in scheduler.jobs}
    assert {"cron:expire_approvals", "cron:evaluate_rules", "cron:prune_delivery_ids"} <= names
    assert all(a is not b for a, b in zip(scheduler.jobs, WorkerSettings.cron_jobs, strict=True))


async def test_serve_without_redis_starts_the_scheduler_and_stops_it(settings: Settings) -> None:
    app: FastAPI = create_app(
        settings.model_copy(update={"redis_url": None, "embedded_schedule": True})
    )
    async with app.router.lifespan_context(app):
        running = [t.get_name() for t in asyncio.all_tasks()]
        assert "adpilot-local-scheduler" in running
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == "adpilot-local-scheduler"]
    assert tasks == []


async def test_serve_told_another_process_runs_the_jobs_starts_no_scheduler(
    settings: Settings,
) -> None:
    app: FastAPI = create_app(
        settings.model_copy(update={"redis_url": None, "embedded_schedule": False})
    )
    async with app.router.lifespan_context(app):
        running = [t.get_name() for t in asyncio.all_tasks()]
        assert "adpilot-local-scheduler" not in running
    # Nothing claimed the database's schedule either: another process may take it.
    lock = claim_schedule(settings.database_url)
    assert lock is not None
    lock.release()


async def test_a_job_that_ignores_its_cancellation_does_not_hold_up_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn(ctx: dict[str, Any]) -> None:
        # A driver call that swallows the cancellation and keeps waiting.
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    job = cron(stubborn, name="cron:stubborn", second=set(range(60)))
    scheduler = LocalScheduler([job], {}, run_first=("stubborn",))
    scheduler.start()
    await asyncio.sleep(0.05)  # the first tick runs it
    with caplog.at_level(logging.ERROR, logger="worker.local_scheduler"):
        await asyncio.wait_for(scheduler.stop(grace=0.2), timeout=5)
    assert "did not stop within 0 s of shutdown" in caplog.text
    # Let the stray job end with the test, so no later test sees its task.
    [stray] = [t for t in asyncio.all_tasks() if t.get_name() == "adpilot-local-scheduler"]
    release.set()
    for _ in range(100):  # the cancellation was swallowed with the job's: cancel until it ends
        if stray.done():
            break
        stray.cancel()
        await asyncio.sleep(0.05)
    assert stray.done()


async def test_a_job_named_to_run_first_runs_at_the_first_tick_then_on_its_schedule() -> None:
    calls: list[datetime] = []

    async def rules(ctx: dict[str, Any]) -> None:
        calls.append(ctx["now"])

    job = cron(rules, name="cron:evaluate_rules", minute={5, 10}, second=30)
    scheduler = LocalScheduler([job], {"now": T0}, run_first=("evaluate_rules",))
    assert await scheduler.run_due(T0) == ["cron:evaluate_rules"]
    # Then its own times: nothing until 12:05:30.
    assert await scheduler.run_due(T0 + timedelta(minutes=4)) == []
    assert await scheduler.run_due(T0 + timedelta(minutes=5, seconds=21)) == ["cron:evaluate_rules"]
    plain = LocalScheduler([job], {"now": T0})
    assert await plain.run_due(T0) == []


def test_one_sqlite_database_has_one_schedule_until_its_holder_lets_go(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'adpilot.db'}"
    first = claim_schedule(url)
    assert first is not None
    assert claim_schedule(url) is None
    other = claim_schedule(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    assert other is not None
    first.release()
    again = claim_schedule(url)
    assert again is not None
    again.release()
    other.release()


async def test_serve_leaves_the_schedule_to_the_process_that_holds_it(
    settings: Settings, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'adpilot.db'}"
    held = claim_schedule(url)
    assert held is not None
    try:
        app: FastAPI = create_app(
            settings.model_copy(
                update={"redis_url": None, "database_url": url, "embedded_schedule": True}
            )
        )
        async with app.router.lifespan_context(app):
            running = [t.get_name() for t in asyncio.all_tasks()]
            assert "adpilot-local-scheduler" not in running
    finally:
        held.release()
