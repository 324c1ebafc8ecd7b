"""Audit rows, written in the caller's transaction: a change and its record go together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog

# Field names whose values never belong in the audit trail, whatever a caller passes.
_SECRET_MARKERS = ("password", "secret", "_encrypted", "api_key", "code_verifier")
REDACTED = "[redacted]"


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    # "access_token" is a secret, "input_tokens" is not.
    if lowered in {"token", "otp", "code"} or lowered.endswith("_token"):
        return True
    return any(marker in lowered for marker in _SECRET_MARKERS)


def redact(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of `values` with secret-looking fields (nested too) replaced by a marker."""
    if values is None:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if _is_secret(key):
            cleaned[key] = REDACTED
        elif isinstance(value, dict):
            cleaned[key] = redact(value)
        else:
            cleaned[key] = value
    return cleaned


@dataclass(frozen=True)
class Actor:
    """Who is acting and through which door: the audit trail's 'who' and 'where'."""

    org_id: uuid.UUID
    user_id: uuid.UUID | None
    channel: str = "system"
    source: str | None = None


async def record(
    *,
    session: AsyncSession,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row to the current transaction (flushed, not committed); secrets redacted."""
    row = AuditLog(
        org_id=actor.org_id,
        user_id=actor.user_id,
        channel=actor.channel,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        before=redact(before),
        after=redact(after),
        source=actor.source,
    )
    session.add(row)
    await session.flush()
    return row


async def list_recent(
    *, session: AsyncSession, org_id: uuid.UUID, limit: int = 50, action: str | None = None
) -> list[AuditLog]:
    """The org's newest audit rows, newest first."""
    query = select(AuditLog).where(AuditLog.org_id == org_id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    result = await session.scalars(query.order_by(AuditLog.created_at.desc()).limit(limit))
    return list(result)


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit search; None means any. `action` matches as a prefix ("team.")."""

    org_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    actor_email: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    row: AuditLog
    actor_email: str | None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    offset: int
    limit: int
    has_more: bool


async def search(
    *, session: AsyncSession, query: AuditQuery, offset: int = 0, limit: int = 50
) -> AuditPage:
    """Audit rows matching `query`, newest first, one page at a time.

    Org-scoped when `query.org_id` is set (and RLS scopes a tenant session anyway); across
    orgs only on a worker session, for the installation's operator.
    """
    from core.users.models import User

    statement = select(AuditLog, User.email).outerjoin(User, User.id == AuditLog.user_id)
    if query.org_id is not None:
        statement = statement.where(AuditLog.org_id == query.org_id)
    if query.user_id is not None:
        statement = statement.where(AuditLog.user_id == query.user_id)
    if query.actor_email:
        statement = statement.where(User.email == query.actor_email.strip().lower())
    if query.action:
        statement = statement.where(AuditLog.action.startswith(query.action, autoescape=True))
    if query.since is not None:
        statement = statement.where(AuditLog.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditLog.created_at < query.until)
    statement = (
        statement.order_by(AuditLog.created_at.desc(), AuditLog.id)
        .offset(max(offset, 0))
        .limit(limit + 1)
    )
    rows = list(await session.execute(statement))
    entries = [AuditEntry(row=row, actor_email=email) for row, email in rows[:limit]]
    return AuditPage(
        entries=entries, offset=max(offset, 0), limit=limit, has_more=len(rows) > limit
    )
