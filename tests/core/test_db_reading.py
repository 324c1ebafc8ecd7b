"""`Database.reading`: the page views' read-only unit of work."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from core.config import Settings
from core.db import Database
from core.orgs.models import Organization
from tests import factories


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_a_read_goes_on_while_a_writer_holds_the_lock(
    database: Database, settings: Settings
) -> None:
    async with database.system() as session:
        org = await factories.org(session)
    async with database.system() as writer:
        # The writer's BEGIN IMMEDIATE holds SQLite's write lock until it commits.
        await writer.execute(update(Organization).values(name="Renamed"))
        async with database.reading() as reader:
            name = await asyncio.wait_for(
                reader.scalar(select(Organization.name).where(Organization.id == org.id)),
                timeout=5,
            )
        assert name == org.name  # the last committed state, read beside the writer


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_a_write_in_a_read_is_refused(database: Database) -> None:
    async with database.reading() as reader:
        with pytest.raises(OperationalError, match="readonly"):
            await reader.execute(text("UPDATE organizations SET name = 'x'"))
    # The pooled connections that write are untouched by it.
    async with database.system() as session:
        await session.execute(text("UPDATE organizations SET name = 'x'"))
