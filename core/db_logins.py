"""Start-up checks of the PostgreSQL logins: the app and worker cannot step out of their lanes.

A login that is (or may become) a superuser, a BYPASSRLS role or the owner of the schema's
tables can leave row-level security with one statement (`SET ROLE`, `ALTER TABLE ... NO FORCE
ROW LEVEL SECURITY`, `DROP POLICY`). The composition roots and `adpilot doctor` run these
checks; production refuses to start on any finding.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.config import ConfigError
from core.db import Database, set_tenant

# Every role the login is, or can SET ROLE to (pg_has_role ... MEMBER), with what it may do.
_REACHABLE_ROLES = text(
    """
    SELECT r.rolname,
           r.rolname = session_user AS is_login,
           r.rolsuper,
           r.rolbypassrls,
           EXISTS (SELECT 1 FROM pg_namespace n
                   WHERE n.nspname = 'public' AND n.nspowner = r.oid)
           OR EXISTS (SELECT 1 FROM pg_class c
                      WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = r.oid
                        AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))
           OR EXISTS (SELECT 1 FROM pg_proc p
                      WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = r.oid)
             AS owns_schema
    FROM pg_roles r
    WHERE pg_has_role(session_user, r.oid, 'MEMBER')
    ORDER BY r.rolname = session_user DESC, r.rolname
    """
)

LoginTrust = Literal["app", "worker"]


class UnsafeDatabaseLogin(ConfigError):
    """A database login that could leave row-level security, or a broken org binding."""


@dataclass(frozen=True)
class LoginFinding:
    """One problem with a login; `fatal` ones stop the start in every mode, not just production."""

    trust: LoginTrust
    message: str
    fatal: bool = False


def _reason(exc: DBAPIError) -> str:
    """The server's one-line reason (no SQL, no parameters, no URL)."""
    cause: BaseException = exc.orig if exc.orig is not None else exc
    # SQLAlchemy's asyncpg adapter wraps the driver's error; the driver's names the cause.
    cause = cause.__cause__ or cause
    return f"{type(cause).__name__}: {str(cause).splitlines()[0]}"


async def _role_findings(engine: AsyncEngine, trust: LoginTrust) -> list[LoginFinding]:
    try:
        async with engine.connect() as connection:
            login = await connection.scalar(text("SELECT session_user"))
            rows = (await connection.execute(_REACHABLE_ROLES)).all()
    except DBAPIError as exc:
        return [LoginFinding(trust, f"the {trust} login cannot connect ({_reason(exc)})", True)]
    findings: list[LoginFinding] = []
    for role, is_login, is_super, bypasses_rls, owns_schema in rows:
        who = f"the {trust} login {login!r}" + ("" if is_login else f" can become {role!r}, which")
        if is_super:
            findings.append(LoginFinding(trust, f"{who} is a superuser"))
            if is_login:
                break  # a superuser reaches every role; listing them adds nothing
        if bypasses_rls and trust == "app":
            findings.append(LoginFinding(trust, f"{who} bypasses row-level security"))
        if owns_schema:
            findings.append(LoginFinding(trust, f"{who} owns the schema or its tables"))
    return findings


async def _binding_findings(database: Database) -> list[LoginFinding]:
    """Whether the app's signed org binding is accepted and its key is out of the app's reach."""
    probe_org = uuid.uuid4()
    try:
        async with database.app_sessions() as session, session.begin():
            await set_tenant(session, probe_org)
            bound_org = await session.scalar(text("SELECT app_current_org()"))
            key_readable = await session.scalar(
                text("SELECT has_table_privilege('public.app_binding_key', 'SELECT')")
            )
    except DBAPIError as exc:
        message = (
            f"the app login cannot check the org binding ({_reason(exc)}); "
            "is the schema at head (`adpilot migrate`)?"
        )
        return [LoginFinding("app", message, fatal=True)]
    findings: list[LoginFinding] = []
    if bound_org != probe_org:
        message = (
            "the org binding key stored in the database does not match ADPILOT_SECRET_KEY "
            "(every tenant query would see nothing); run `adpilot migrate` with this key"
        )
        findings.append(LoginFinding("app", message, fatal=True))
    if key_readable:
        findings.append(LoginFinding("app", "the app login can read the org binding key"))
    return findings


async def login_findings(database: Database) -> list[LoginFinding]:
    """Every problem with the database logins `database` uses (none on SQLite)."""
    if not database.settings.is_postgres:
        return []
    findings = await _role_findings(database.app_engine, "app")
    findings += await _role_findings(database.worker_engine, "worker")
    if not any(finding.fatal for finding in findings):
        findings += await _binding_findings(database)
    return findings


async def check_logins(database: Database) -> list[str]:
    """Refuse to start on an unsafe login (production) or a broken org binding (always).

    Returns the findings that are tolerated outside production (the development layout logs
    in as the owner), for the caller to show.
    """
    findings = await login_findings(database)
    production = database.settings.is_production
    refused = [finding.message for finding in findings if finding.fatal or production]
    if refused:
        raise UnsafeDatabaseLogin("AdPilot refuses to start: " + "; ".join(refused) + ".")
    return [finding.message for finding in findings]
