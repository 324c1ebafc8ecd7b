"""Async SQLAlchemy engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite).

Three ways in, one per trust level:
- `app` (web and bot paths): on PostgreSQL every connection runs as the non-owner role
  `adpilot_app`, so row-level security applies even when a query forgets its org filter.
- `worker` (cross-org background jobs): the BYPASSRLS role `adpilot_worker`.
- `owner` (migrations and admin CLI): the role of the URL itself.

The org a transaction may see is bound by `set_tenant`, signed: row-level security reads it
through `app_current_org()` (migration 0004), which accepts it only with the HMAC of a key
the app role cannot read, so SQL run as the app role cannot re-point itself at another org.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_blocking_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings, get_settings
from core.security.local_files import ensure_private_sqlite_file

Trust = Literal["app", "worker", "owner"]
T = TypeVar("T")

# Threads (and pooled connections) for SQLite reads. A read takes ~0.1 ms, so two serve
# thousands a second; more only fight the event loop for the GIL (py-spy showed the loop
# starved behind six executor threads) and churn connections past the pool's size.
SQLITE_READ_THREADS = 2
# Connections for PostgreSQL reads. Past them, reads queue on a FIFO semaphore: the pool's own
# queue lets a newcomer take a returned connection before the waiter it was handed to, and
# under 32 concurrent page views that barging made a p99 ten times the median.
SERVER_READ_CONNECTIONS = 10

ORG_SETTING = "app.org_id"
ORG_SIGNATURE_SETTING = "app.org_sig"
# Where a session factory keeps the org binding key for `set_tenant` (see session_factory).
BINDING_KEY_INFO = "org_binding_key"
_HMAC_BLOCK_SIZE = 64  # SHA-256's block size, as RFC 2104 pads the key to it


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
    settings: Settings | None = None,
    *,
    trust: Trust = "app",
    url: str | None = None,
    **kwargs: Any,
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
        _configure_sqlite(engine.sync_engine)
    return engine


def create_sqlite_reader(settings: Settings) -> Engine:
    """A blocking engine on the stdlib driver whose connections refuse writes (SQLite only).

    For `Database.read`: one thread hop per unit of work, where aiosqlite takes one per
    statement, cursor fetch and transaction step.
    """
    url = make_url(settings.database_url)
    ensure_private_sqlite_file(settings.database_url)
    engine = create_blocking_engine(
        url.set(drivername="sqlite+pysqlite"),
        echo=settings.db_echo,
        # Pooled connections serve whichever read thread runs the read.
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=SQLITE_READ_THREADS,
        max_overflow=0,
    )
    _configure_sqlite(engine, read_only=True)
    return engine


def _configure_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")  # a write on a reading connection fails
        cursor.close()
        # SQLAlchemy, not the driver, opens transactions (see _begin_immediate).
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # A deferred transaction that read first and writes later fails at once with
        # "database is locked" when another connection committed in between (WAL snapshot
        # conflict; busy_timeout does not apply). Taking the write lock at BEGIN makes
        # writers queue on busy_timeout instead: the embedded mode serialises its
        # transactions, which its one-team scale affords.
        # A read-only engine's transactions never write, so they need no lock: WAL lets them
        # read beside the writer instead of queueing behind it on every page view.
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def session_factory(
    engine: AsyncEngine, *, binding_key: bytes | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; `binding_key` signs their org bindings (default: get_settings()'s)."""
    info = {BINDING_KEY_INFO: binding_key} if binding_key is not None else {}
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True, info=info)


def org_signature(binding_key: bytes, org_id: uuid.UUID) -> str:
    """The HMAC-SHA256 (hex) of an org id under the binding key: what app_current_org() checks."""
    return hmac.new(binding_key, str(org_id).encode(), hashlib.sha256).hexdigest()


