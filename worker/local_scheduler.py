"""The embedded mode's scheduler: the worker's cron jobs, run in this process on their schedule.

With no Redis there is no arq worker, so `adpilot serve` starts this instead: the same job
functions (the approvals sweep, rule evaluation, housekeeping) on the same UTC schedule, in one
process with one scheduler. A job that fails or overruns its timeout is logged and runs again at
its next time; it never stops the scheduler or the web app.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arq.cron import CronJob

log = logging.getLogger(__name__)

# Woken at least this often, so a clock jump (a suspended laptop) is noticed soon.
MAX_SLEEP_SECONDS = 60.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LocalScheduler:
    def __init__(self, jobs: Sequence[CronJob], ctx: dict[str, Any]) -> None:
        # Own copies: the arq worker keeps its next-run times on the CronJob objects.
        self.jobs = [copy.copy(job) for job in jobs]
        for job in self.jobs:
            job.next_run = None
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="adpilot-local-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_due(self, now: datetime) -> list[str]:
        """Run every job whose time has come, then set its next time; the names that ran."""
        ran: list[str] = []
        for job in self.jobs:
            if job.next_run is None:
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
