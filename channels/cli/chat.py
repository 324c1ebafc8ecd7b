"""CLI commands: `adpilot chat` (the console channel) and `adpilot demo` (seed, then chat).

Only typer at import: the session (database, bot, adapters) is imported when a command runs.
"""

from __future__ import annotations

import asyncio

import typer

from channels.cli.runtime import check_local_secrets, console, fail, load_settings

# channels/cli/demo_seed.DEMO_SLUG, repeated so `--help` need not import the seeding code.
DEMO_SLUG = "demo"


def chat(
    org: str = typer.Option(..., "--org", help="The organization's slug, e.g. demo."),
    user: str | None = typer.Option(
        None, "--user", help="Who is speaking (email); default: the org's first admin."
    ),
    command: str | None = typer.Option(
        None, "-c", "--command", help='Answer one command and exit, e.g. -c "report 7d".'
    ),
    schedule: bool = typer.Option(
        True,
        "--schedule/--no-schedule",
        help="Without Redis, run the rules and alerts in the background and print yours here.",
    ),
) -> None:
    """Chat with AdPilot in the terminal (or answer one command with -c).

    In the embedded mode (no Redis) the worker's jobs run beside the chat: rules are checked
    at once and every 5 minutes, and alerts and approval cards for you appear between turns.
    """
    from channels.cli.chat_session import open_chat, prepare_database

    settings = load_settings()
    check_local_secrets(settings)
    prepare_database(settings)
    raise typer.Exit(
        open_chat(settings, org_slug=org, email=user, command=command, schedule=schedule)
    )


def demo(
    org: str = typer.Option(DEMO_SLUG, "--org", help="Slug of the demo organization."),
    seed_only: bool = typer.Option(False, "--seed-only", help="Seed the demo data and exit."),
    schedule: bool = typer.Option(
        True,
        "--schedule/--no-schedule",
        help="Run the rules in the background and show their alerts in the chat.",
    ),
) -> None:
    """Create a demo org with sandbox accounts, campaigns, metrics and rules; then chat.

    The demo's rules run in the background of the chat (at once, then every 5 minutes): their
    alerts and approval cards appear in the terminal, as they would in Slack or Telegram.
    """
    from channels.cli import demo_seed
    from channels.cli.chat_session import open_chat, prepare_database
    from core.errors import CoreError

    settings = load_settings()
    check_local_secrets(settings)
    prepare_database(settings)
    try:
        asyncio.run(demo_seed.seed(settings, slug=org, progress=_progress))
    except CoreError as exc:
        fail(exc.message)
    if seed_only:
        console.print(f'[green]Demo data ready.[/] Try: adpilot chat --org {org} -c "report 7d"')
        console.print(
            f"[dim]`adpilot chat --org {org}` also runs the rules in the background and shows "
            "their alerts and approval cards as they fire.[/]"
        )
        return
    raise typer.Exit(open_chat(settings, org_slug=org, email=None, command=None, schedule=schedule))


def _progress(message: str) -> None:
    console.print(f"[dim]·[/] {message}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(chat)
    app.command()(demo)
