"""Approval fixtures: an org with a team, a sandbox account, a live campaign and a fake platform."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.approvals import flows, service
from core.approvals.models import ActionStatus, PendingAction
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


async def propose_card(
    session: AsyncSession,
    world: World,
    budget: str | None,
    *,
    kind: str = "set_budget",
    requester: User | None = None,
) -> PendingAction:
    """A card on the world's campaign, asked for on Slack by the manager unless said."""
    arguments: dict[str, Any] = {"campaign_id": str(world.campaign.id)}
    if budget is not None:
        arguments["daily_budget"] = budget
    return await service.propose(
        session=session,
        org_id=world.org.id,
        kind=kind,
        arguments=arguments,
        summary=f"{kind} {budget}",
        requested_by=requester or world.manager,
        origin_channel="slack",
    )


async def approve_card(
    session: AsyncSession,
    world: World,
    card: PendingAction,
    registry: PlatformRegistry,
    user: User | None = None,
) -> ActionStatus:
    """Approve on Slack, as the admin unless said; the action's status afterwards."""
    result = await flows.decide(
        session=session,
        org_id=world.org.id,
        action_ref=card.short_code,
        user=user or world.admin,
        approve=True,
        channel="slack",
        registry=registry,
    )
    return ActionStatus(result.action.status)
