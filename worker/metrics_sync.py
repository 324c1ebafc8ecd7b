"""Metrics sync: every 15 minutes a cron fans out one `sync_account` job per connected account.

A job syncs one account's campaigns and last days of metrics inside one of its platform's
slots (worker/platform_slots.py). The platform's errors become arq control flow here, and only
here: a rate limit defers the job by the platform's own wait, a refused token is renewed
once and otherwise flags the account and tells its admins once, anything else is retried with
backoff and finally dead-lettered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from arq import Retry

from core.accounts import service as accounts
from core.accounts.service import AccountRef
from core.accounts.sync import DaysDone, SyncResult, lookback, sync_account
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.errors import AuthExpired, NotFound, PlatformError, PlatformUnavailable, RateLimited
from core.events import dead_letters
from core.ports import PlatformRegistry
from worker.platform_slots import PlatformSlots
from worker.token_refresh import Outcome, close_adapter, refresh_account, report_auth_error

log = logging.getLogger(__name__)

JOB_NAME = "sync_account"
MAX_TRIES = 5
# Two platform calls per chunk with the adapters' own retries, and a long backfill.
JOB_TIMEOUT_SECONDS = 600
CYCLE_MINUTES = 15
# A platform that says "slow down" without saying for how long.
DEFAULT_RATE_LIMIT_WAIT = 60.0
MAX_BACKOFF_SECONDS = 3600.0
# Another worker is renewing this account's token right now: its new token soon exists.
TOKEN_BUSY_WAIT = 15.0


def sync_job_id(account_id: uuid.UUID | str, tick: datetime) -> str:
    """One id per account and 15-minute tick: arq refuses a second job with a live id."""
    slot = tick.replace(minute=tick.minute - tick.minute % CYCLE_MINUTES, second=0, microsecond=0)
    return f"sync:{account_id}:{slot:%Y%m%dT%H%M}"


async def enqueue_syncs(ctx: dict[str, Any]) -> int:
    """Cron, every 15 minutes: one job per connected account; returns how many were new."""
    database: Database = ctx["database"]
    async with database.system() as session:
        found = await accounts.syncable(session=session)
    settings: Settings = ctx["settings"]
    if ctx.get("redis") is None:
        return await _sync_in_process(ctx, [account_id for account_id, _ in found])
    tick = utcnow()
    # Spread over the cycle: the queue is shared with chat turns, which must not wait behind a
    # whole cycle's worth of due syncs.
    step = settings.sync_spread_seconds / max(len(found), 1)
    enqueued = 0
    for index, (account_id, _platform) in enumerate(found):
        job = await ctx["redis"].enqueue_job(
            JOB_NAME,
            account_id=str(account_id),
            _job_id=sync_job_id(account_id, tick),
            _defer_by=timedelta(seconds=index * step),
        )
        enqueued += job is not None
    log.info("metrics sync: %d account job(s) enqueued of %d", enqueued, len(found))
    return enqueued


async def _sync_in_process(ctx: dict[str, Any], account_ids: list[uuid.UUID]) -> int:
    """The embedded mode (no Redis, one process): each account in turn, right here."""
    run = SyncRun(database=ctx["database"], registry=ctx["registry"], redis=None, slots=None)
    synced = 0
    for account_id in account_ids:
        try:
            outcome = await run_sync(
                run, account_id, lookback_days=ctx["settings"].sync_lookback_days
            )
        except Exception as exc:  # one account's failure never stops the others
            log.warning("metrics sync of %s failed: %s", account_id, type(exc).__name__)
            continue
        synced += outcome.status == "synced"
    log.info("metrics sync (in-process): %d of %d account(s) synced", synced, len(account_ids))
    return synced


@dataclass(frozen=True)
class SyncRun:
    """What one sync needs besides the account: injected by the worker or the CLI."""

    database: Database
    registry: PlatformRegistry
    # None in `adpilot sync` without Redis: no limiter and no refresh lock (one process).
    redis: Any | None
    slots: PlatformSlots | None


@dataclass(frozen=True)
class SyncOutcome:
    status: str  # "synced" or "auth_error"
    result: SyncResult | None = None


async def run_sync(
    run: SyncRun,
    account_id: uuid.UUID,
    *,
    window: tuple[date, date] | None = None,
    lookback_days: int = 3,
    on_days: DaysDone | None = None,
) -> SyncOutcome:
    """Sync one account; a refused token is renewed once, then flags the account.

    RateLimited and other platform errors go up for the caller to map (defer, retry).
    """
    async with run.database.system() as session:
        stored = await accounts.get(session=session, account_id=account_id)
        account = AccountRef.of(stored)
        unreadable: AuthExpired | None = None
        try:
            access_token = accounts.tokens_of(stored).access_token
        except AuthExpired as exc:
            access_token, unreadable = "", exc
    if unreadable is not None:
        await report_auth_error(database=run.database, account=account, error=unreadable.message)
        return SyncOutcome("auth_error")
    first, last = window or lookback(account.timezone, lookback_days)
    platform = run.registry.get(account.platform)

    async def attempt(access_token: str) -> SyncResult:
        return await sync_account(
            database=run.database,
            platform=platform,
            account=account,
            access_token=access_token,
            first=first,
            last=last,
            on_days=on_days,
        )

    try:
        if run.slots is None:
            result = await _with_refresh(run, account, access_token, attempt)
        else:
            async with run.slots.hold(account.platform):
                result = await _with_refresh(run, account, access_token, attempt)
    finally:
        await close_adapter(platform)
    if result is None:
        return SyncOutcome("auth_error")
    async with run.database.system() as session:
        await accounts.mark_synced(session=session, account_id=account.id)
    return SyncOutcome("synced", result)


async def _with_refresh(
    run: SyncRun,
    account: AccountRef,
    access_token: str,
    attempt: Callable[[str], Awaitable[SyncResult]],
) -> SyncResult | None:
    """`attempt` with the stored token; on AuthExpired renew once and try again."""
    try:
        return await attempt(access_token)
    except AuthExpired as refused:
        first_error = refused
    try:
        renewed = await refresh_account(
            database=run.database,
            registry=run.registry,
            redis=run.redis,
            account_id=account.id,
            refused_token=access_token,
        )
        if renewed.outcome is Outcome.BUSY or renewed.access_token is None:
            raise PlatformUnavailable(
                "The token is being renewed by another worker.", retry_after=TOKEN_BUSY_WAIT
            ) from first_error
        return await attempt(renewed.access_token)
    except AuthExpired as exc:
        await report_auth_error(database=run.database, account=account, error=exc.message)
        return None


def backoff(settings: Settings, tries: int) -> float:
    return float(min(settings.sync_retry_backoff_seconds * 2 ** (tries - 1), MAX_BACKOFF_SECONDS))


async def sync_account_job(ctx: dict[str, Any], account_id: str) -> str:
    """The arq job: one account's sync, its failures mapped to Retry or a dead letter."""
    settings: Settings = ctx["settings"]
    tries = int(ctx.get("job_try", 1))
    run = SyncRun(
        database=ctx["database"],
        registry=ctx["registry"],
        redis=ctx["redis"],
        slots=PlatformSlots(ctx["redis"], settings, ttl_seconds=JOB_TIMEOUT_SECONDS + 60),
    )
    try:
        parsed = uuid.UUID(account_id)
    except ValueError as exc:
        return await _give_up(ctx, account_id, exc, tries)
    try:
        outcome = await run_sync(run, parsed, lookback_days=settings.sync_lookback_days)
    except RateLimited as exc:
        if tries < MAX_TRIES:
            raise Retry(defer=exc.retry_after or DEFAULT_RATE_LIMIT_WAIT) from exc
        return await _give_up(ctx, account_id, exc, tries)
    except NotFound as exc:
        # The account was deleted (or its platform dropped) since the job was queued.
        log.info("metrics sync of %s skipped: %s", account_id, exc.message)
        return "gone"
    except Exception as exc:
        # A platform's permanent refusal (bad request, changed shape) repeats on every try.
        permanent = isinstance(exc, PlatformError) and not exc.retryable
        if not permanent and tries < MAX_TRIES:
            wait = getattr(exc, "retry_after", None) or backoff(settings, tries)
            raise Retry(defer=wait) from exc
        return await _give_up(ctx, account_id, exc, tries)
    return outcome.status


async def _give_up(ctx: dict[str, Any], account_id: str, exc: Exception, tries: int) -> str:
    database: Database = ctx["database"]
    message = exc.message if isinstance(exc, PlatformError) else f"{type(exc).__name__}: {exc}"
    async with database.system() as session:
        try:
            account = await accounts.get(session=session, account_id=uuid.UUID(account_id))
        except (NotFound, ValueError):
            account = None
        await dead_letters.record(
            session=session,
            job_name=JOB_NAME,
            arguments={"account_id": account_id},
            error=message,
            attempts=tries,
            org_id=account.org_id if account is not None else None,
        )
        if account is not None:
            await accounts.mark_failed(session=session, account_id=account.id, error=message)
    log.warning("metrics sync of %s dead-lettered after %d tries", account_id, tries)
    return "dead_letter"
