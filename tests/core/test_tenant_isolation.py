"""Row-level security: the app role cannot read or write another org's rows, even unfiltered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.config import Settings
from core.db import Database
from tests import factories
from tests.conftest import login_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ADPILOT_DATABASE_URL", pg_url)
    return Settings()


@pytest.fixture
async def two_orgs(pg_settings: Settings) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID]]:
    """Two orgs with one campaign each, written as the owner and committed."""
    owner = create_async_engine(pg_settings.database_url)
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(owner) as session, session.begin():
        ids = []
        for name in ("Acme", "Globex"):
            organization = await factories.org(session, name=name)
            account = await factories.ad_account(session, organization)
            await factories.campaign(session, account, name=f"{name} Summer Sale")
            ids.append(organization.id)
    await owner.dispose()
    yield ids[0], ids[1]
    from tests.conftest import truncate_all

    owner = create_async_engine(pg_settings.database_url)
    await truncate_all(owner)
    await owner.dispose()


async def test_app_role_is_not_owner_nor_superuser(pg_settings: Settings) -> None:
    database = Database(pg_settings)
    async with database.app_sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            )
        ).one()
    await database.dispose()
    assert row == ("adpilot_app", False, False)


async def test_raw_select_without_org_filter_sees_only_own_org(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, globex = two_orgs
    database = Database(pg_settings)
    try:
        async with database.tenant(acme) as session:
            # The query "forgets" the org filter on purpose: RLS must still scope it.
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
            orgs = (await session.execute(text("SELECT id FROM organizations"))).scalars().all()
        assert names == ["Acme Summer Sale"]
        assert orgs == [acme]
        async with database.tenant(globex) as session:
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
        assert names == ["Globex Summer Sale"]
    finally:
        await database.dispose()


async def test_no_org_set_means_no_rows(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    database = Database(pg_settings)
    try:
        async with database.app_sessions() as session:
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert count == 0
    finally:
        await database.dispose()


async def test_cannot_write_into_another_org(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, globex = two_orgs
    database = Database(pg_settings)
    try:
        with pytest.raises(DBAPIError, match="row-level security"):
            async with database.tenant(acme) as session:
                await session.execute(
                    text(
                        "INSERT INTO audit_logs (id, org_id, channel, action, resource_type, "
                        "created_at) VALUES (:id, :org, 'test', 'forge', 'x', now())"
                    ),
                    {"id": uuid.uuid4(), "org": globex},
                )
        async with database.tenant(acme) as session:
            updated = await session.execute(
                text("UPDATE campaigns SET name = 'pwned' WHERE org_id = :org"), {"org": globex}
            )
        assert updated.rowcount == 0
    finally:
        await database.dispose()


async def test_org_setting_ends_with_the_transaction(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, _ = two_orgs
    database = Database(pg_settings)
    try:
        async with database.app_sessions() as session:
            async with session.begin():
                from core.db import set_tenant

                await set_tenant(session, acme)
                inside = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar()
            async with session.begin():
                after = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar()
        assert (inside, after) == (1, 0)
    finally:
        await database.dispose()


async def test_worker_role_sees_every_org(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    database = Database(pg_settings)
    try:
        async with database.system() as session:
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert count == 2
    finally:
        await database.dispose()


async def test_role_survives_a_rolled_back_transaction(
    pg_settings: Settings, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """A failed transaction must not drop the connection back to the (superuser) login role."""
    acme, _ = two_orgs
    database = Database(pg_settings)
    try:
        for _ in range(3):
            with pytest.raises(DBAPIError, match="division by zero"):
                async with database.tenant(acme) as session:
                    await session.execute(text("SELECT 1 / 0"))
        async with database.app_sessions() as session:
            await session.execute(text("RESET ROLE"))
            user = (await session.execute(text("SELECT current_user"))).scalar_one()
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert (user, count) == ("adpilot_app", 0)
    finally:
        await database.dispose()


async def test_every_table_with_org_data_has_forced_rls(pg_settings: Settings) -> None:
    from core.models import TENANT_TABLES, Base

    with_org = {name for name, table in Base.metadata.tables.items() if "org_id" in table.c}
    assert with_org <= set(TENANT_TABLES), "a table with org_id is missing from TENANT_TABLES"
    owner = create_async_engine(pg_settings.database_url)
    async with owner.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
                    "WHERE c.relrowsecurity AND c.relforcerowsecurity"
                )
            )
        ).scalars()
        protected = set(rows)
    await owner.dispose()
    assert set(TENANT_TABLES) <= protected


async def test_own_logins_cannot_step_out_of_rls(
    pg_url: str, two_orgs: tuple[uuid.UUID, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logged in as adpilot_app itself, even `SET ROLE NONE` leaves RLS in force."""
    monkeypatch.setenv("ADPILOT_DATABASE_URL", pg_url)
    monkeypatch.setenv("ADPILOT_DATABASE_APP_URL", login_url(pg_url, "adpilot_app"))
    monkeypatch.setenv("ADPILOT_DATABASE_WORKER_URL", login_url(pg_url, "adpilot_worker"))
    acme, _ = two_orgs
    database = Database(Settings())
    try:
        async with database.tenant(acme) as session:
            await session.execute(text("SET ROLE NONE"))
            user = (await session.execute(text("SELECT current_user"))).scalar_one()
            names = (await session.execute(text("SELECT name FROM campaigns"))).scalars().all()
        assert user == "adpilot_app"
        assert names == ["Acme Summer Sale"]
        async with database.system() as session:
            user = (await session.execute(text("SELECT session_user"))).scalar_one()
            count = (await session.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        assert (user, count) == ("adpilot_worker", 2)
    finally:
        await database.dispose()
