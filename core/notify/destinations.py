"""An org's alert destinations and delivery policy as admins edit them (audited, admin only).

Addresses arrive already checked in their channel's own terms (a phone number in E.164, a
webhook URL of the configured base): that knowledge lives with the channels, at the edge.
Here: who may change what, the kinds a destination takes, the secret encrypted, the audit row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.notify.models import Destination, Notification
from core.notify.policy import DeliveryPolicy, fallback_order, policy_of
from core.notify.service import FAILED, FALLBACK, KINDS, PENDING, org_destinations
from core.orgs.models import Organization
from core.rbac import Permission, require
from core.security.crypto import Cipher
from core.users.models import User

CHANNELS = ("slack", "telegram", "whatsapp", "signal", "email", "slack_webhook")
# Quiet hours hold alerts back, so a threshold above a day's worth of alerts means nothing.
MAX_DIGEST_THRESHOLD = 1000
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class DestinationIn:
    """A destination as the form gives it; `secret` is the plaintext credential (a webhook
    URL), None to keep the stored one."""

    channel: str
    conversation_id: str
    workspace: str = ""
    name: str | None = None
    kinds: dict[str, bool | str] = field(default_factory=dict)
    secret: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class PolicyIn:
    """Quiet hours (both or neither), the digest threshold, and the fallbacks' order."""

    quiet_start: time | None
    quiet_end: time | None
    digest_threshold: int
    fallback_order: list[uuid.UUID] = field(default_factory=list)


def _authorise(user: User, org_id: uuid.UUID) -> None:
    if user.org_id != org_id:
        raise PermissionDenied(f"{user.email} is not a member of this organization.")
    require(user, Permission.MANAGE_DESTINATIONS)


def _checked_kinds(kinds: dict[str, bool | str]) -> dict[str, bool | str]:
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValidationFailed(f"Unknown alert kind {unknown[0]!r}.", field="kinds")
    for kind, value in kinds.items():
        if value is not True and value != FALLBACK:
            raise ValidationFailed(f"{kind}: choose on, off or fallback only.", field="kinds")
    return dict(kinds)


def _checked(destination_in: DestinationIn) -> None:
    if destination_in.channel not in CHANNELS:
        raise ValidationFailed(f"Unknown channel {destination_in.channel!r}.", field="channel")
    if not destination_in.conversation_id or len(destination_in.conversation_id) > 200:
        raise ValidationFailed("Say where the messages go.", field="conversation_id")
    if destination_in.name is not None and len(destination_in.name) > MAX_NAME_CHARS:
        raise ValidationFailed(
            f"The name may have {MAX_NAME_CHARS} characters at most.", field="name"
        )
    _checked_kinds(destination_in.kinds)


def _snapshot(destination: Destination) -> dict[str, Any]:
    # The webhook URL is the credential: the audit row names it by its label only.
    return {
        "channel": destination.channel,
        "workspace": destination.workspace,
        "conversation_id": destination.conversation_id,
        "name": destination.name,
        "kinds": dict(destination.kinds),
        "enabled": destination.enabled,
    }


