"""Async SQLAlchemy engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite).

Three ways in, one per trust level:
- `app` (web and bot paths): on PostgreSQL every connection runs as the non-owner role
  `adpilot_app`, so row-level security applies even when a query forgets its org filter.
- `worker` (cross-org background jobs): the BYPASSRLS role `adpilot_worker`.
- `owner` (migrations and admin CLI): the role of the URL itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.config import Settings, get_settings
from core.security.local_files import ensure_private_sqlite_file

Trust = Literal["app", "worker", "owner"]

ORG_SETTING = "app.org_id"


def _role_for(settings: Settings, trust: Trust) -> str | None:
    if trust == "app":
        return settings.database_app_role
    if trust == "worker":
        return settings.database_worker_role
    return None


def _checked_role(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe role name: {name!r}")
    return name


def create_engine(
    settings: Settings | None = None, *, trust: Trust = "app", url: str | None = None, **kwargs: Any
) -> AsyncEngine:
    """An engine for the configured database, switched to the role that fits `trust`."""
    settings = settings or get_settings()
    database_url = url or settings.url_for(trust)
    is_sqlite = make_url(database_url).get_backend_name() == "sqlite"
    if is_sqlite:
        ensure_private_sqlite_file(database_url)
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        role = _role_for(settings, trust)
        if role is not None:
            # The role is a startup parameter, not a SET ROLE statement: a statement run in a
            # transaction that later rolls back would silently fall back to the login role, and
            # a startup role is what RESET ROLE returns to, so no query can step out of it.
            server_settings = kwargs.setdefault("connect_args", {}).setdefault(
                "server_settings", {}
            )
            server_settings["role"] = _checked_role(role)
    engine = create_async_engine(database_url, echo=settings.db_echo, **kwargs)
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # SQLAlchemy, not the driver, opens transactions (see _begin_immediate).
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # A deferred transaction that read first and writes later fails at once with
        # "database is locked" when another connection committed in between (WAL snapshot
        # conflict; busy_timeout does not apply). Taking the write lock at BEGIN makes
        # writers queue on busy_timeout instead: the embedded mode serialises its
        # transactions, which its one-team scale affords.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


async def set_tenant(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Bind the current transaction to one org (`SET LOCAL app.org_id` on PostgreSQL)."""
    session.info["org_id"] = org_id
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # set_config(..., true) is SET LOCAL with a bind parameter: it ends with the transaction.
        await session.execute(
            text("SELECT set_config(:name, :value, true)"),
            {"name": ORG_SETTING, "value": str(org_id)},
        )


@asynccontextmanager
async def tenant_session(
    factory: async_sessionmaker[AsyncSession], org_id: uuid.UUID
) -> AsyncIterator[AsyncSession]:
    """An org-scoped unit of work: commits on success, rolls back on error.

    Deliberately not `session.begin()`: a flow that must not hold a transaction across an
    external call (the approval executor) commits mid-way and re-binds the org with
    `set_tenant`; a begin() block would forbid the session's use after that commit.
    """
    async with factory() as session:
        await set_tenant(session, org_id)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


class Database:
    """The engines and session factories a process holds, built once at its composition root."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.app_engine = create_engine(self.settings, trust="app")
        if self.settings.is_sqlite:
            # One SQLite file has no roles; sharing the engine avoids writer lock contention.
            self.worker_engine = self.app_engine
        else:
            self.worker_engine = create_engine(self.settings, trust="worker")
        self.app_sessions = session_factory(self.app_engine)
        self.worker_sessions = session_factory(self.worker_engine)

    def tenant(self, org_id: uuid.UUID) -> Any:
        """`async with db.tenant(org_id) as session:` — an org-scoped transaction."""
        return tenant_session(self.app_sessions, org_id)

    @asynccontextmanager
    async def system(self) -> AsyncIterator[AsyncSession]:
        """A cross-org unit of work for the worker and pre-identity lookups; commits on success."""
        async with self.worker_sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        if self.worker_engine is not self.app_engine:
            await self.worker_engine.dispose()
