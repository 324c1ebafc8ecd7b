"""At most five open link codes per person, counted under a lock so concurrent requests hold it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.base import utcnow
from core.db import Database
from core.errors import TooManyOpen
from core.users import identity
from core.users.models import LinkCode
from tests import factories


async def test_a_sixth_open_code_is_refused_with_the_wait_until_the_oldest_expires(
    session: AsyncSession,
) -> None:
    organization = await factories.org(session)
    dana = await factories.user(session, organization)
    start = utcnow()
    codes = [
        await identity.create_link_code(
            session=session,
            org_id=organization.id,
            user_id=dana.id,
            now=start + timedelta(minutes=n),
        )
        for n in range(identity.MAX_OPEN_CODES)
    ]
    later = start + timedelta(minutes=4)
    with pytest.raises(TooManyOpen, match="5 unused link codes") as refused:
        await identity.create_link_code(
            session=session, org_id=organization.id, user_id=dana.id, now=later
        )
    assert "the oldest expires in 11 minutes" in refused.value.message
    assert refused.value.retry_after == 11 * 60

    # Someone else's codes are their own count.
    sam = await factories.user(session, organization)
    await identity.create_link_code(
        session=session, org_id=organization.id, user_id=sam.id, now=later
    )
    # A redeemed code frees a place, and so does an expired one.
    await identity.redeem_link_code(
        session=session, code=codes[1], channel="slack", workspace="T1", external_user_id="U1"
    )
    await identity.create_link_code(
        session=session, org_id=organization.id, user_id=dana.id, now=later
    )
    with pytest.raises(TooManyOpen):
        await identity.create_link_code(
            session=session, org_id=organization.id, user_id=dana.id, now=later
        )
    after_first_expired = start + identity.CODE_TTL + timedelta(seconds=1)
    await identity.create_link_code(
        session=session, org_id=organization.id, user_id=dana.id, now=after_first_expired
    )


async def _open_codes(database: Database, user_id: uuid.UUID) -> int:
    async with database.system() as session:
        count = await session.scalar(
            select(func.count()).where(
                LinkCode.user_id == user_id,
                LinkCode.used_at.is_(None),
                LinkCode.expires_at > utcnow(),
            )
        )
    return int(count or 0)


async def test_concurrent_requests_never_get_past_the_cap(database: Database, backend: str) -> None:
    """Three open codes and four requests at once: exactly two more are issued.

    On PostgreSQL every request holds its own connection and transaction and all have read
    before any counts, so without the row lock each would count three and insert (seven open);
    SQLite's single writer serialises them.
    """
    async with database.system() as session:
        organization = await factories.org(session)
        dana = await factories.user(session, organization)
        for _ in range(3):
            await identity.create_link_code(
                session=session, org_id=organization.id, user_id=dana.id
            )
    requests = 4
    barrier = asyncio.Barrier(requests)

    async def request() -> str | TooManyOpen:
        try:
            async with database.tenant(organization.id) as session:
                if backend == "postgresql":
                    # Each transaction has begun (and holds a connection) before any counts.
                    await session.execute(text("SELECT 1"))
                    await barrier.wait()
                return await identity.create_link_code(
                    session=session, org_id=organization.id, user_id=dana.id
                )
        except TooManyOpen as refused:
            return refused

    outcomes = await asyncio.gather(*(request() for _ in range(requests)))

    issued = [outcome for outcome in outcomes if isinstance(outcome, str)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, TooManyOpen)]
    assert (len(issued), len(refused)) == (2, 2)
    assert await _open_codes(database, dana.id) == identity.MAX_OPEN_CODES
