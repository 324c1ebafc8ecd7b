"""Start-up login checks on the real PostgreSQL, with throwaway roles for each unsafe login."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core import schema
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.db_logins import UnsafeDatabaseLogin, check_logins, login_findings
from tests.conftest import create_pg_database, drop_pg_database, login_url

pytestmark = pytest.mark.postgres

Sql = Callable[[str], Awaitable[None]]
MakeRole = Callable[..., Awaitable[str]]


@pytest.fixture
async def sql(pg_url: str) -> AsyncIterator[Sql]:
    """Run statements as the test database's superuser, one autocommitted statement each."""
    engine = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")

    async def run(statement: str) -> None:
        async with engine.connect() as connection:
            await connection.execute(text(statement))

    yield run
    await engine.dispose()


@pytest.fixture
async def make_role(sql: Sql) -> AsyncIterator[MakeRole]:
    """Create a throwaway role (cluster-wide, so uniquely named); all are dropped after."""
    created: list[str] = []

    async def make(attributes: str = "LOGIN", startup_role: str = "adpilot_app") -> str:
        name = f"dbsec_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        await sql(f"CREATE ROLE {name} {attributes}")
        created.append(name)
        # Only so that it can start as the engine's startup role: each test then sees just
        # the finding it is about.
        await sql(f"GRANT {startup_role} TO {name}")
        return name

    yield make
    for name in reversed(created):
        await sql(f"DROP OWNED BY {name}")
        await sql(f"DROP ROLE {name}")


def _settings(pg_url: str, *, app: str = "adpilot_app", **overrides: Any) -> Settings:
    return Settings(
        database_url=pg_url,
        database_app_url=login_url(pg_url, app),
        database_worker_url=login_url(pg_url, overrides.pop("worker", "adpilot_worker")),
        redis_url="redis://127.0.0.1:6379/13",
        **overrides,
    )


async def _messages(settings: Settings) -> list[str]:
    database = Database(settings)
    try:
        return [finding.message for finding in await login_findings(database)]
    finally:
        await database.dispose()


async def _check(settings: Settings) -> list[str]:
    database = Database(settings)
    try:
        return await check_logins(database)
    finally:
        await database.dispose()


async def test_the_dedicated_logins_pass_in_production(pg_url: str) -> None:
    settings = _settings(pg_url, env="production")
    assert await _messages(settings) == []
    assert await _check(settings) == []


async def _owns_a_table(sql: Sql, role: str) -> None:
    table = f"owned_by_{role}"
    await sql(f"CREATE TABLE {table} (id int)")
    await sql(f"ALTER TABLE {table} OWNER TO {role}")


async def test_a_superuser_app_login_is_refused(pg_url: str, make_role: MakeRole) -> None:
    role = await make_role("LOGIN SUPERUSER")
    # It still runs as adpilot_app (the startup role), but `SET ROLE NONE` ends that.
    assert await _messages(_settings(pg_url, app=role)) == [
        f"the app login '{role}' is a superuser"
    ]


async def test_an_app_role_granted_the_binding_key_is_refused(pg_url: str, sql: Sql) -> None:
    """An operator's broad GRANT must not hand the app the key that makes the binding safe."""
    await sql("GRANT SELECT ON app_binding_key TO adpilot_app")
    try:
        assert await _messages(_settings(pg_url)) == ["the app login can read the org binding key"]
    finally:
        await sql("REVOKE SELECT ON app_binding_key FROM adpilot_app")
    assert await _messages(_settings(pg_url)) == []


async def test_a_bypassrls_app_login_is_refused(pg_url: str, make_role: MakeRole) -> None:
    role = await make_role("LOGIN BYPASSRLS")
    assert await _messages(_settings(pg_url, app=role)) == [
        f"the app login '{role}' bypasses row-level security"
    ]


async def test_an_app_login_that_owns_tables_is_refused(
    pg_url: str, make_role: MakeRole, sql: Sql
) -> None:
    role = await make_role("LOGIN")
    await _owns_a_table(sql, role)
    assert await _messages(_settings(pg_url, app=role)) == [
        f"the app login '{role}' owns the schema or its tables"
    ]


