"""The worker's schedule beside a console conversation (embedded mode, no Redis).

The REPL blocks in `input()` between turns, so the schedule runs on a thread of its own with
its own event loop and Database (an engine belongs to the loop that made it). It is the same
LocalScheduler `adpilot serve` runs, claimed with the same lock: one schedule per database.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import AsyncExitStack
from typing import Any

from channels.cli import demo_seed
from channels.console_alerts import ConsoleAlerts
from core.config import Settings
from core.db import Database
from worker.chat_channels import notification_channels
from worker.local_scheduler import LocalScheduler, ScheduleLock, claim_schedule
from worker.settings import WorkerSettings

# Rules are evaluated as the session opens: a demo shows what they find without a 5-min wait.
RUN_FIRST = ("evaluate_rules",)
STOP_TIMEOUT_SECONDS = 10.0


class BackgroundSchedule:
    """Start with `start()` (False: another process runs this database's schedule); `stop()`."""

    def __init__(self, settings: Settings, alerts: ConsoleAlerts) -> None:
        self.settings = settings
        self.alerts = alerts
        self._lock: ScheduleLock | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> bool:
        self._lock = claim_schedule(self.settings.database_url)
        if self._lock is None:
            return False
        # A daemon: an interpreter exiting on an error never waits on the schedule.
        self._thread = threading.Thread(target=self._run, name="adpilot-schedule", daemon=True)
        self._thread.start()
        self._ready.wait(STOP_TIMEOUT_SECONDS)
        return True

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self._thread = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        database = Database(self.settings)
        try:
            async with AsyncExitStack() as clients:
                ctx: dict[str, Any] = {
                    "settings": self.settings,
                    "database": database,
                    "registry": demo_seed.embedded_registry(self.settings, database),
                    "channels": {
                        **notification_channels(self.settings, clients),
                        "console": self.alerts,
                    },
                }
                scheduler = LocalScheduler(WorkerSettings.cron_jobs, ctx, run_first=RUN_FIRST)
                scheduler.start()
                self._ready.set()
                await self._stop.wait()
                await scheduler.stop()
        finally:
            self._ready.set()
            await database.dispose()
