"""The demo org behind `adpilot demo`, and the embedded registry the console runs on.

Composition-root code: it may import adapters/ and core/ alike. Seeding is idempotent — every
step looks for what an earlier run made (by slug, email, account name, rule name) before it
creates anything; metrics go through the idempotent upsert, so a second run only refreshes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters import build_registry
from adapters.sandbox import CampaignSpec, SandboxAdapter
from core.accounts.models import AdAccount
from core.audit.service import Actor
from core.campaigns import service as campaigns
from core.campaigns.models import Campaign, CampaignStatus
from core.campaigns.schemas import CampaignCreate
from core.config import Settings
from core.db import Database
from core.errors import NotFound
from core.metrics import upsert as metrics_upsert
from core.metrics.schemas import MetricIn
from core.metrics.windows import day_start, today_in
from core.notify.models import Destination
from core.orgs import service as orgs
from core.orgs.models import Organization, PlanTier
from core.ports import (
    PlatformRegistry,
)
from core.rules import service as rules
from core.rules.models import Rule
from core.security import crypto
from core.users import service as users
from core.users.models import Role, User

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Co"
DEMO_TIMEZONE = "America/New_York"
DEMO_CURRENCY = "USD"
HISTORY_DAYS = 30
DISPLAY_PLATFORMS = ("google", "meta", "tiktok")

PEOPLE: tuple[tuple[str, str, Role], ...] = (
    ("demo-admin@example.com", "Avery Admin", Role.ADMIN),
    ("demo-manager@example.com", "Morgan Manager", Role.MANAGER),
    ("demo-user@example.com", "Uma User", Role.USER),
)


def _spec(name: str, budget: int, profile: str = "steady") -> CampaignSpec:
    return CampaignSpec(name=name, daily_budget=Decimal(budget), profile=profile)  # type: ignore[arg-type]


# Platform -> (account name, campaigns). "Summer Sale 2026 – TikTok" is the one whose CPA is bad.
ACCOUNTS: dict[str, tuple[str, tuple[CampaignSpec, ...]]] = {
    "google": (
        "Demo Co · Google Ads",
        (
            _spec("Summer Sale 2026 – Search", 120),
            _spec("Summer Sale 2026 – Shopping", 90, "volatile"),
            _spec("Brand Search", 40),
            _spec("Competitor Conquest", 60, "volatile"),
        ),
    ),
    "meta": (
        "Demo Co · Meta Ads",
        (
            _spec("Summer Sale 2026 – Reels", 100),
            _spec("Summer Lookalikes", 70),
            _spec("Retargeting – Cart Abandoners", 50),
            _spec("Prospecting – Broad", 80, "volatile"),
        ),
    ),
    "tiktok": (
        "Demo Co · TikTok Ads",
        (
            _spec("Summer Sale 2026 – TikTok", 150, "failing"),
            _spec("Summer Creators Spark Ads", 60),
            _spec("App Installs – Q3", 75, "volatile"),
            _spec("Always-on Awareness", 45),
        ),
    ),
}

RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "High CPA guard",
        "conditions": {"all": ["cpa last_3d > 60"]},
        "guards": {"min_spend": 100},
        "action": {"type": "pause"},
        "mode": "approve",
    },
    {
        "name": "Scale winners",
        "conditions": {"all": ["roas last_7d > 4"]},
        "action": {"type": "notify"},
        "mode": "notify",
    },
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeedSummary:
    org_id: uuid.UUID
    accounts: int
    campaigns: int
    metric_rows: int
    rules: int


def embedded_registry(settings: Settings, database: Database) -> PlatformRegistry:
    """The registry the console runs on: the sandbox stands in for unconfigured platforms."""
    return build_registry(settings, database, simulate_unconfigured=True)


async def seed(settings: Settings, *, slug: str = DEMO_SLUG, progress: Progress) -> SeedSummary:
    """Create (or complete) the demo org; safe to run any number of times."""
    database = Database(settings)
    try:
        async with database.system() as session:
            org = await _ensure_org(session, slug, progress)
            admin = await _ensure_people(session, org, slug, progress)
            org_id, admin_id, admin_email = org.id, admin.id, admin.email
        sandbox = SandboxAdapter(database)
        actor = Actor(org_id=org_id, user_id=admin_id, channel="cli", source="adpilot demo")
        accounts: list[AdAccount] = []
        for platform, (account_name, specs) in ACCOUNTS.items():
            accounts.append(
                await _ensure_account(
                    database, sandbox, actor, platform, account_name, specs, progress
                )
            )
        metric_rows = 0
        for account in accounts:
            metric_rows += await _load_metrics(database, sandbox, org_id, account)
        progress(f"{metric_rows} daily metric rows ({HISTORY_DAYS} days) stored")
        async with database.system() as session:
            rule_count = await _ensure_rules(session, org_id, admin_id, progress)
            await _ensure_console_destination(session, org_id, admin_email, progress)
            campaign_count = len(await campaigns.list_campaigns(session=session, org_id=org_id))
        return SeedSummary(org_id, len(accounts), campaign_count, metric_rows, rule_count)
    finally:
        await database.dispose()


async def _ensure_org(session: AsyncSession, slug: str, progress: Progress) -> Organization:
    try:
        org = await orgs.get_by_slug(session=session, slug=slug)
    except NotFound:
        name = DEMO_NAME if slug == DEMO_SLUG else f"{DEMO_NAME} ({slug})"
        org = await orgs.create(
            session=session,
            name=name,
            slug=slug,
            plan=PlanTier.PRO,
            timezone=DEMO_TIMEZONE,
            currency=DEMO_CURRENCY,
        )
        progress(f"created organization {org.name} (slug {org.slug}, {org.timezone})")
    else:
        progress(f"organization {org.name} exists (slug {org.slug})")
    return org


def _email_for(email: str, slug: str) -> str:
    # Emails are unique across AdPilot, so a second demo org gets its own addresses.
    return email if slug == DEMO_SLUG else email.replace("@", f"+{slug}@")


async def _ensure_people(
    session: AsyncSession, org: Organization, slug: str, progress: Progress
) -> User:
    made: list[User] = []
    for template, name, role in PEOPLE:
        email = _email_for(template, slug)
        try:
            person = await users.get_by_email(session=session, org_id=org.id, email=email)
        except NotFound:
            person = await users.create(
                session=session, org_id=org.id, email=email, role=role, name=name
            )
            progress(f"created {role.value} {email}")
        made.append(person)
    return made[0]


async def _ensure_account(
    database: Database,
    sandbox: SandboxAdapter,
    actor: Actor,
    platform: str,
    account_name: str,
    specs: tuple[CampaignSpec, ...],
    progress: Progress,
) -> AdAccount:
    async with database.system() as session:
        existing = await session.scalar(
            select(AdAccount).where(
                AdAccount.org_id == actor.org_id,
                AdAccount.platform == platform,
                AdAccount.name == account_name,
            )
        )
    if existing is not None:
        progress(f"{platform}: account {account_name} exists")
        return existing
    # Connected like a real account: the sandbox's OAuth issues tokens, stored encrypted.
    tokens = await sandbox.authenticate(code="adpilot-demo", redirect_uri="http://localhost/")
    made = await sandbox.provision_account(
        name=account_name,
        currency=DEMO_CURRENCY,
        timezone=DEMO_TIMEZONE,
        campaigns=specs,
        history_days=HISTORY_DAYS,
    )
    async with database.system() as session:
        account = AdAccount(
            org_id=actor.org_id,
            platform=platform,
            external_id=made.account.external_id,
            name=account_name,
            currency=made.account.currency,
            timezone=made.account.timezone,
            sync_status="ok",
            access_token_encrypted=crypto.encrypt(tokens.access_token),
            refresh_token_encrypted=crypto.encrypt_optional(tokens.refresh_token),
            token_expires_at=tokens.expires_at,
        )
        session.add(account)
        await session.flush()
        for remote in made.campaigns:
            campaign_in = CampaignCreate(
                ad_account_id=account.id,
                name=remote.name,
                external_id=remote.external_id,
                objective=remote.objective,
                daily_budget=remote.daily_budget,
                status=CampaignStatus.ACTIVE,
            )
            await campaigns.create(
                session=session, org_id=actor.org_id, actor=actor, campaign_in=campaign_in
            )
    progress(f"{platform}: created account {account_name} with {len(made.campaigns)} campaigns")
    return account


async def _load_metrics(
    database: Database, sandbox: SandboxAdapter, org_id: uuid.UUID, account: AdAccount
) -> int:
    """The sandbox's deterministic daily figures for the history window, upserted."""
    last: date = today_in(account.timezone)
    first = last - timedelta(days=HISTORY_DAYS)
    token = crypto.decrypt_optional(account.access_token_encrypted) or ""
    rows = await sandbox.get_metrics(account.external_id, None, first, last, token)
    async with database.system() as session:
        owned = await session.execute(
            select(Campaign.external_id, Campaign.id).where(
                Campaign.org_id == org_id, Campaign.ad_account_id == account.id
            )
        )
        ids = {external_id: campaign_id for external_id, campaign_id in owned.tuples()}
        metrics = [
            MetricIn(
                campaign_id=ids[row.campaign_external_id],
                platform=account.platform,
                recorded_at=day_start(row.day, account.timezone),
                org_id=org_id,
                impressions=row.impressions,
                clicks=row.clicks,
                spend=row.spend,
                conversions=row.conversions,
                conversion_value=row.conversion_value,
            )
            for row in rows
            if row.campaign_external_id in ids
        ]
        await metrics_upsert.upsert(session=session, rows=metrics)
    return len(metrics)


