"""Run the Alembic migrations programmatically (CLI, tests, embedded first start)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.config import Settings, get_settings
from core.db import binding_key_pads, create_engine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
    if make_url(database_url).get_backend_name() == "postgresql":
        asyncio.run(store_org_binding_key(database_url))


async def store_org_binding_key(database_url: str, settings: Settings | None = None) -> bool:
    """Store the org binding key of the current settings (PostgreSQL, schema at 0004 or later).

    Every `adpilot migrate` runs this, so a new ADPILOT_SECRET_KEY takes effect there; until
    then the app's signatures fail and tenant sessions see nothing (it fails closed).
    Returns whether the schema had the key table.
    """
    inner, outer = binding_key_pads((settings or get_settings()).org_binding_key())
    engine = create_engine(trust="owner", url=database_url)
    try:
        async with engine.begin() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('app_binding_key')"))
            if exists is None:
                return False
            await connection.execute(
                text(
                    "INSERT INTO app_binding_key (id, inner_pad, outer_pad) "
                    "VALUES (true, :inner, :outer) ON CONFLICT (id) DO UPDATE "
                    "SET inner_pad = excluded.inner_pad, outer_pad = excluded.outer_pad"
                ),
                {"inner": inner, "outer": outer},
            )
    finally:
        await engine.dispose()
    return True


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Alembic's env runs its own event loop, so it goes to a worker thread from async code."""
    await asyncio.to_thread(upgrade, database_url, revision)
