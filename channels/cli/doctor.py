"""The checks behind `adpilot doctor`: each part is ok, missing (not configured), down or off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from adapters.registry import REAL_PLATFORMS, configured_platforms
from channels.catalog import CHANNELS, channel_status
from core import schema
from core.config import Settings
from core.db import Database, create_engine
from core.db_logins import login_findings

State = Literal["ok", "missing", "down", "off"]


@dataclass(frozen=True)
class CheckResult:
    part: str
    state: State
    detail: str
    required: bool


async def check_database(settings: Settings) -> CheckResult:
    head = ScriptDirectory.from_config(
        schema.alembic_config(settings.database_url)
    ).get_current_head()
    engine = create_engine(settings, trust="owner")

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(current)
    except Exception as exc:
        return CheckResult("database", "down", f"{type(exc).__name__}: {exc}", True)
    finally:
        await engine.dispose()
    kind = "PostgreSQL" if settings.is_postgres else "SQLite"
    if revision != head:
        return CheckResult(
            "database", "down", f"{kind} at {revision or 'empty'}; run `adpilot migrate`", True
        )
    return CheckResult("database", "ok", f"{kind}, schema at {head}", True)


async def check_redis(settings: Settings) -> CheckResult:
    if not settings.redis_url:
        state: State = "missing" if settings.is_production else "off"
        return CheckResult("redis", state, "not configured: jobs run in-process", False)
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return CheckResult("redis", "down", f"{type(exc).__name__}: {exc}", True)
    finally:
        await client.aclose()
    return CheckResult("redis", "ok", "ping answered", True)


def check_channels(settings: Settings) -> list[CheckResult]:
    results = [CheckResult("channel: console", "ok", "always available (`adpilot chat`)", False)]
    for spec in CHANNELS:
        status = channel_status(spec, settings)
        results.append(CheckResult(f"channel: {spec.name}", status.state, status.detail, False))
    return results


def check_platforms(settings: Settings) -> list[CheckResult]:
    configured = configured_platforms(settings)
    results = [CheckResult("platform: sandbox", "ok", "simulated platform", False)]
    for name in REAL_PLATFORMS:
        ready = name in configured
        detail = "app credentials set" if ready else "not configured"
        results.append(CheckResult(f"platform: {name}", "ok" if ready else "off", detail, False))
    return results


async def check_database_logins(settings: Settings) -> list[CheckResult]:
    """On PostgreSQL: own logins for app and worker, none able to leave RLS, the binding signed."""
    if not settings.is_postgres:
        return []
    results: list[CheckResult] = []
    own_logins = bool(settings.database_app_url and settings.database_worker_url)
    if not own_logins:
        detail = (
            "app/worker log in as the owner and switch role; set ADPILOT_DATABASE_APP_URL and "
            "ADPILOT_DATABASE_WORKER_URL to the adpilot_app / adpilot_worker logins"
        )
        results.append(CheckResult("database logins", "missing", detail, False))
    database = Database(settings)
    try:
        findings = await login_findings(database)
    finally:
        await database.dispose()
    for finding in findings:
        # The same line production's start-up refuses on (core.db_logins.check_logins).
        refused = finding.fatal or settings.is_production
        state: State = "down" if refused else "missing"
        results.append(
            CheckResult(f"database login: {finding.trust}", state, finding.message, refused)
        )
    if own_logins and not findings:
        detail = "app and worker log in as themselves; the org binding is signed"
        results.append(CheckResult("database logins", "ok", detail, False))
    return results


def check_llm(settings: Settings) -> CheckResult:
    if not settings.llm_model:
        return CheckResult(
            "llm", "off", "no model: free text gets a pointer to the commands", False
        )
    return CheckResult("llm", "ok", settings.llm_model, False)


def check_secrets(settings: Settings) -> CheckResult:
    if settings.encryption_key_list():
        return CheckResult(
            "encryption keys", "ok", f"{len(settings.encryption_key_list())} key(s)", True
        )
    state: State = "missing" if settings.is_production else "off"
    return CheckResult(
        "encryption keys", state, "ADPILOT_ENCRYPTION_KEYS not set", settings.is_production
    )


async def run_checks(settings: Settings) -> list[CheckResult]:
    database = await check_database(settings)
    results = [database]
    if database.state == "ok":
        # The login checks need the schema at head (the binding function is in 0004).
        results += await check_database_logins(settings)
    results += [await check_redis(settings), check_secrets(settings)]
    results += check_platforms(settings)
    results += check_channels(settings)
    results.append(check_llm(settings))
    return results