async def _ensure_console_destination(
    session: AsyncSession, org_id: uuid.UUID, email: str, progress: Progress
) -> None:
    """The admin's terminal takes the org's alerts, cards and summaries: `adpilot chat` prints
    them while it runs (the schedule runs beside it in the embedded mode)."""
    conversation = f"console:{email}"
    existing = await session.scalar(
        select(Destination.id).where(
            Destination.org_id == org_id,
            Destination.channel == "console",
            Destination.conversation_id == conversation,
        )
    )
    if existing is not None:
        return
    session.add(
        Destination(
            org_id=org_id,
            channel="console",
            workspace="local",
            conversation_id=conversation,
            name=f"{email}'s terminal",
            kinds={"alerts": True, "approvals": True, "summaries": True},
        )
    )
    progress(f"alerts go to {email}'s terminal while `adpilot chat` runs")


async def _ensure_rules(
    session: AsyncSession, org_id: uuid.UUID, admin_id: uuid.UUID, progress: Progress
) -> int:
    admin = await users.get(session=session, org_id=org_id, user_id=admin_id)
    for rule in RULES:
        found = await session.scalar(
            select(Rule.id).where(Rule.org_id == org_id, Rule.name == rule["name"])
        )
        if found is None:
            await rules.create_rule(
                session=session, org_id=org_id, user=admin, rule_in=dict(rule), channel="cli"
            )
            progress(f"created rule {rule['name']!r} ({rule['mode']})")
    total = await session.scalars(select(Rule.id).where(Rule.org_id == org_id))
    return len(list(total))
