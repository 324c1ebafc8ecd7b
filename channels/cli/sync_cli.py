"""`adpilot sync --account ID [--backfill 90d]`: one account's metrics sync, by hand."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import typer

from channels.cli.runtime import console, fail, load_settings, run

if TYPE_CHECKING:
    from core.accounts.service import AccountRef
    from worker.metrics_sync import SyncOutcome

MAX_BACKFILL_DAYS = 730
_DAYS = re.compile(r"^\s*(\d{1,4})\s*d\s*$", re.IGNORECASE)


def parse_days(value: str) -> int:
    """'90d' -> 90; anything else is refused with the accepted form."""
    match = _DAYS.match(value)
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_BACKFILL_DAYS:
        fail(
            f"Bad duration {value!r}: give a number of days like 90d (1d to {MAX_BACKFILL_DAYS}d)."
        )
    return days


def parse_account_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        fail(f"{value!r} is not an ad account id (a UUID like 3f2b9c1e-...).")


def sync(
    account: str = typer.Option(..., "--account", help="The ad account's id."),
    backfill: str | None = typer.Option(
        None, "--backfill", help="Re-read this many past days, e.g. 90d (default: the look-back)."
    ),
) -> None:
    """Sync one ad account's campaigns and daily metrics now, with a progress bar over days."""
    settings = load_settings()
    account_id = parse_account_id(account)
    days = parse_days(backfill) if backfill is not None else settings.sync_lookback_days

    async def body() -> tuple[AccountRef, SyncOutcome]:
        from redis.asyncio import Redis
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        # Every table mapped: flushing a campaign resolves its foreign keys across them.
        import core.models  # noqa: F401
        from adapters.registry import build_registry
        from core.accounts import service as accounts
        from core.accounts.service import AccountRef
        from core.accounts.sync import lookback
        from core.db import Database
        from worker.metrics_sync import SyncRun, run_sync
        from worker.platform_slots import PlatformSlots

        database = Database(settings)
        # With Redis configured the workers' limiter and refresh lock apply to this run too.
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        try:
            async with database.system() as session:
                found = AccountRef.of(await accounts.get(session=session, account_id=account_id))
            registry = build_registry(
                settings, database, simulate_unconfigured=not settings.is_production
            )
            slots = PlatformSlots(redis, settings) if redis is not None else None
            sync_run = SyncRun(database=database, registry=registry, redis=redis, slots=slots)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console, transient=False) as progress:
                task = progress.add_task(f"{found.platform} · {found.name} (days)", total=days)
                outcome = await run_sync(
                    sync_run,
                    account_id,
                    window=lookback(found.timezone, days),
                    on_days=lambda done: progress.advance(task, done),
                )
            return found, outcome
        finally:
            if redis is not None:
                await redis.aclose()
            await database.dispose()

    found, outcome = run(body)
    if outcome.result is None:
        fail(
            f"{found.platform} refused the token of {found.name!r} and it could not be renewed; "
            "the account is marked auth_error and its admins were told. Reconnect it."
        )
    result = outcome.result
    console.print(
        f"Synced {found.name}: {result.campaigns} campaign(s), {result.days} day(s), "
        f"{result.rows_received} metric row(s) ({result.rows_written} new or changed)."
    )


def register(app: typer.Typer) -> None:
    app.command()(sync)
