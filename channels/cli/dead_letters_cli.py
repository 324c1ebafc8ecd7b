"""`adpilot dead-letters list | show ID | retry ID | purge`: background jobs that gave up."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from channels.cli.runtime import console, fail, load_settings, owner_session, run

if TYPE_CHECKING:
    from core.events.models import DeadLetterJob

dead_letters_app = typer.Typer(help="Jobs that gave up after their retries: read, retry, purge.")


def _map_all_tables() -> None:
    # Every table mapped: writing a letter resolves its foreign key to organizations.
    import core.models  # noqa: F401


def _letter_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        fail(f"{value!r} is not a dead letter id (a UUID; see `adpilot dead-letters list`).")


def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def list_letters(
    include_resolved: bool = typer.Option(False, "--all", help="Include retried ones."),
) -> None:
    """The newest dead letters first (retried ones with --all)."""
    from core.events import dead_letters

    _map_all_tables()
    settings = load_settings()

    async def body() -> list[DeadLetterJob]:
        async with owner_session(settings) as session:
            return await dead_letters.list_letters(
                session=session, include_resolved=include_resolved
            )

    found = run(body)
    if not found:
        console.print("No dead letters.")
        return
    table = Table(title="Dead letters")
    for column in ("id", "job", "when (UTC)", "tries", "error", "retried"):
        table.add_column(column, overflow="fold")
    for letter in found:
        retried = f"{letter.resolved_at:%Y-%m-%d %H:%M}" if letter.resolved_at else ""
        table.add_row(
            str(letter.id),
            letter.job_name,
            f"{letter.created_at:%Y-%m-%d %H:%M}",
            str(letter.attempts),
            _first_line(letter.error),
            retried,
        )
    console.print(table)


def show(letter: str = typer.Argument(..., help="The dead letter's id.")) -> None:
    """Everything kept of one dead letter: job, arguments, attempts and the full error."""
    from core.events import dead_letters

    _map_all_tables()
    settings = load_settings()
    letter_id = _letter_id(letter)

    async def body() -> DeadLetterJob:
        async with owner_session(settings) as session:
            return await dead_letters.get(session=session, letter_id=letter_id)

    found = run(body)
    console.print(f"[bold]{found.job_name}[/] · dead letter {found.id}")
    console.print(
        f"failed at {found.created_at:%Y-%m-%d %H:%M:%S} UTC after {found.attempts} tries"
    )
    if found.org_id is not None:
        console.print(f"org: {found.org_id}")
    if found.resolved_at is not None:
        console.print(f"retried at {found.resolved_at:%Y-%m-%d %H:%M:%S} UTC")
    console.print("arguments:")
    console.print_json(json.dumps(found.arguments))
    console.print("error:")
    console.print(found.error, markup=False, highlight=False)


def retry(letter: str = typer.Argument(..., help="The dead letter's id.")) -> None:
    """Queue the job again with its stored arguments (once per letter)."""
    from arq.connections import RedisSettings, create_pool

    from channels.turns import dump_job, load_job
    from core.events import dead_letters

    _map_all_tables()
    settings = load_settings()
    if not settings.redis_url:
        fail("Retrying needs the worker's Redis: set ADPILOT_REDIS_URL.")
    redis_url = settings.redis_url
    letter_id = _letter_id(letter)

    async def body() -> str:
        redis = await create_pool(
            RedisSettings.from_dsn(redis_url), job_serializer=dump_job, job_deserializer=load_job
        )
        try:
            # Claimed and enqueued in one transaction: a failed enqueue leaves it unclaimed.
            async with owner_session(settings) as session:
                found = await dead_letters.mark_retried(session=session, letter_id=letter_id)
                await redis.enqueue_job(
                    found.job_name, _job_id=f"retry:{found.id}", **found.arguments
                )
                return found.job_name
        finally:
            await redis.aclose()

    job_name = run(body)
    console.print(f"Queued {job_name} again; `adpilot worker` runs it.")


def purge(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete every dead letter (they also expire by themselves after 7 days)."""
    from core.events import dead_letters

    _map_all_tables()
    settings = load_settings()
    if not yes and not typer.confirm("Delete every dead letter?"):
        raise typer.Exit(1)

    async def body() -> int:
        async with owner_session(settings) as session:
            return await dead_letters.purge(session=session)

    console.print(f"Deleted {run(body)} dead letter(s).")


dead_letters_app.command("list")(list_letters)
dead_letters_app.command()(show)
dead_letters_app.command()(retry)
dead_letters_app.command()(purge)


def register(app: typer.Typer) -> None:
    app.add_typer(dead_letters_app, name="dead-letters")
