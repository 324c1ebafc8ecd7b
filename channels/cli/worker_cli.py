"""`adpilot worker`: run the arq worker (chat turns now; sync, rules and alerts join it)."""

from __future__ import annotations

import typer

from channels.cli.runtime import console, fail, load_settings


def worker() -> None:
    """Run queued jobs from Redis until stopped (Ctrl-C or SIGTERM finishes running jobs)."""
    settings = load_settings()
    if not settings.redis_url:
        fail("The worker needs Redis: set ADPILOT_REDIS_URL (e.g. redis://localhost:6379/0).")
    from arq.worker import run_worker

    from core.logging_setup import configure_logging
    from worker.settings import WorkerSettings, quiet_job_arguments, redis_settings

    configure_logging(settings.log_level)
    quiet_job_arguments()
    console.print("AdPilot worker: waiting for jobs on Redis (Ctrl-C stops).")
    run_worker(WorkerSettings, redis_settings=redis_settings(settings), ctx={"settings": settings})  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    app.command()(worker)
