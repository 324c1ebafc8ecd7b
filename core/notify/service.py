"""The notification outbox: write rows with what caused them, claim, settle, fall back.

Rows are written in the caller's transaction (an alert and its notifications commit together
or not at all). A delivery worker claims due rows with one conditional UPDATE (pending ->
sending) stamping a fresh lease token; every later step is conditional on that token, so a
row whose lease ran out and was claimed again is never settled by its first holder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.deliveries.models import OutboundMessage
from core.errors import ValidationFailed
from core.notify.models import Destination, Notification
from core.notify.policy import fallback_order
from core.orgs.models import Organization

KINDS = ("alerts", "approvals", "summaries", "auth_errors")
PENDING, SENDING, SENT = "pending", "sending", "sent"
# Settled without a message of its own: carried by a digest, or an identical alert's repeat.
DIGESTED, DUPLICATE = "digested", "duplicate"
FAILED = "failed"  # no destination left to try
# A destination takes a kind when kinds[kind] is true; "fallback" only when one before failed.
FALLBACK = "fallback"


def _takes(destination: Destination, kind: str) -> Any:
    return destination.enabled and destination.kinds.get(kind)


async def org_destinations(session: AsyncSession, org_id: uuid.UUID) -> list[Destination]:
    """The org's destinations in fallback order: as the org ordered them, the rest oldest first."""
    rows = await session.scalars(
        select(Destination)
        .where(Destination.org_id == org_id)
        .order_by(Destination.created_at, Destination.id)
    )
    settings = await session.scalar(select(Organization.settings).where(Organization.id == org_id))
    rank = {item: index for index, item in enumerate(fallback_order(settings or {}))}
    # A stable sort: destinations the order does not name keep their age order, after it.
    return sorted(rows, key=lambda destination: rank.get(str(destination.id), len(rank)))


async def notify(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    kind: str,
    text: str,
    dedupe_key: str | None = None,
    pending_action_id: uuid.UUID | None = None,
    now: datetime | None = None,
    exclude: Iterable[uuid.UUID | None] = (),
    destinations: Sequence[Destination] | None = None,
) -> list[Notification]:
    """Queue one message of `kind` for each of the org's destinations that takes it
    (but those in `exclude`, e.g. already sent the same news as an approval card)."""
    skipped = set(exclude)
    if kind not in KINDS:
        raise ValidationFailed(f"Unknown notification kind {kind!r}.", field="kind")
    payload: dict[str, Any] = {"text": text}
    if pending_action_id is not None:
        payload["pending_action_id"] = str(pending_action_id)
    rows = [
        Notification(
            org_id=org_id,
            destination_id=destination.id,
            channel=destination.channel,
            conversation_id=destination.conversation_id,
            kind=kind,
            payload=payload,
            dedupe_key=dedupe_key[:200] if dedupe_key else None,
            next_attempt_at=now,
        )
        for destination in (
            destinations if destinations is not None else await org_destinations(session, org_id)
        )
        if _takes(destination, kind) is True and destination.id not in skipped
    ]
    session.add_all(rows)
    return rows


async def reclaim_expired(*, session: AsyncSession, now: datetime) -> int:
    """Rows whose holder died mid-delivery (lease over) become due again; how many."""
    result = await session.execute(
        update(Notification)
        .where(Notification.status == SENDING, Notification.lease_until < now)
        .values(status=PENDING, lease_token=None, lease_until=None, next_attempt_at=now)
        .returning(Notification.id)
    )
    return len(result.all())


async def claim_due(
    *, session: AsyncSession, now: datetime, lease: timedelta, limit: int
) -> tuple[uuid.UUID, list[Notification]]:
    """Claim up to `limit` due rows (oldest first) under one new lease token."""
    token = uuid.uuid4()
    due = (
        select(Notification.id)
        .where(
            Notification.status == PENDING,
            (Notification.next_attempt_at.is_(None)) | (Notification.next_attempt_at <= now),
        )
        .order_by(Notification.created_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(due))
    if not ids:
        return token, []
    # Conditional on `pending`: a concurrent claimer that got there first keeps its rows.
    claimed = await session.scalars(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == PENDING)
        .values(
            status=SENDING,
            lease_token=token,
            lease_until=now + lease,
            attempts=Notification.attempts + 1,
        )
        .returning(Notification)
        .execution_options(synchronize_session=False)
    )
    rows = sorted(claimed, key=lambda row: (row.created_at, row.id))
    return token, rows


def _held_by(ids: Iterable[uuid.UUID], token: uuid.UUID) -> Any:
    return (
        Notification.id.in_(list(ids)),
        Notification.status == SENDING,
        Notification.lease_token == token,
    )


