"""The shared database fixtures hold the trust level they promise (tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.campaigns.models import Campaign
from core.orgs.models import Organization
from tests import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]


async def _login(session: AsyncSession) -> tuple[str, bool, bool]:
    row = (
        await session.execute(
            text(
                "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles"
                " WHERE rolname = current_user"
            )
        )
    ).one()
    return str(row[0]), bool(row[1]), bool(row[2])


async def test_session_is_the_app_role_and_row_level_security_applies(
    session: AsyncSession,
) -> None:
    assert await _login(session) == ("adpilot_app", False, False)
    mine = await factories.org(session)
    theirs = await factories.org(session)
    their_account = await factories.ad_account(session, theirs)
    await factories.campaign(session, their_account)

    await factories.act_as(session, mine)
    # Unfiltered queries: only RLS can narrow these to the bound org.
    assert list(await session.scalars(select(Organization.id))) == [mine.id]
    assert await session.scalar(select(func.count()).select_from(Campaign)) == 0
    with pytest.raises(DBAPIError, match='row-level security policy for table "campaigns"'):
        async with session.begin_nested():
            await factories.campaign(session, their_account)


async def test_system_session_is_the_worker_role_across_orgs(system_session: AsyncSession) -> None:
    assert await _login(system_session) == ("adpilot_worker", False, True)
    first, second = await factories.org(system_session), await factories.org(system_session)
    seen = set(await system_session.scalars(select(Organization.id)))
    assert {first.id, second.id} <= seen


async def test_owner_session_is_the_owner_login(owner_session: AsyncSession) -> None:
    name, superuser, _ = await _login(owner_session)
    assert (name, superuser) == ("postgres", True)
