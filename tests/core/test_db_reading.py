"""`Database.read`: the page views' read-only unit of work."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import Database
from core.orgs.models import Organization
from tests import factories


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_a_read_goes_on_while_a_writer_holds_the_lock(database: Database) -> None:
    async with database.system() as session:
        org = await factories.org(session)
    async with database.system() as writer:
        # The writer's BEGIN IMMEDIATE holds SQLite's write lock until it commits.
        await writer.execute(update(Organization).values(name="Renamed"))
        name = await asyncio.wait_for(
            database.read(
                lambda reader: reader.scalar(
                    select(Organization.name).where(Organization.id == org.id)
                )
            ),
            timeout=5,
        )
        assert name == org.name  # the last committed state, read beside the writer


async def test_a_write_in_a_read_is_refused(database: Database, backend: str) -> None:
    def write(reader: Session) -> None:
        reader.execute(text("UPDATE organizations SET name = 'x'"))

    refusal = "readonly" if backend == "sqlite" else "read-only transaction"
    with pytest.raises(DBAPIError, match=refusal):
        await database.read(write)
    # The pooled connections that write are untouched by it.
    async with database.system() as session:
        await session.execute(text("UPDATE organizations SET name = 'x'"))


async def test_a_read_sees_every_org_and_returns_what_the_work_returns(
    database: Database,
) -> None:
    async with database.system() as session:
        first = await factories.org(session)
        second = await factories.org(session)
    names = await database.read(
        lambda reader: set(
            reader.scalars(
                select(Organization.name).where(Organization.id.in_([first.id, second.id]))
            )
        )
    )
    assert names == {first.name, second.name}