def binding_key_pads(binding_key: bytes) -> tuple[bytes, bytes]:
    """The key as HMAC's inner and outer pads (RFC 2104), the form the database stores.

    With the pads stored, SQL computes the standard HMAC from two `sha256()` calls, so the
    check needs no extension (pgcrypto) and no XOR in SQL.
    """
    if len(binding_key) > _HMAC_BLOCK_SIZE:
        binding_key = hashlib.sha256(binding_key).digest()
    padded = binding_key.ljust(_HMAC_BLOCK_SIZE, b"\0")
    inner = bytes(byte ^ 0x36 for byte in padded)
    outer = bytes(byte ^ 0x5C for byte in padded)
    return inner, outer


async def set_tenant(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Bind the current transaction to one org: `app.org_id` and its signature, on PostgreSQL.

    The one place the binding is made; `Database.tenant` and flows that commit mid-way use it.
    """
    session.info["org_id"] = org_id
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        binding_key = session.info.get(BINDING_KEY_INFO) or get_settings().org_binding_key()
        # set_config(..., true) is SET LOCAL with bind parameters: both end with the
        # transaction, and the values never appear in the statement text other sessions see.
        await session.execute(
            text("SELECT set_config(:org_name, :org, true), set_config(:sig_name, :sig, true)"),
            {
                "org_name": ORG_SETTING,
                "org": str(org_id),
                "sig_name": ORG_SIGNATURE_SETTING,
                "sig": org_signature(binding_key, org_id),
            },
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
        binding_key = self.settings.org_binding_key()
        self.app_sessions = session_factory(self.app_engine, binding_key=binding_key)
        self.worker_sessions = session_factory(self.worker_engine, binding_key=binding_key)
        # Page views' reads go to a pool of their own that refuses writes (see `read`).
        self._reads: SqliteReads | ServerReads = (
            SqliteReads(self.settings)
            if self.settings.is_sqlite
            else ServerReads(self.settings, binding_key=binding_key)
        )

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

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run `work`, a cross-org read, on a session that never writes; what it returns.

        The web session lookup on every page view: one hop to the database, beside the writers,
        and a write in it fails on either database (`SqliteReads`, `ServerReads`).
        """
        return await self._reads.run(work)

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        if self.worker_engine is not self.app_engine:
            await self.worker_engine.dispose()
        await self._reads.dispose()


class SqliteReads:
    """SQLite reads: a `query_only` pool on the stdlib driver, beginning deferred (under WAL it
    reads beside the writer), run on threads of its own in one hop per unit of work, where
    aiosqlite took one per statement, fetch and transaction step."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_sqlite_reader(settings)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._threads = ThreadPoolExecutor(
            SQLITE_READ_THREADS, thread_name_prefix="adpilot-sqlite-read"
        )

    async def run(self, work: Callable[[Session], T]) -> T:
        # As asyncio.to_thread does, but on the reads' own threads: the context goes along.
        call = functools.partial(self._blocking, work)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._threads, context.run, call)

    def _blocking(self, work: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            return work(session)

    async def dispose(self) -> None:
        self._threads.shutdown(wait=True)
        self.engine.dispose()


class ServerReads:
    """PostgreSQL reads, as the worker role, on a pool of their own whose connections start
    read-only (a startup parameter, so it holds for every statement) and run in autocommit:
    a lookup is one round trip, no BEGIN or ROLLBACK. Past the pool, reads wait their turn on
    a FIFO semaphore (see SERVER_READ_CONNECTIONS)."""

    def __init__(self, settings: Settings, *, binding_key: bytes) -> None:
        self.engine = create_engine(
            settings,
            trust="worker",
            isolation_level="AUTOCOMMIT",
            pool_size=SERVER_READ_CONNECTIONS,
            max_overflow=0,
            connect_args={"server_settings": {"default_transaction_read_only": "on"}},
        )
        self._sessions = session_factory(self.engine, binding_key=binding_key)
        self._turns = asyncio.Semaphore(SERVER_READ_CONNECTIONS)

    async def run(self, work: Callable[[Session], T]) -> T:
        async with self._turns, self._sessions() as session:
            return await session.run_sync(work)

    async def dispose(self) -> None:
        await self.engine.dispose()
