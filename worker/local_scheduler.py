"""The embedded mode's scheduler: the worker's cron jobs, run in this process on their schedule.

With no Redis there is no arq worker, so `adpilot serve` starts this instead: the same job
functions (the approvals sweep, rule evaluation, housekeeping) on the same UTC schedule, in one
process with one scheduler. A job that fails or overruns its timeout is logged and runs again at
its next time; it never stops the scheduler or the web app.

`adpilot chat` runs one too, so a console session sees its org's alerts. Two processes on one
SQLite file (a `serve` and a `chat`) would run each tick twice, so the schedule is claimed with
an exclusive lock on a file beside the database: the first process runs it, later ones don't.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from arq.cron import CronJob

from core.security.local_files import sqlite_path

log = logging.getLogger(__name__)

# Woken at least this often, so a clock jump (a suspended laptop) is noticed soon.
MAX_SLEEP_SECONDS = 60.0
# How long a shutdown waits for a cancelled job to unwind before leaving it behind.
STOP_GRACE_SECONDS = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LocalScheduler:
    def __init__(
        self, jobs: Sequence[CronJob], ctx: dict[str, Any], *, run_first: Iterable[str] = ()
    ) -> None:
        # Own copies: the arq worker keeps its next-run times on the CronJob objects.
        self.jobs = [copy.copy(job) for job in jobs]
        for job in self.jobs:
            job.next_run = None
        # Jobs run at the first tick instead of their first time (the console runs the rules at
        # once, so a demo shows its alerts without waiting for the next five-minute mark).
        self.run_first = {f"cron:{name}" for name in run_first} | set(run_first)
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="adpilot-local-scheduler")

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Cancel the schedule and wait up to `grace` seconds for the running job to unwind.

        A job stuck past its cancellation (a driver call that never returns) must not hold the
        process's shutdown hostage: it is logged and left behind.
        """
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=grace)
        if not done:
            log.error("a scheduled job did not stop within %.0f s of shutdown; leaving it", grace)
            return
        with contextlib.suppress(asyncio.CancelledError):
            task.result()

    async def run_due(self, now: datetime) -> list[str]:
        """Run every job whose time has come, then set its next time; the names that ran."""
        ran: list[str] = []
        for job in self.jobs:
            if job.next_run is None:
                if job.name in self.run_first:
                    job.next_run = now
                else:
                    job.calculate_next(now)
            assert job.next_run is not None
            if job.next_run > now:
                continue
            ran.append(job.name)
            try:
                await asyncio.wait_for(job.coroutine(self.ctx), timeout=job.timeout_s)
            except Exception:
                log.exception("scheduled job %s failed; it runs again at its next time", job.name)
            job.calculate_next(now)
        return ran

    def seconds_to_next(self, now: datetime) -> float:
        upcoming = [job.next_run for job in self.jobs if job.next_run is not None]
        if not upcoming:
            return MAX_SLEEP_SECONDS
        return min(max((min(upcoming) - now).total_seconds(), 0.05), MAX_SLEEP_SECONDS)

    async def _loop(self) -> None:
        while True:
            await self.run_due(_utc_now())
            await asyncio.sleep(self.seconds_to_next(_utc_now()))


class ScheduleLock:
    """The claim on an embedded database's schedule, held until `release` or process exit."""

    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor drops the flock
            self._handle = None


def claim_schedule(database_url: str) -> ScheduleLock | None:
    """The schedule of this SQLite database, or None when another process runs it.

    Only a SQLite file is shared this way; any other database is always claimed (a server
    database without Redis is a development setup: one `serve` per database is assumed).
    """
    database = sqlite_path(database_url)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one process per database is assumed
        return ScheduleLock(None)
    if database is None:
        return ScheduleLock(None)
    lock_path = Path(f"{database}.schedule.lock")
    handle = lock_path.open("a", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    os.set_inheritable(handle.fileno(), False)
    return ScheduleLock(handle)