async def renew(
    *, session: AsyncSession, ids: Sequence[uuid.UUID], token: uuid.UUID, until: datetime
) -> set[uuid.UUID]:
    """Extend the lease right before a send; the ids still held (the rest must not be sent)."""
    result = await session.execute(
        update(Notification)
        .where(*_held_by(ids, token))
        .values(lease_until=until)
        .returning(Notification.id)
    )
    return set(result.scalars())


async def settle(
    *,
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    token: uuid.UUID,
    status: str,
    now: datetime,
    message_id: str | None = None,
    error: str | None = None,
) -> int:
    """Sent, digested, duplicate or failed: final, and only by the lease holder."""
    values: dict[str, Any] = {"status": status, "lease_token": None, "lease_until": None}
    if status in (SENT, DIGESTED):
        values["sent_at"] = now
    if message_id:
        values["message_id"] = message_id[:200]
    if error is not None:
        values["last_error"] = error
    result = await session.execute(
        update(Notification)
        .where(*_held_by(ids, token))
        .values(**values)
        .returning(Notification.id)
    )
    return len(result.all())


async def release(
    *,
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    token: uuid.UUID,
    at: datetime,
    error: str | None = None,
    held: bool | None = None,
    refund_attempt: bool = False,
) -> int:
    """Back to pending until `at` (a retry's backoff, or the end of quiet hours)."""
    values: dict[str, Any] = {
        "status": PENDING,
        "next_attempt_at": at,
        "lease_token": None,
        "lease_until": None,
    }
    if error is not None:
        values["last_error"] = error
    if held is not None:
        values["held"] = held
    if refund_attempt:
        values["attempts"] = Notification.attempts - 1
    result = await session.execute(
        update(Notification)
        .where(*_held_by(ids, token))
        .values(**values)
        .returning(Notification.id)
    )
    return len(result.all())


async def fall_back(
    *, session: AsyncSession, row: Notification, token: uuid.UUID, now: datetime, error: str
) -> Destination | None:
    """Move a row whose destination keeps failing to the org's next fallback destination.

    The destinations tried so far ride in the payload; with none left the row fails.
    """
    tried = [*row.payload.get("tried", []), str(row.destination_id)]
    candidates = [
        destination
        for destination in await org_destinations(session, row.org_id)
        if _takes(destination, row.kind) == FALLBACK and str(destination.id) not in tried
    ]
    if not candidates:
        await settle(
            session=session, ids=[row.id], token=token, status=FAILED, now=now, error=error
        )
        return None
    target = candidates[0]
    await session.execute(
        update(Notification)
        .where(*_held_by([row.id], token))
        .values(
            status=PENDING,
            destination_id=target.id,
            channel=target.channel,
            conversation_id=target.conversation_id,
            payload={**row.payload, "tried": tried},
            attempts=0,
            next_attempt_at=now,
            last_error=error,
            lease_token=None,
            lease_until=None,
        )
    )
    return target


async def recently_sent_keys(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    destination_id: uuid.UUID | None,
    keys: Iterable[str],
    since: datetime,
) -> set[str]:
    """Which de-duplication keys already went to this destination within the window."""
    wanted = list(set(keys))
    if not wanted:
        return set()
    rows = await session.scalars(
        select(Notification.dedupe_key).where(
            Notification.org_id == org_id,
            Notification.destination_id == destination_id,
            Notification.dedupe_key.in_(wanted),
            Notification.status.in_((SENT, DIGESTED)),
            Notification.sent_at >= since,
        )
    )
    return {key for key in rows if key is not None}


async def destination(
    *, session: AsyncSession, destination_id: uuid.UUID | None
) -> Destination | None:
    if destination_id is None:
        return None
    return await session.get(Destination, destination_id)


async def claim_failed_deliveries(
    *, session: AsyncSession, now: datetime, lease: timedelta, since: datetime
) -> tuple[uuid.UUID, list[tuple[Notification, str]]]:
    """Sent rows whose message the platform later reported `failed` (a WhatsApp status
    callback: outside the 24 h window, unreachable number), claimed for a fallback."""
    token = uuid.uuid4()
    failed = await session.execute(
        select(Notification.id, OutboundMessage.error_code, OutboundMessage.error_title)
        .join(
            OutboundMessage,
            and_(
                OutboundMessage.org_id == Notification.org_id,
                OutboundMessage.channel == Notification.channel,
                OutboundMessage.message_id == Notification.message_id,
            ),
        )
        .where(
            Notification.status == SENT,
            Notification.sent_at >= since,
            OutboundMessage.status == "failed",
        )
    )
    reasons = {
        row_id: f"delivery failed: {code} {title or ''}".strip() for row_id, code, title in failed
    }
    if not reasons:
        return token, []
    claimed = await session.scalars(
        update(Notification)
        .where(Notification.id.in_(list(reasons)), Notification.status == SENT)
        .values(status=SENDING, lease_token=token, lease_until=now + lease)
        .returning(Notification)
        .execution_options(synchronize_session=False)
    )
    return token, [(row, reasons[row.id]) for row in claimed]
