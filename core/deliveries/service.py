"""Record and read how far outbound messages got; a status only ever moves forward."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core.base import utcnow
from core.deliveries.models import OutboundMessage
from core.errors import ValidationFailed

ACCEPTED = "accepted"  # the platform took the message (its API answered with an id)
FAILED = "failed"
# Callbacks arrive out of order (a `read` before its `delivered`); a lower rank never replaces a
# higher one. `read` and `failed` are both final: whichever is recorded first stays.
STATUS_RANK: dict[str, int] = {ACCEPTED: 0, "sent": 1, "delivered": 2, "read": 3, FAILED: 3}
_MAX_TITLE = 200


def _rank(column: InstrumentedAttribute[str]) -> ColumnElement[int]:
    return case(STATUS_RANK, value=column, else_=-1)


async def record_status(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    channel: str,
    conversation_id: str,
    message_id: str,
    status: str,
    error_code: int | None = None,
    error_title: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Record a message's status; False when it would move the status backwards (ignored).

    One conditional upsert: the send path (`accepted`) and status callbacks may race, and a
    callback can even arrive before the send path recorded the message.
    """
    rank = STATUS_RANK.get(status)
    if rank is None:
        raise ValidationFailed(f"Unknown delivery status {status!r}.", field="status")
    now = at or utcnow()
    title = error_title[:_MAX_TITLE] if error_title else None
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = insert(OutboundMessage).values(
        id=uuid.uuid4(),
        org_id=org_id,
        channel=channel,
        conversation_id=conversation_id[:200],
        message_id=message_id[:200],
        status=status,
        error_code=error_code,
        error_title=title,
        created_at=now,
        updated_at=now,
    )
    statement = values.on_conflict_do_update(
        index_elements=["channel", "message_id"],
        set_={"status": status, "error_code": error_code, "error_title": title, "updated_at": now},
        where=(_rank(OutboundMessage.status) < rank) & (OutboundMessage.org_id == org_id),
    ).returning(OutboundMessage.id)
    return (await session.scalar(statement)) is not None


async def find(
    *, session: AsyncSession, org_id: uuid.UUID, channel: str, message_id: str
) -> OutboundMessage | None:
    """One outbound message of the org by its platform id."""
    return await session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.org_id == org_id,
            OutboundMessage.channel == channel,
            OutboundMessage.message_id == message_id,
        )
    )


async def list_failed(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    channel: str | None = None,
    since: datetime | None = None,
) -> list[OutboundMessage]:
    """The org's messages whose delivery failed, oldest first (what the outbox acts on)."""
    query = select(OutboundMessage).where(
        OutboundMessage.org_id == org_id, OutboundMessage.status == FAILED
    )
    if channel is not None:
        query = query.where(OutboundMessage.channel == channel)
    if since is not None:
        query = query.where(OutboundMessage.updated_at >= since)
    return list(await session.scalars(query.order_by(OutboundMessage.updated_at)))


async def org_of_message(
    *, session: AsyncSession, channel: str, message_id: str
) -> uuid.UUID | None:
    """Whose message this is: a status callback names only the message (worker session)."""
    return await session.scalar(
        select(OutboundMessage.org_id).where(
            OutboundMessage.channel == channel, OutboundMessage.message_id == message_id
        )
    )
