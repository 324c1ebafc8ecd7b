"""An org on the sandbox platform with a live campaign, a team who can sign in, and cards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from adapters.sandbox import CampaignSpec, SandboxAdapter
from core.accounts.models import AdAccount
from core.approvals import service as approvals
from core.approvals.models import PendingAction
from core.campaigns.models import Campaign, CampaignStatus
from core.db import Database
from core.orgs.models import Organization
from core.rules import service as rules
from core.rules.models import Alert
from core.security import crypto
from core.users import service as users
from core.users.models import Role, User
from tests.web_min.conftest import web_user


@dataclass
class Shop:
    org: Organization
    admin: User
    admin2: User
    manager: User
    member: User
    campaign_id: uuid.UUID
    remote_id: str
    account_id: str
    token: str


async def shop_with_team(database: Database) -> Shop:
    """An org on the sandbox platform with one live campaign (50/day) and a team."""
    sandbox = SandboxAdapter(database)
    tokens = await sandbox.authenticate(code="web-test", redirect_uri="http://localhost/")
    made = await sandbox.provision_account(
        name="Shop · Sandbox",
        campaigns=[CampaignSpec(name="Summer Sale", daily_budget=Decimal(50))],
        history_days=3,
    )
    [remote] = made.campaigns
    admin = await web_user(database, role=Role.ADMIN)
    async with database.system() as session:
        org = await session.get(Organization, admin.org_id)
        assert org is not None
        account = AdAccount(
            org_id=org.id,
            platform="sandbox",
            external_id=made.account.external_id,
            name="Shop · Sandbox",
            currency="USD",
            timezone="UTC",
            sync_status="ok",
            access_token_encrypted=crypto.encrypt(tokens.access_token),
        )
        session.add(account)
        await session.flush()
        campaign = Campaign(
            org_id=org.id,
            ad_account_id=account.id,
            platform="sandbox",
            external_id=remote.external_id,
            name=remote.name,
            status=CampaignStatus.ACTIVE,
            daily_budget=remote.daily_budget,
            baseline_daily_budget=remote.daily_budget,
            currency="USD",
            extra={},
        )
        session.add(campaign)
        await session.flush()
        campaign_id = campaign.id
    return Shop(
        org=org,
        admin=admin,
        admin2=await web_user(database, role=Role.ADMIN, organization=org),
        manager=await web_user(database, role=Role.MANAGER, organization=org),
        member=await web_user(database, role=Role.USER, organization=org),
        campaign_id=campaign_id,
        remote_id=remote.external_id,
        account_id=made.account.external_id,
        token=tokens.access_token,
    )


async def propose_card(
    database: Database, shop: Shop, requester: User, **arguments: str
) -> PendingAction:
    kind = "set_budget" if "daily_budget" in arguments else "pause_campaign"
    async with database.tenant(shop.org.id) as session:
        return await approvals.propose(
            session=session,
            org_id=shop.org.id,
            kind=kind,
            arguments={"campaign_id": str(shop.campaign_id), **arguments},
            summary=f"{kind} Summer Sale",
            requested_by=requester,
            origin_channel="telegram",
        )


async def rule_with_alert(
    database: Database, org: Organization, *, mode: str, enabled: bool
) -> uuid.UUID:
    """A rule created the way chat creates one (by an admin), with one alert raised."""
    async with database.tenant(org.id) as session:
        admin = await users.first_admin(session=session, org_id=org.id)
        created = await rules.create_rule(
            session=session,
            org_id=org.id,
            user=admin,
            rule_in={
                "name": f"High CPA {mode}",
                "conditions": ["cpa last_3d > 50"],
                "action": {"type": "pause"},
                "mode": mode,
                "enabled": enabled,
                "scope": {"kind": "all"},
            },
        )
        session.add(
            Alert(org_id=org.id, rule_id=created.rule.id, scope_key="c1", message="CPA 61 > 50")
        )
        return created.rule.id
