"""What every CLI command shares: settings, a Database, and errors printed as one friendly line.

The command modules import SQLAlchemy, settings and the rest of core inside their commands, not
at the top: `adpilot --help` (and typer's parsing of every call) then loads typer and rich only.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from core.errors import CoreError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.config import Settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def load_settings() -> Settings:
    from core.config import ConfigError, get_settings

    try:
        return get_settings()
    except ConfigError as exc:
        fail(str(exc), code=2)


def check_local_secrets(settings: Settings) -> None:
    """Refuse to start on an unsafe development key file (readable by others, foreign owner).

    Checked up front: found in the middle of a chat turn, it could only become a generic error.
    """
    from core.config import ConfigError
    from core.security import crypto

    try:
        crypto.key_list(settings)
    except ConfigError as exc:
        fail(str(exc), code=2)


@asynccontextmanager
async def owner_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One transaction as the schema owner (admin commands act across orgs), engine closed after."""
    from core.db import create_engine, session_factory

    engine = create_engine(settings, trust="owner")
    try:
        async with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def run(coroutine_fn: Callable[[], Coroutine[Any, Any, T] | Awaitable[T]]) -> T:
    """Run an async command body; domain errors become a red line and exit code 1."""
    from core.config import ConfigError

    try:
        return asyncio.run(coroutine_fn())  # type: ignore[arg-type]
    except CoreError as exc:
        fail(exc.message)
    except ConfigError as exc:
        fail(str(exc), code=2)
    except KeyboardInterrupt:
        sys.exit(130)
