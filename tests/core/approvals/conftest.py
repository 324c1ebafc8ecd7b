"""Approval fixtures: an org with a team, a sandbox account, a live campaign and a fake platform."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.campaigns.models import Campaign
from core.orgs.models import Organization
from core.ports import PlatformRegistry
from core.users.models import Role, User
from tests import factories
from tests.core.approvals.fakes import FakePlatform, registry_with


@dataclass
class World:
    org: Organization
    admin: User
    admin2: User
    manager: User
    member: User
    account: AdAccount
    campaign: Campaign


async def build_world(
    session: AsyncSession, *, org_settings: dict[str, object] | None = None
) -> World:
    organization = await factories.org(session)
    organization.settings = dict(org_settings or {})
    account = await factories.ad_account(session, organization)
    return World(
        org=organization,
        admin=await factories.user(session, organization, role=Role.ADMIN),
        admin2=await factories.user(session, organization, role=Role.ADMIN),
        manager=await factories.user(session, organization, role=Role.MANAGER),
        member=await factories.user(session, organization, role=Role.USER),
        account=account,
        campaign=await factories.campaign(session, account, daily_budget=Decimal("50")),
    )


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_world(session)


@pytest.fixture
def platform(world: World) -> FakePlatform:
    """A platform that has the world's campaign as it stands (a test's own world: `adopt`)."""
    fake = FakePlatform(name="sandbox")
    fake.adopt(world.campaign)
    return fake


@pytest.fixture
def registry(platform: FakePlatform) -> PlatformRegistry:
    return registry_with(platform)
