""" "Sync now" from the connections page: an arq job when Redis is configured, else in-process.

With Redis the worker's own `sync_account` job runs it (slots, retries, dead letters). The
embedded mode has no worker queue: the sync runs as a background task of this process, and a
failure is written to the account so the page shows it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid

from arq import create_pool
from arq.connections import RedisSettings
from fastapi import FastAPI

from channels.turns import dump_job, load_job
from core.accounts import service as accounts
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.errors import CoreError, NotFound
from core.ports import PlatformRegistry
from worker.metrics_sync import JOB_NAME, SyncRun, run_sync

log = logging.getLogger(__name__)


class Requested(enum.StrEnum):
    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    RUNNING_HERE = "running_here"
    ALREADY_RUNNING = "already_running"


def manual_job_id(account_id: uuid.UUID) -> str:
    """One id per account and minute: a double click queues one job, not two."""
    return f"sync:{account_id}:now:{utcnow():%Y%m%dT%H%M}"


class SyncTrigger:
    """Starts one account's sync now; one per app (`for_app`)."""

    def __init__(self, settings: Settings, database: Database, registry: PlatformRegistry) -> None:
        self.settings = settings
        self.database = database
        self.registry = registry
        self.running: dict[uuid.UUID, asyncio.Task[None]] = {}

    @classmethod
    def for_app(cls, app: FastAPI) -> SyncTrigger:
        trigger = getattr(app.state, "connection_sync", None)
        if trigger is None:
            trigger = cls(app.state.settings, app.state.database, app.state.registry)
            app.state.connection_sync = trigger
        return trigger

    @property
    def queued(self) -> bool:
        return self.settings.redis_url is not None

    async def request(self, account_id: uuid.UUID) -> Requested:
        if self.settings.redis_url is not None:
            return await self._enqueue(self.settings.redis_url, account_id)
        if account_id in self.running:
            return Requested.ALREADY_RUNNING
        task = asyncio.create_task(self._run_here(account_id))
        self.running[account_id] = task
        task.add_done_callback(lambda _: self.running.pop(account_id, None))
        return Requested.RUNNING_HERE

    async def _enqueue(self, redis_url: str, account_id: uuid.UUID) -> Requested:
        redis_settings = RedisSettings.from_dsn(redis_url)
        # An admin waits on this click: fail within a second rather than arq's retries.
        redis_settings.conn_retries = 0
        redis_settings.conn_timeout = 1
        pool = await create_pool(redis_settings, job_serializer=dump_job, job_deserializer=load_job)
        try:
            job = await pool.enqueue_job(
                JOB_NAME, account_id=str(account_id), _job_id=manual_job_id(account_id)
            )
        finally:
            await pool.aclose()
        return Requested.QUEUED if job is not None else Requested.ALREADY_QUEUED

    async def _run_here(self, account_id: uuid.UUID) -> None:
        run = SyncRun(database=self.database, registry=self.registry, redis=None, slots=None)
        try:
            await run_sync(run, account_id, lookback_days=self.settings.sync_lookback_days)
        except NotFound:
            return  # disconnected or deleted meanwhile
        except Exception as exc:  # a background task: its failure is shown on the page
            message = exc.message if isinstance(exc, CoreError) else type(exc).__name__
            log.warning("sync now of %s failed: %s", account_id, type(exc).__name__)
            async with self.database.system() as session:
                await accounts.mark_failed(session=session, account_id=account_id, error=message)

    async def wait_idle(self) -> None:
        """Until no in-process sync runs (tests, shutdown)."""
        while self.running:
            await asyncio.gather(*list(self.running.values()), return_exceptions=True)
