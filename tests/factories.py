"""Plain async builders for test data; each flushes and returns the ORM object.

The `session` fixture is a tenant session (the app role under RLS on PostgreSQL): `org` binds it
to the org it creates, as a signed-up org acts as itself; `act_as` switches to another org.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.campaigns.models import Campaign, CampaignStatus
from core.db import set_tenant
from core.metrics.models import CampaignMetric
from core.metrics.windows import day_start
from core.orgs.models import Organization, PlanTier
from core.security.crypto import encrypt
from core.security.passwords import hash_password
from core.users.models import Role, User

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


async def org(
    session: AsyncSession,
    *,
    name: str | None = None,
    plan: PlanTier = PlanTier.FREE,
    timezone: str = "UTC",
    currency: str = "USD",
) -> Organization:
    """A new org, and the session bound to it (needed under RLS). On a worker or owner session
    the binding changes no visibility, but services that read the session's tenant (the
    metrics upsert's default scope) then act for this org too."""
    n = _n()
    org_id = uuid.uuid4()
    # RLS checks the new row against the binding, so bind before inserting.
    await set_tenant(session, org_id)
    row = Organization(
        id=org_id,
        name=name or f"Org {n}",
        slug=f"org-{n}-{uuid.uuid4().hex[:6]}",
        plan=plan,
        timezone=timezone,
        currency=currency,
        settings={},
    )
    session.add(row)
    await session.flush()
    return row


async def act_as(session: AsyncSession, organization: Organization | uuid.UUID) -> None:
    """From here on the session acts as `organization`, bound the way Database.tenant binds."""
    org_id = organization.id if isinstance(organization, Organization) else organization
    await set_tenant(session, org_id)


# The password `user(..., password=TEST_PASSWORD)` signs in with (tests.web_min.conftest).
TEST_PASSWORD = "correct horse battery"


async def user(
    session: AsyncSession,
    organization: Organization,
    *,
    role: Role = Role.USER,
    email: str | None = None,
    password: str | None = None,
    totp_secret: str | None = None,
    is_operator: bool = False,
) -> User:
    """A user; with `password` they can sign in on the web, with `totp_secret` MFA is on."""
    row = User(
        org_id=organization.id,
        email=email or f"user{_n()}-{uuid.uuid4().hex[:6]}@example.com",
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        totp_secret_encrypted=encrypt(totp_secret) if totp_secret is not None else None,
        totp_enabled=totp_secret is not None,
        is_operator=is_operator,
    )
    session.add(row)
    await session.flush()
    return row


async def ad_account(
    session: AsyncSession,
    organization: Organization,
    *,
    platform: str = "sandbox",
    timezone: str = "UTC",
    currency: str = "USD",
) -> AdAccount:
    row = AdAccount(
        org_id=organization.id,
        platform=platform,
        external_id=f"acct-{_n()}",
        name=f"{platform} account",
        timezone=timezone,
        currency=currency,
    )
    session.add(row)
    await session.flush()
    return row


async def campaign(
    session: AsyncSession,
    account: AdAccount,
    *,
    name: str | None = None,
    status: CampaignStatus = CampaignStatus.ACTIVE,
    daily_budget: Decimal | None = Decimal("50"),
) -> Campaign:
    row = Campaign(
        org_id=account.org_id,
        ad_account_id=account.id,
        platform=account.platform,
        external_id=f"cmp-{_n()}",
        name=name or f"Campaign {_n()}",
        status=status,
        daily_budget=daily_budget,
        baseline_daily_budget=daily_budget,
        currency=account.currency,
        extra={},
    )
    session.add(row)
    await session.flush()
    return row


async def daily_metrics(
    session: AsyncSession,
    target: Campaign,
    *,
    first_day: date,
    days: int,
    timezone: str = "UTC",
    impressions: int = 1000,
    clicks: int = 50,
    spend: Decimal = Decimal("40"),
    conversions: Decimal = Decimal("2"),
    conversion_value: Decimal = Decimal("120"),
) -> list[CampaignMetric]:
    rows = [
        CampaignMetric(
            campaign_id=target.id,
            platform=target.platform,
            recorded_at=day_start(first_day + timedelta(days=offset), timezone),
            org_id=target.org_id,
            impressions=impressions,
            clicks=clicks,
            spend=spend,
            conversions=conversions,
            conversion_value=conversion_value,
        )
        for offset in range(days)
    ]
    session.add_all(rows)
    await session.flush()
    return rows
