"""The console chat session: the composition root behind `adpilot chat` and `adpilot demo`.

Imported by those commands when they run, not by `adpilot --help`: it loads SQLAlchemy, the
migrations, the ad adapters and the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.file_stores import build_file_store
from bot.engine import Bot, TurnContext
from bot.replies import Reply
from channels.base import ChannelAddress
from channels.cli import demo_seed
from channels.cli.runtime import console, fail
from channels.cli.schema_state import sqlite_at_head
from channels.console import ConsoleChannel, answer_once, converse
from core.config import ConfigError, Settings
from core.db import Database
from core.db_logins import check_logins
from core.errors import CoreError
from core.orgs import service as orgs
from core.users import service as users

if TYPE_CHECKING:
    from channels.cli.chat_schedule import BackgroundSchedule

T = TypeVar("T")

CONSOLE_WORKSPACE = "local"


@dataclass(frozen=True)
class Speaker:
    """Who is talking on the console, resolved once at start."""

    org_id: uuid.UUID
    org_name: str
    user_id: uuid.UUID
    email: str


class ConsoleTurns:
    """The bot bound to one console conversation (the channel's Turns)."""

    def __init__(self, bot: Bot, context: TurnContext) -> None:
        self.bot = bot
        self.context = context

    async def text(self, text: str) -> Reply:
        return await self.bot.handle_text(self.context, text)

    async def decide(self, action_ref: str, approve: bool) -> Reply:
        return await self.bot.handle_decision(self.context, action_ref, approve)


def console_address(email: str) -> ChannelAddress:
    """The console's identity for a user: one conversation per email on this machine."""
    return ChannelAddress(
        channel="console", workspace=CONSOLE_WORKSPACE, conversation_id=f"console:{email}"
    )


def prepare_database(settings: Settings) -> None:
    """The embedded SQLite default needs no setup step: migrate it on first use (a no-op after)."""
    if not settings.is_sqlite or sqlite_at_head(settings.database_url):
        return
    from core import schema  # alembic: loaded only when there is something to migrate

    try:
        schema.upgrade(settings.database_url)
    except Exception as exc:
        fail(f"could not prepare the embedded database: {exc}")


async def resolve_speaker(database: Database, *, org_slug: str, email: str | None) -> Speaker:
    """The org by slug and the speaking user (default: the org's first admin)."""
    async with database.system() as session:
        org = await orgs.get_by_slug(session=session, slug=org_slug)
        if email is None:
            user = await users.first_admin(session=session, org_id=org.id)
        else:
            user = await users.get_by_email(session=session, org_id=org.id, email=email)
        if not user.is_active:
            raise CoreError(f"{user.email} is deactivated.")
        return Speaker(org_id=org.id, org_name=org.name, user_id=user.id, email=user.email)


class ChatApp:
    """The console composition root: one event loop, one Database, one Bot for the session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = asyncio.Runner()
        self.database = Database(settings)
        registry = demo_seed.embedded_registry(settings, self.database)
        self.bot = Bot(
            database=self.database,
            registry=registry,
            settings=settings,
            file_store=build_file_store(settings),
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def turns_for(self, speaker: Speaker) -> ConsoleTurns:
        address = console_address(speaker.email)
        context = TurnContext(
            org_id=speaker.org_id,
            user_id=speaker.user_id,
            channel=address.channel,
            workspace=address.workspace,
            conversation_id=address.conversation_id,
        )
        return ConsoleTurns(self.bot, context)

    def close(self) -> None:
        try:
            self.runner.run(self.database.dispose())
        finally:
            self.runner.close()


def open_chat(
    settings: Settings,
    *,
    org_slug: str,
    email: str | None,
    command: str | None,
    schedule: bool = True,
) -> int:
    """Run the REPL, or answer one command; the exit code is 1 when that answer is an error."""
    app = ChatApp(settings)
    try:
        try:
            # Production refuses to start on an unsafe database login or a broken org binding.
            app.run(check_logins(app.database))
            speaker = app.run(resolve_speaker(app.database, org_slug=org_slug, email=email))
        except CoreError as exc:
            fail(exc.message)
        except ConfigError as exc:
            fail(str(exc), code=2)
        turns = app.turns_for(speaker)
        if command is not None:
            channel = ConsoleChannel(console, interactive=False)
            return 1 if answer_once(channel, turns, app.run, command).is_error else 0
        channel = ConsoleChannel(console, interactive=True)
        _enable_line_editing()
        console.print(
            f"[bold]AdPilot[/] · {speaker.org_name} · you are {speaker.email}. "
            "Type [bold cyan]help[/], or [bold cyan]exit[/] to leave."
        )
        background = _start_schedule(settings, channel, speaker) if schedule else None
        try:
            converse(channel, turns, app.run)
        finally:
            if background is not None:
                background.stop()
        return 0
    finally:
        app.close()


def _start_schedule(
    settings: Settings, channel: ConsoleChannel, speaker: Speaker
) -> BackgroundSchedule | None:
    """Embedded mode: the worker's jobs run beside the chat, and alerts for you print here."""
    if settings.redis_url is not None:
        return None  # `adpilot worker` runs the jobs; its alerts go to your chat destinations
    # Imported here: the worker's modules cost a one-shot `chat -c` a tenth of a second.
    from channels.cli.chat_schedule import BackgroundSchedule
    from channels.console_alerts import ConsoleAlerts

    alerts = ConsoleAlerts(channel, console_address(speaker.email).conversation_id)
    schedule = BackgroundSchedule(settings, alerts)
    if not schedule.start():
        console.print(
            "[dim]Another AdPilot process (adpilot serve?) runs this database's schedule: "
            "alerts go where it sends them.[/]"
        )
        return None
    console.print(
        "[dim]Rules run in the background (now, then every 5 min): their alerts and approval "
        "cards for you appear here between your messages.[/]"
    )
    return schedule


def _enable_line_editing() -> None:
    # Importing readline gives input() history and editing; Windows has none, input() still works.
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401
