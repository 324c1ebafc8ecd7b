"""Outbox rows for alerts meant for an org's admins (a broken ad-account connection, ...).

Rows only: the delivery job sends them. Written in the caller's transaction, so an alert
exists exactly when what caused it was committed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.notify.models import Destination, Notification
from core.users.models import ChannelIdentity, Role, User

ALERTS = "alerts"


def takes_alerts(destination: Destination) -> bool:
    """A destination with no kinds configured takes everything; otherwise it must opt in."""
    kinds = destination.kinds or {}
    return not kinds or bool(kinds.get(ALERTS))


async def notify_admins(
    *, session: AsyncSession, org_id: uuid.UUID, payload: dict[str, Any]
) -> list[Notification]:
    """One pending notification per alert destination of the org, or, when the org has none,
    one per chat identity of each active admin (a direct message)."""
    destinations = [
        destination
        for destination in await session.scalars(
            select(Destination)
            .where(Destination.org_id == org_id, Destination.enabled.is_(True))
            .order_by(Destination.created_at, Destination.id)
        )
        if takes_alerts(destination)
    ]
    rows: list[Notification]
    if destinations:
        rows = [
            Notification(
                org_id=org_id,
                destination_id=destination.id,
                channel=destination.channel,
                conversation_id=destination.conversation_id,
                payload=dict(payload),
            )
            for destination in destinations
        ]
    else:
        identities = await session.execute(
            select(
                ChannelIdentity.channel,
                ChannelIdentity.workspace,
                ChannelIdentity.external_user_id,
            )
            .join(User, User.id == ChannelIdentity.user_id)
            .where(
                ChannelIdentity.org_id == org_id,
                User.org_id == org_id,
                User.role == Role.ADMIN,
                User.is_active.is_(True),
            )
            .order_by(ChannelIdentity.channel, ChannelIdentity.external_user_id)
        )
        rows = [
            Notification(
                org_id=org_id,
                channel=channel,
                conversation_id=user_id,
                payload={**payload, "workspace": workspace},
            )
            for channel, workspace, user_id in identities
        ]
    session.add_all(rows)
    await session.flush()
    return rows
