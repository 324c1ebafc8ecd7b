"""Outbound delivery status: recorded per platform message id, only ever moving forward."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.base import utcnow
from core.deliveries import service
from core.errors import ValidationFailed
from tests import factories

WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


async def _record(session: AsyncSession, org_id: object, status: str, **extra: object) -> bool:
    return await service.record_status(
        session=session,
        org_id=org_id,  # type: ignore[arg-type]
        channel="whatsapp",
        conversation_id="+16505551234",
        message_id=extra.pop("message_id", WAMID),  # type: ignore[arg-type]
        status=status,
        **extra,  # type: ignore[arg-type]
    )


async def test_statuses_move_forward_and_never_back(session: AsyncSession) -> None:
    org = await factories.org(session)
    assert await _record(session, org.id, "accepted")
    assert await _record(session, org.id, "read")  # read can come before delivered
    assert not await _record(session, org.id, "delivered")
    assert not await _record(session, org.id, "sent")
    assert not await _record(session, org.id, "accepted")  # the send path, late
    row = await service.find(session=session, org_id=org.id, channel="whatsapp", message_id=WAMID)
    assert row is not None
    assert row.status == "read"


async def test_a_failure_is_kept_with_its_code_and_listed_for_the_outbox(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    await _record(session, org.id, "sent")
    assert await _record(
        session, org.id, "failed", error_code=131047, error_title="Re-engagement message"
    )
    assert not await _record(session, org.id, "read")  # failed is final
    [failed] = await service.list_failed(session=session, org_id=org.id, channel="whatsapp")
    assert (failed.message_id, failed.error_code, failed.error_title) == (
        WAMID,
        131047,
        "Re-engagement message",
    )
    later = utcnow() + timedelta(minutes=1)
    assert await service.list_failed(session=session, org_id=org.id, since=later) == []


async def test_a_callback_before_the_send_path_recorded_the_message_is_kept(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    assert await _record(session, org.id, "delivered")
    assert not await _record(session, org.id, "accepted")
    row = await service.find(session=session, org_id=org.id, channel="whatsapp", message_id=WAMID)
    assert row is not None
    assert row.status == "delivered"


async def test_the_org_of_a_message_is_found_by_its_id(session: AsyncSession) -> None:
    org = await factories.org(session)
    await _record(session, org.id, "accepted")
    found = await service.org_of_message(session=session, channel="whatsapp", message_id=WAMID)
    assert found == org.id
    missing = await service.org_of_message(session=session, channel="whatsapp", message_id="x")
    assert missing is None


async def test_an_unknown_status_is_refused(session: AsyncSession) -> None:
    org = await factories.org(session)
    with pytest.raises(ValidationFailed, match="Unknown delivery status"):
        await _record(session, org.id, "deleted")


async def test_another_orgs_messages_are_not_seen(session: AsyncSession) -> None:
    mine = await factories.org(session)
    await _record(session, mine.id, "failed", error_code=131026)
    theirs = await factories.org(session)
    assert await service.list_failed(session=session, org_id=theirs.id) == []
    found = await service.find(
        session=session, org_id=theirs.id, channel="whatsapp", message_id=WAMID
    )
    assert found is None
