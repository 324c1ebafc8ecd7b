"""`adpilot serve`: the HTTP app (health, metrics, the chat channels as they arrive) on uvicorn."""

from __future__ import annotations

import os

import typer

from channels.cli.runtime import check_local_secrets, console, load_settings, run


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
    schedule: bool = typer.Option(
        True,
        "--schedule/--no-schedule",
        help="Without Redis, run the rules and alerts in this process "
        "(off when another process runs them; ADPILOT_EMBEDDED_SCHEDULE).",
    ),
) -> None:
    """Serve the HTTP app: /healthz, /readyz, /metrics and each configured channel's webhook.

    Without Redis the worker's jobs (rules, approval expiry, alert delivery) run in this
    process, one schedule per SQLite file; with Redis, `adpilot worker` runs them.
    """
    if not schedule:
        # uvicorn's worker processes build their own settings from the environment.
        os.environ["ADPILOT_EMBEDDED_SCHEDULE"] = "false"
    settings = load_settings()
    check_local_secrets(settings)
    from channels.cli.chat_session import prepare_database
    from core.db import Database
    from core.db_logins import check_logins

    prepare_database(settings)

    async def logins() -> None:
        database = Database(settings)
        try:
            await check_logins(database)
        finally:
            await database.dispose()

    run(logins)  # production refuses an unsafe database login before it listens
    import uvicorn

    console.print(f"AdPilot serving on http://{host}:{port} ({workers} worker(s))")
    # Our middleware writes the access line (scrubbed, no query strings); uvicorn's would not be.
    uvicorn.run(
        "web_min.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        proxy_headers=True,
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
