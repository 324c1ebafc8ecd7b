"""Migrations round-trip and the tables exist on both backends."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from core import schema
from core.models import Base
from tests.conftest import create_pg_database, drop_pg_database


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


def _round_trip(url: str) -> None:
    expected = set(Base.metadata.tables)
    schema.upgrade(url)
    assert expected <= asyncio.run(_tables(url))
    schema.downgrade(url, "base")
    assert asyncio.run(_tables(url)) <= {"alembic_version"}
    schema.upgrade(url)
    assert expected <= asyncio.run(_tables(url))


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'rt.db'}")


@pytest.mark.postgres
def test_migrations_round_trip_on_postgres(pg_url: str) -> None:
    name = f"adpilot_rt_{os.getpid()}"
    url = create_pg_database(name)
    try:
        _round_trip(url)
    finally:
        drop_pg_database(name)
