"""Dead letters: background jobs that gave up, kept for a week to be read, retried or purged."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.base import utcnow
from core.errors import Conflict, NotFound
from core.events.models import DeadLetterJob
from core.redaction import redact, redact_payload

# Long enough to come back after a weekend; the daily housekeeping deletes older ones.
RETENTION = timedelta(days=7)


async def record(
    *,
    session: AsyncSession,
    job_name: str,
    arguments: dict[str, Any],
    error: str,
    attempts: int,
    org_id: uuid.UUID | None = None,
) -> DeadLetterJob:
    """Store a job that gave up; arguments and error are scrubbed of secret shapes first."""
    letter = DeadLetterJob(
        org_id=org_id,
        job_name=job_name,
        arguments=redact_payload(arguments),
        error=redact(error)[:4000],
        attempts=attempts,
    )
    session.add(letter)
    await session.flush()
    return letter


async def list_letters(
    *, session: AsyncSession, include_resolved: bool = False, limit: int = 100
) -> list[DeadLetterJob]:
    """Newest first; retried ones only when asked for."""
    query = select(DeadLetterJob).order_by(DeadLetterJob.created_at.desc(), DeadLetterJob.id)
    if not include_resolved:
        query = query.where(DeadLetterJob.resolved_at.is_(None))
    return list(await session.scalars(query.limit(limit)))


async def get(*, session: AsyncSession, letter_id: uuid.UUID) -> DeadLetterJob:
    letter = await session.get(DeadLetterJob, letter_id)
    if letter is None:
        raise NotFound(f"No dead letter with id {letter_id}.")
    return letter


async def mark_retried(*, session: AsyncSession, letter_id: uuid.UUID) -> DeadLetterJob:
    """Claim a letter for a retry; a second claim of the same letter is refused."""
    letter = await get(session=session, letter_id=letter_id)
    if letter.resolved_at is not None:
        raise Conflict(f"Dead letter {letter_id} was already retried at {letter.resolved_at}.")
    letter.resolved_at = utcnow()
    await session.flush()
    return letter


async def purge(*, session: AsyncSession) -> int:
    """Delete every dead letter; how many went."""
    result = await session.execute(delete(DeadLetterJob))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def expire(*, session: AsyncSession, now: datetime | None = None) -> int:
    """Delete letters past the retention; how many went."""
    cutoff = (now or utcnow()) - RETENTION
    result = await session.execute(delete(DeadLetterJob).where(DeadLetterJob.created_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
