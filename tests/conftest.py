"""Shared fixtures: the same tests run on SQLite and on the real PostgreSQL and Redis.

- `backend` is parametrised over "sqlite" and "postgresql"; tests that take `session`,
  `database` or `db_url` run once per backend.
- PostgreSQL: one migrated database per test run; `session` wraps each test in a transaction
  that is rolled back (SAVEPOINTs inside), `database` commits for real and truncates after.
- SQLite: a migrated template file is copied per test.
- An unreachable service fails its tests, and any skipped PostgreSQL or Redis test fails the
  run: the suite never passes by skipping. `make test` (tests/services.py) starts the services
  when they are down. ADPILOT_REQUIRE_SERVICES=0 lets a developer skip them knowingly.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from core import schema
from core.config import Settings, reset_settings_cache
from core.db import Database, create_engine

PG_HOST = os.environ.get("ADPILOT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ADPILOT_TEST_PG_PORT", "5432"))
PG_ADMIN_URL = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/postgres"
REDIS_URL = os.environ.get("ADPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("ADPILOT_REQUIRE_SERVICES", "1") != "0"
TEST_ENCRYPTION_KEY = "F16TH-tTfrmBQqX1mpFGOawZPsePS9aJl5wroKhSfkc="
# Signs the org binding (core.db.set_tenant); the migrated test database stores its derived key.
TEST_SECRET_KEY = "test-only-3tQx9vL2mKp8RwZ4yNc7HbJf6DsGa1UeXo5iTqWl0Vr"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _need(service: str, host: str, port: int) -> None:
    if not _reachable(host, port):
        message = f"{service} is not reachable on {host}:{port}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}: start it or run `make test`, which starts one")
        pytest.skip(message + " (ADPILOT_REQUIRE_SERVICES=0)")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's .env or environment by accident."""
    for key in list(os.environ):
        if key.startswith("ADPILOT_") and not key.startswith("ADPILOT_TEST_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ADPILOT_ENV", "test")
    monkeypatch.setenv("ADPILOT_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEY)
    monkeypatch.setenv("ADPILOT_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("ADPILOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    # An app under test runs no cron jobs in its background (they would race the test's own
    # requests); tests of the embedded schedule turn it on.
    monkeypatch.setenv("ADPILOT_EMBEDDED_SCHEDULE", "false")
    monkeypatch.chdir(tmp_path)
    reset_settings_cache()
    yield
    reset_settings_cache()


# --- PostgreSQL -----------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def create_pg_database(name: str) -> str:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"


def drop_pg_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Any fixed number: the key of the advisory lock that test runs migrate under.
_MIGRATION_LOCK = 0x4AD9110


async def _migrate_alone(url: str) -> None:
    """Migrate while holding a cluster-wide lock: the roles the migrations alter are shared by
    every database, and two test runs altering them at once fail ("tuple concurrently updated").
    """
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
            try:
                await schema.upgrade_async(url)
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK}
                )
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A freshly migrated PostgreSQL database for this test run."""
    _need("PostgreSQL", PG_HOST, PG_PORT)
    name = f"adpilot_test_{os.getpid()}"
    url = create_pg_database(name)
    # Session-scoped, so it runs before _isolated_settings: migrate under the tests' secret key.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADPILOT_SECRET_KEY", TEST_SECRET_KEY)
        reset_settings_cache()
        asyncio.run(_migrate_alone(url))
    reset_settings_cache()
    yield url
    drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    schema.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A migrated database URL of the current backend, also set as ADPILOT_DATABASE_URL."""
    if backend == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "adpilot.db"
        shutil.copyfile(template, target)
        url = f"sqlite+aiosqlite:///{target}"
    monkeypatch.setenv("ADPILOT_DATABASE_URL", url)
    reset_settings_cache()
    return url


def login_url(url: str, role: str) -> str:
    """The same database, logged in as `role` (trust auth on the test server)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=role).render_as_string(hide_password=False)


@pytest.fixture
def settings(db_url: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """On PostgreSQL, the production layout: app and worker log in as their own roles."""
    if backend == "postgresql":
        monkeypatch.setenv("ADPILOT_DATABASE_APP_URL", login_url(db_url, "adpilot_app"))
        monkeypatch.setenv("ADPILOT_DATABASE_WORKER_URL", login_url(db_url, "adpilot_worker"))
        reset_settings_cache()
    return Settings()


async def truncate_all(engine: AsyncEngine) -> None:
    from core.models import Base

    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """Engines as the app uses them (roles, RLS on PostgreSQL), committing for real."""
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()
        if settings.is_postgres:
            owner = create_async_engine(settings.database_url)
            await truncate_all(owner)
            await owner.dispose()


async def _rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside one outer transaction that is rolled back at the end (SAVEPOINTs inside)."""
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            rolled_back = AsyncSession(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            try:
                yield rolled_back
            finally:
                await rolled_back.close()
                await transaction.rollback()
    finally:
        await engine.dispose()


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A tenant session as the app holds one, rolled back after the test (service-level tests).

    On PostgreSQL it logs in as the app role (the `Database` app engine), so row-level security
    applies: it sees no tenant row until an org is bound through `core.db.set_tenant`, the binding
    `Database.tenant()` uses. `factories.org` binds the org it creates; `factories.act_as`
    switches to another. A commit inside a flow releases a SAVEPOINT, so the binding outlives it
    here (flows that must re-bind after their own commit are tested through `database`).
    """
    async for tenant in _rolled_back(create_engine(settings, trust="app")):
        yield tenant


@pytest.fixture
async def system_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A cross-org session as the worker holds one (BYPASSRLS role), rolled back after the test.

    For worker-level paths (sweeps, cross-org evaluation) that `Database.system()` serves.
    """
    async for system in _rolled_back(create_engine(settings, trust="worker")):
        yield system


@pytest.fixture
async def owner_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """The schema owner's session (RLS does not apply), rolled back after the test.

    Only for what the app role may not do, e.g. checking that the database itself refuses a row.
    Its uncommitted rows are invisible to `session`, which is another connection.
    """
    async for owner in _rolled_back(create_engine(settings, trust="owner")):
        yield owner


# --- Redis ----------------------------------------------------------------------------------


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A clean Redis database (ADPILOT_TEST_REDIS_URL, db 15 by default) on a real server."""
    from redis.asyncio import Redis

    address = urlsplit(REDIS_URL)
    _need("Redis", address.hostname or "127.0.0.1", address.port or 6379)
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    try:
        yield REDIS_URL
    finally:
        await client.flushdb()
        await client.aclose()


# --- Guard: a skipped service test fails the run, on every machine ---------------------------

_service_skips: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "redis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and ("postgres" in report.keywords or "redis" in report.keywords):
        _service_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_SERVICES and _service_skips:
        print(f"\n{len(_service_skips)} PostgreSQL/Redis test(s) were skipped; failing the run:")
        for nodeid in _service_skips:
            print(f"  {nodeid}")
        session.exitstatus = 1


def new_id() -> uuid.UUID:
    return uuid.uuid4()