async def _audit(
    session: AsyncSession,
    *,
    user: User,
    channel: str,
    action: str,
    destination: Destination,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await record(
        session=session,
        actor=Actor(org_id=destination.org_id, user_id=user.id, channel=channel),
        action=action,
        resource_type="destination",
        resource_id=destination.id,
        before=before,
        after=after,
    )


async def get_destination(
    *, session: AsyncSession, org_id: uuid.UUID, destination_id: uuid.UUID
) -> Destination:
    """The org's destination; another org's is simply not found."""
    destination = await session.scalar(
        select(Destination).where(Destination.org_id == org_id, Destination.id == destination_id)
    )
    if destination is None:
        raise NotFound("No such alert destination in this organization.")
    return destination


async def list_destinations(*, session: AsyncSession, org_id: uuid.UUID) -> list[Destination]:
    """The org's destinations in fallback order."""
    return await org_destinations(session, org_id)


async def create_destination(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    destination_in: DestinationIn,
    cipher: Cipher,
    channel: str = "web",
) -> Destination:
    """Add a destination; its credential (if any) is stored encrypted."""
    _authorise(user, org_id)
    _checked(destination_in)
    if destination_in.channel == "slack_webhook" and not destination_in.secret:
        raise ValidationFailed("A Slack webhook destination needs its URL.", field="secret")
    destination = Destination(
        org_id=org_id,
        channel=destination_in.channel,
        workspace=destination_in.workspace,
        conversation_id=destination_in.conversation_id,
        name=destination_in.name,
        kinds=_checked_kinds(destination_in.kinds),
        enabled=destination_in.enabled,
        secret=cipher.encrypt(destination_in.secret) if destination_in.secret else None,
    )
    session.add(destination)
    await session.flush()
    await _audit(
        session,
        user=user,
        channel=channel,
        action="destination.created",
        destination=destination,
        before=None,
        after=_snapshot(destination),
    )
    return destination


async def update_destination(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    destination_id: uuid.UUID,
    destination_in: DestinationIn,
    cipher: Cipher,
    channel: str = "web",
) -> Destination:
    """Change a destination; a webhook keeps its stored URL unless a new one is given."""
    _authorise(user, org_id)
    _checked(destination_in)
    destination = await get_destination(
        session=session, org_id=org_id, destination_id=destination_id
    )
    before = _snapshot(destination)
    if destination_in.channel != destination.channel:
        # A credential belongs to its channel: switching channel drops it.
        destination.secret = None
    if destination_in.secret:
        destination.secret = cipher.encrypt(destination_in.secret)
    if destination_in.channel == "slack_webhook" and not destination.secret:
        raise ValidationFailed("A Slack webhook destination needs its URL.", field="secret")
    destination.channel = destination_in.channel
    destination.workspace = destination_in.workspace
    destination.conversation_id = destination_in.conversation_id
    destination.name = destination_in.name
    destination.kinds = _checked_kinds(destination_in.kinds)
    destination.enabled = destination_in.enabled
    await session.flush()
    await _audit(
        session,
        user=user,
        channel=channel,
        action="destination.updated",
        destination=destination,
        before=before,
        after=_snapshot(destination),
    )
    return destination


async def delete_destination(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    destination_id: uuid.UUID,
    channel: str = "web",
) -> None:
    """Remove a destination; what still waits for it in the outbox fails instead of going to
    an address the org took away."""
    _authorise(user, org_id)
    destination = await get_destination(
        session=session, org_id=org_id, destination_id=destination_id
    )
    await session.execute(
        update(Notification)
        .where(
            Notification.org_id == org_id,
            Notification.destination_id == destination.id,
            Notification.status == PENDING,
        )
        .values(status=FAILED, last_error="destination deleted")
    )
    await _audit(
        session,
        user=user,
        channel=channel,
        action="destination.deleted",
        destination=destination,
        before=_snapshot(destination),
        after=None,
    )
    await session.delete(destination)
    await session.flush()


async def record_test(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    destination: Destination,
    outcome: str,
    channel: str = "web",
) -> None:
    """Audit a test message and how it went (an admin action like the others)."""
    _authorise(user, org_id)
    await _audit(
        session,
        user=user,
        channel=channel,
        action="destination.tested",
        destination=destination,
        before=None,
        after={"outcome": outcome[:300]},
    )


async def set_policy(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    policy_in: PolicyIn,
    channel: str = "web",
) -> dict[str, Any]:
    """Store quiet hours, digest threshold and fallback order in the org's settings."""
    _authorise(user, org_id)
    if (policy_in.quiet_start is None) != (policy_in.quiet_end is None):
        raise ValidationFailed(
            "Give quiet hours both a start and an end, or neither.", field="quiet"
        )
    if policy_in.quiet_start is not None and policy_in.quiet_start == policy_in.quiet_end:
        raise ValidationFailed("Quiet hours must start and end at different times.", field="quiet")
    if not 0 <= policy_in.digest_threshold <= MAX_DIGEST_THRESHOLD:
        raise ValidationFailed(
            f"The digest threshold is a number from 0 (off) to {MAX_DIGEST_THRESHOLD}.",
            field="digest_threshold",
        )
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organization.")
    known = {destination.id for destination in await org_destinations(session, org_id)}
    if any(item not in known for item in policy_in.fallback_order):
        raise ValidationFailed("The fallback order names an unknown destination.", field="fallback")
    if len(set(policy_in.fallback_order)) != len(policy_in.fallback_order):
        raise ValidationFailed(
            "Each destination appears once in the fallback order.", field="fallback"
        )
    settings = dict(org.settings or {})
    before = dict(settings.get("notifications") or {})
    section: dict[str, Any] = {**before, "digest_threshold": policy_in.digest_threshold}
    if policy_in.quiet_start is not None and policy_in.quiet_end is not None:
        section["quiet_hours"] = {
            "start": policy_in.quiet_start.strftime("%H:%M"),
            "end": policy_in.quiet_end.strftime("%H:%M"),
        }
    else:
        section.pop("quiet_hours", None)
    section["fallback_order"] = [str(item) for item in policy_in.fallback_order]
    org.settings = {**settings, "notifications": section}
    await record(
        session=session,
        actor=Actor(org_id=org_id, user_id=user.id, channel=channel),
        action="notify.policy_updated",
        resource_type="organization",
        resource_id=org_id,
        before=before,
        after=section,
    )
    await session.flush()
    return section


def current_policy(org: Organization) -> tuple[DeliveryPolicy, list[str]]:
    """The org's delivery policy as delivery reads it, and its stored fallback order."""
    settings = org.settings or {}
    return policy_of(org.timezone, settings), fallback_order(settings)
