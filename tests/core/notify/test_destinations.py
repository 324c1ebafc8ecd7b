"""Alert destinations and delivery policy as admins edit them: RBAC, validation, secrets, order."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.notify import destinations
from core.notify import service as outbox
from core.notify.destinations import DestinationIn, PolicyIn
from core.notify.models import Destination, Notification
from core.orgs.models import Organization
from core.security.crypto import get_cipher
from core.users.models import Role, User
from tests import factories

HOOK = "https://hooks.slack.com/services/T0001/B0002/abcdefSECRET"


async def _admin(session: AsyncSession) -> tuple[Organization, User]:
    org = await factories.org(session)
    return org, await factories.user(session, org, role=Role.ADMIN)


async def _add(
    session: AsyncSession, org: Organization, user: User, destination_in: DestinationIn
) -> Destination:
    return await destinations.create_destination(
        session=session,
        org_id=org.id,
        user=user,
        destination_in=destination_in,
        cipher=get_cipher(),
    )


async def test_a_webhook_url_is_stored_encrypted_and_audited_by_label_only(
    session: AsyncSession,
) -> None:
    org, admin = await _admin(session)
    added = await _add(
        session,
        org,
        admin,
        DestinationIn(
            channel="slack_webhook",
            conversation_id="T0001/B0002",
            kinds={"alerts": True},
            secret=HOOK,
        ),
    )
    assert added.secret is not None
    assert "SECRET" not in added.secret
    assert get_cipher().decrypt(added.secret) == HOOK
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "destination.created"))
    assert audit is not None
    assert "SECRET" not in str(audit.after)


async def test_only_admins_change_destinations(session: AsyncSession) -> None:
    org = await factories.org(session)
    manager = await factories.user(session, org, role=Role.MANAGER)
    with pytest.raises(PermissionDenied, match="change where alerts go"):
        await _add(session, org, manager, DestinationIn(channel="email", conversation_id="a@b.io"))


async def test_unknown_kinds_and_values_are_refused(session: AsyncSession) -> None:
    org, admin = await _admin(session)
    with pytest.raises(ValidationFailed, match="Unknown alert kind"):
        await _add(session, org, admin, DestinationIn("email", "a@b.io", kinds={"gossip": True}))
    with pytest.raises(ValidationFailed, match="on, off or fallback"):
        await _add(session, org, admin, DestinationIn("email", "a@b.io", kinds={"alerts": "x"}))
    with pytest.raises(ValidationFailed, match="needs its URL"):
        await _add(session, org, admin, DestinationIn("slack_webhook", "T1/B1"))


async def test_deleting_fails_what_still_waits_for_it(session: AsyncSession) -> None:
    org, admin = await _admin(session)
    chat = await _add(
        session, org, admin, DestinationIn("telegram", "-1001", kinds={"alerts": True})
    )
    [row] = await outbox.notify(session=session, org_id=org.id, kind="alerts", text="CPA up")
    await session.flush()

    await destinations.delete_destination(
        session=session, org_id=org.id, user=admin, destination_id=chat.id
    )

    await session.refresh(row)
    assert (row.status, row.last_error) == ("failed", "destination deleted")
    with pytest.raises(NotFound):
        await destinations.get_destination(session=session, org_id=org.id, destination_id=chat.id)
    assert (
        await session.scalar(select(Notification.id).where(Notification.status == "pending"))
        is None
    )


async def test_the_fallback_order_decides_which_fallback_is_tried_first(
    session: AsyncSession,
) -> None:
    org, admin = await _admin(session)
    first = await _add(
        session, org, admin, DestinationIn("email", "a@b.io", kinds={"alerts": "fallback"})
    )
    second = await _add(
        session, org, admin, DestinationIn("signal", "+4915112345678", kinds={"alerts": "fallback"})
    )
    assert [d.id for d in await outbox.org_destinations(session, org.id)] == [first.id, second.id]

    section = await destinations.set_policy(
        session=session,
        org_id=org.id,
        user=admin,
        policy_in=PolicyIn(time(22), time(7), 3, fallback_order=[second.id, first.id]),
    )

    assert section["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert [d.id for d in await outbox.org_destinations(session, org.id)] == [second.id, first.id]
    policy, order = destinations.current_policy(org)
    assert (policy.digest_threshold, policy.quiet_start, order) == (
        3,
        time(22),
        [str(second.id), str(first.id)],
    )


@pytest.mark.parametrize(
    ("policy_in", "message"),
    [
        (PolicyIn(time(22), None, 5), "both a start and an end"),
        (PolicyIn(time(8), time(8), 5), "different times"),
        (PolicyIn(None, None, -1), "from 0"),
        (PolicyIn(None, None, 1001), "from 0"),
    ],
)
async def test_policy_validation(session: AsyncSession, policy_in: PolicyIn, message: str) -> None:
    org, admin = await _admin(session)
    with pytest.raises(ValidationFailed, match=message):
        await destinations.set_policy(
            session=session, org_id=org.id, user=admin, policy_in=policy_in
        )
