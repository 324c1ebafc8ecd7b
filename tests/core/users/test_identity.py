"""Linking chat accounts with one-time codes and resolving who is speaking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.models import AuditLog
from core.base import utcnow
from core.errors import Conflict, Expired, NotFound, ValidationFailed
from core.users import identity
from tests import factories


async def test_code_links_once_and_resolves(session: AsyncSession) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    code = await identity.create_link_code(session=session, org_id=organization.id, user_id=dana.id)
    assert len(code) == 9
    assert code[4] == "-"

    speaker = await identity.redeem_link_code(
        session=session, code=code.lower(), channel="slack", workspace="T1", external_user_id="U1"
    )
    assert (speaker.org_id, speaker.user_id) == (organization.id, dana.id)
    resolved = await identity.resolve(
        session=session, channel="slack", workspace="T1", external_user_id="U1"
    )
    assert resolved == speaker
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "identity.link"))
    assert audit is not None
    assert audit.user_id == dana.id

    with pytest.raises(Conflict, match="used already"):
        await identity.redeem_link_code(
            session=session, code=code, channel="slack", workspace="T1", external_user_id="U2"
        )


async def test_unknown_chat_user_resolves_to_nobody(session: AsyncSession) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    code = await identity.create_link_code(session=session, org_id=organization.id, user_id=dana.id)
    await identity.redeem_link_code(
        session=session, code=code, channel="telegram", workspace="", external_user_id="42"
    )
    for channel, workspace, user in [("telegram", "", "43"), ("slack", "", "42")]:
        assert (
            await identity.resolve(
                session=session, channel=channel, workspace=workspace, external_user_id=user
            )
            is None
        )


async def test_expired_malformed_and_unknown_codes(session: AsyncSession) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    old = await identity.create_link_code(
        session=session, org_id=organization.id, user_id=dana.id, now=utcnow() - timedelta(hours=1)
    )
    with pytest.raises(Expired):
        await identity.redeem_link_code(
            session=session, code=old, channel="signal", workspace="", external_user_id="+4912"
        )
    with pytest.raises(ValidationFailed):
        await identity.redeem_link_code(
            session=session, code="hello", channel="signal", workspace="", external_user_id="+4912"
        )
    with pytest.raises(NotFound):
        await identity.redeem_link_code(
            session=session,
            code="ABCD-2345",
            channel="signal",
            workspace="",
            external_user_id="+49",
        )


async def test_an_account_cannot_be_linked_twice(session: AsyncSession) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    first = await identity.create_link_code(
        session=session, org_id=organization.id, user_id=dana.id
    )
    second = await identity.create_link_code(
        session=session, org_id=organization.id, user_id=dana.id
    )
    await identity.redeem_link_code(
        session=session, code=first, channel="slack", workspace="T1", external_user_id="U9"
    )
    with pytest.raises(Conflict, match="linked already"):
        await identity.redeem_link_code(
            session=session, code=second, channel="slack", workspace="T1", external_user_id="U9"
        )


async def test_inactive_users_are_not_resolved(session: AsyncSession) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    code = await identity.create_link_code(session=session, org_id=organization.id, user_id=dana.id)
    await identity.redeem_link_code(
        session=session, code=code, channel="slack", workspace="T1", external_user_id="U5"
    )
    dana.is_active = False
    await session.flush()
    assert (
        await identity.resolve(
            session=session, channel="slack", workspace="T1", external_user_id="U5"
        )
        is None
    )


async def test_the_last_inbound_time_only_moves_forward(session: AsyncSession) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    code = await identity.create_link_code(session=session, org_id=organization.id, user_id=dana.id)
    await identity.redeem_link_code(
        session=session, code=code, channel="whatsapp", workspace="", external_user_id="+1650555"
    )
    where = {"channel": "whatsapp", "workspace": "", "external_user_id": "+1650555"}
    contact = await identity.known_contact(session=session, **where)
    assert contact is not None
    assert (contact.org_id, contact.last_inbound_at) == (organization.id, None)
    now = utcnow().replace(microsecond=0)
    await identity.note_inbound(session=session, org_id=organization.id, at=now, **where)
    # A late redelivery of an older message does not move the mark back.
    older = now - timedelta(hours=3)
    await identity.note_inbound(session=session, org_id=organization.id, at=older, **where)
    session.expire_all()
    contact = await identity.known_contact(session=session, **where)
    assert contact is not None
    assert contact.last_inbound_at == now
    nobody = {**where, "external_user_id": "+1999"}
    assert await identity.known_contact(session=session, **nobody) is None