async def test_roles_the_app_login_can_become_count_too(
    pg_url: str, make_role: MakeRole, sql: Sql
) -> None:
    """`SET ROLE` to a member role is one statement away: its powers are the login's."""
    login = await make_role("LOGIN")
    bypassing = await make_role("NOLOGIN BYPASSRLS")
    owning = await make_role("NOLOGIN")
    await _owns_a_table(sql, owning)
    await sql(f"GRANT {bypassing}, {owning} TO {login}")
    assert sorted(await _messages(_settings(pg_url, app=login))) == sorted(
        [
            f"the app login '{login}' can become '{bypassing}', which bypasses row-level security",
            f"the app login '{login}' can become '{owning}', which owns the schema or its tables",
        ]
    )


async def test_the_worker_may_bypass_rls_but_not_be_a_superuser(
    pg_url: str, make_role: MakeRole
) -> None:
    bypassing = await make_role("LOGIN BYPASSRLS", "adpilot_worker")
    assert await _messages(_settings(pg_url, worker=bypassing)) == []
    superuser = await make_role("LOGIN SUPERUSER", "adpilot_worker")
    assert await _messages(_settings(pg_url, worker=superuser)) == [
        f"the worker login '{superuser}' is a superuser"
    ]


async def test_production_refuses_to_start_and_development_warns(
    pg_url: str, make_role: MakeRole
) -> None:
    role = await make_role("LOGIN BYPASSRLS")
    with pytest.raises(UnsafeDatabaseLogin) as excinfo:
        await _check(_settings(pg_url, app=role, env="production"))
    assert str(excinfo.value) == (
        f"AdPilot refuses to start: the app login '{role}' bypasses row-level security."
    )
    assert await _check(_settings(pg_url, app=role, env="development")) == [
        f"the app login '{role}' bypasses row-level security"
    ]


async def test_a_login_that_cannot_start_as_the_app_role_stops_every_mode(
    pg_url: str, make_role: MakeRole, sql: Sql
) -> None:
    role = await make_role("LOGIN")
    await sql(f"REVOKE adpilot_app FROM {role}")
    with pytest.raises(UnsafeDatabaseLogin) as excinfo:
        await _check(_settings(pg_url, app=role))
    assert str(excinfo.value) == (
        "AdPilot refuses to start: the app login cannot connect "
        '(InsufficientPrivilegeError: permission denied to set role "adpilot_app").'
    )


async def test_the_development_layout_is_flagged_not_refused(pg_url: str) -> None:
    """Without their own logins app and worker log in as the owner (here the superuser)."""
    warnings = await _check(Settings(database_url=pg_url))
    assert "the app login 'postgres' is a superuser" in warnings
    assert "the worker login 'postgres' is a superuser" in warnings


async def test_a_binding_key_that_does_not_match_stops_every_mode(pg_url: str) -> None:
    """A new ADPILOT_SECRET_KEY without `adpilot migrate`: fail closed and say so."""
    rotated_secret = "rotated-" + uuid.uuid4().hex + uuid.uuid4().hex
    rotated = _settings(pg_url, secret_key=rotated_secret)
    with pytest.raises(UnsafeDatabaseLogin, match="does not match ADPILOT_SECRET_KEY"):
        await _check(rotated)
    database = Database(rotated)
    try:
        async with database.tenant(uuid.uuid4()) as session:
            assert await session.scalar(text("SELECT app_current_org()")) is None
        try:
            # `adpilot migrate` under the new key (the schema is at head already) stores it.
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("ADPILOT_SECRET_KEY", rotated_secret)
                reset_settings_cache()
                await schema.upgrade_async(pg_url)
            reset_settings_cache()
            assert await _check(rotated) == []
            async with database.tenant(org_id := uuid.uuid4()) as session:
                assert await session.scalar(text("SELECT app_current_org()")) == org_id
        finally:
            # The test database is shared by the run: back to the tests' own key.
            assert await schema.store_org_binding_key(pg_url) is True
    finally:
        await database.dispose()
    assert await _check(_settings(pg_url)) == []


async def test_a_schema_without_the_signed_binding_stops_every_mode() -> None:
    name = f"adpilot_logins_{os.getpid()}"
    # The conftest helpers run their own event loop: off this one, in a thread.
    url = await asyncio.to_thread(create_pg_database, name)
    try:
        await schema.upgrade_async(url, "0002")
        with pytest.raises(
            UnsafeDatabaseLogin, match=r"is the schema at head \(`adpilot migrate`\)"
        ):
            await _check(_settings(url))
    finally:
        await asyncio.to_thread(drop_pg_database, name)
