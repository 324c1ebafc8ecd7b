"""The sandbox ad platform: a simulated platform whose state lives in the app database.

It behaves like the real ones behind `core.ports.AdPlatform`: accounts, campaigns, budgets,
status changes that stick (across processes, because they are rows), and deterministic daily
and hourly metrics from `adapters.sandbox_sim`. Paused hours deliver nothing, so a pause shows
up in the metrics; a budget change moves spend from the hour it happened.

State: `sandbox_accounts`, `sandbox_campaigns` (the live campaigns, with their simulation
profile) and `sandbox_campaign_revisions`, an append-only history of each campaign's
(status, daily_budget) and the time it took effect. Metrics for an hour use the revision in
force at the start of that hour.

Provisioning (the demo seeder and tests):

    sandbox = SandboxAdapter(database)            # or an async_sessionmaker
    made = await sandbox.provision_account(
        name="Acme Shoes", currency="EUR", timezone="Europe/Berlin", history_days=30,
        campaigns=[
            CampaignSpec(name="Brand search", daily_budget=Decimal("120")),
            CampaignSpec(name="Prospecting", daily_budget=Decimal("80"), profile="failing"),
        ],
    )
    made.account.external_id, [c.external_id for c in made.campaigns]

`history_days` back-dates the campaigns so there is history to chart and rules to fire on.
`profile` is "steady" (default), "volatile" or "failing" (CPA about 3x, many bad days).
A spec with status "PAUSED" never delivered. Any non-empty access token is accepted; the
sandbox's OAuth "consent" redirects straight back with a code. Sandbox accounts are global
(not per org): the app links them to an org like a real account.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.granularity import DailyAndHourlyMetrics
from adapters.money import exact_in_currency
from adapters.sandbox_sim import PROFILES, Profile, Revision, campaign_rows
from core.db import Database
from core.errors import AuthExpired, InvalidRequest, PlatformNotFound
from core.ports import (
    CampaignChanges,
    CampaignDraft,
    MetricRow,
    MutationResult,
    PlatformAccount,
    PlatformCampaign,
    PlatformStatus,
    RevokeAnswer,
    TokenSet,
)
from core.sandbox.models import SandboxAccount, SandboxCampaign, SandboxRevision

MAX_RANGE_DAYS = 400
TOKEN_LIFETIME = timedelta(hours=1)
_TRANSITIONS: dict[str, set[str]] = {
    "ACTIVE": {"PAUSED", "ARCHIVED"},
    "PAUSED": {"ACTIVE", "ARCHIVED"},
    "DRAFT": {"ACTIVE", "PAUSED", "ARCHIVED"},
    "PENDING_REVIEW": {"ACTIVE", "PAUSED", "ARCHIVED"},
    "ARCHIVED": set(),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign to provision; `profile` picks how the simulation treats it."""

    name: str
    daily_budget: Decimal
    status: PlatformStatus = "ACTIVE"
    objective: str | None = "CONVERSIONS"
    profile: Profile = "steady"


@dataclass(frozen=True)
class ProvisionedAccount:
    account: PlatformAccount
    campaigns: list[PlatformCampaign]


def _stable_seed(*parts: object) -> int:
    return zlib.crc32(":".join(str(part) for part in parts).encode()) & 0x7FFFFFFF


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"Unknown time zone {name!r}.") from exc


class SandboxAdapter(DailyAndHourlyMetrics):
    """The simulated platform; every call runs in its own short transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | Database,
        *,
        clock: Callable[[], datetime] = _utcnow,
        name: str = "sandbox",
    ) -> None:
        # `name` lets the simulation stand in for a real platform (google, meta, tiktok) in the
        # embedded mode, so demo accounts keep their real platform label.
        self.name = name
        # The sandbox tables carry no org, so the worker (BYPASSRLS) sessions fit.
        self._sessions = sessions.worker_sessions if isinstance(sessions, Database) else sessions
        self._clock = clock

    async def aclose(self) -> None:
        """Nothing to close: the sessions belong to the caller."""

    # --- OAuth (simulated) ---------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        """No consent screen: straight back to the app with a code."""
        separator = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{separator}{urlencode({'code': 'sandbox', 'state': state})}"

    def _issue(self, refresh_token: str | None = None) -> TokenSet:
        return TokenSet(
            access_token=f"sbx-at-{uuid.uuid4().hex}",
            refresh_token=refresh_token or f"sbx-rt-{uuid.uuid4().hex}",
            expires_at=self._clock() + TOKEN_LIFETIME,
            scopes=["sandbox"],
        )

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet:
        if not code:
            raise InvalidRequest("The sandbox needs an authorization code.")
        return self._issue()

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        if not refresh_token:
            raise AuthExpired("No sandbox refresh token; reconnect.")
        return self._issue(refresh_token)

    async def revoke_tokens(self, tokens: TokenSet) -> RevokeAnswer:
        """The simulated grant simply ends: its tokens are never checked against a store."""
        return RevokeAnswer.REVOKED

    @staticmethod
    def _check(access_token: str) -> None:
        if not access_token:
            raise AuthExpired("The sandbox access token is missing.")

    # --- provisioning ----------------------------------------------------------------------------

    async def provision_account(
        self,
        *,
        name: str,
        currency: str = "USD",
        timezone: str = "UTC",
        campaigns: Sequence[CampaignSpec] = (),
        history_days: int = 30,
        seed: int | None = None,
    ) -> ProvisionedAccount:
        """Create a sandbox account with campaigns that started `history_days` ago."""
        zone = _zone(timezone)
        if not 0 <= history_days <= MAX_RANGE_DAYS:
            raise InvalidRequest(f"history_days must be within 0..{MAX_RANGE_DAYS}.")
        account_seed = seed if seed is not None else _stable_seed(name, currency)
        now = self._clock()
        local_start = now.astimezone(zone).date() - timedelta(days=history_days)
        started = datetime.combine(local_start, time(0), tzinfo=zone).astimezone(UTC)
        account = SandboxAccount(
            external_id=f"sbx-{uuid.uuid4().hex[:12]}",
            name=name,
            currency=currency.upper(),
            timezone=timezone,
            seed=account_seed,
            created_at=started,
        )
        made: list[SandboxCampaign] = []
        async with self._sessions() as session, session.begin():
            session.add(account)
            for index, spec in enumerate(campaigns):
                if spec.profile not in PROFILES:
                    raise InvalidRequest(f"Unknown sandbox profile {spec.profile!r}.")
                row = self._new_campaign(
                    session,
                    account,
                    spec.name,
                    spec.daily_budget,
                    spec.status,
                    spec.objective,
                    spec.profile,
                    seed=_stable_seed(account_seed, index, spec.name),
                    at=started,
                )
                made.append(row)
        return ProvisionedAccount(
            account=self._account(account), campaigns=[self._campaign(row, account) for row in made]
        )

    def _new_campaign(
        self,
        session: AsyncSession,
        account: SandboxAccount,
        name: str,
        daily_budget: Decimal | None,
        status: str,
        objective: str | None,
        profile: str,
        *,
        seed: int,
        at: datetime,
    ) -> SandboxCampaign:
        if daily_budget is not None:
            exact_in_currency(daily_budget, account.currency)
        row = SandboxCampaign(
            external_id=f"sbxc-{uuid.uuid4().hex[:12]}",
            account_external_id=account.external_id,
            name=name,
            status=status,
            objective=objective,
            daily_budget=daily_budget,
            seed=seed,
            profile=profile,
            created_at=at,
            updated_at=at,
        )
        session.add(row)
        self._add_revision(session, row, at=at)
        return row

    @staticmethod
    def _add_revision(session: AsyncSession, campaign: SandboxCampaign, *, at: datetime) -> None:
        session.add(
            SandboxRevision(
                campaign_external_id=campaign.external_id,
                status=campaign.status,
                daily_budget=campaign.daily_budget,
                effective_at=at,
            )
        )

    # --- reads --------------------------------------------------------------------------------

    @staticmethod
    def _account(row: SandboxAccount) -> PlatformAccount:
        return PlatformAccount(
            external_id=row.external_id,
            name=row.name,
            currency=row.currency,
            timezone=row.timezone,
        )

    @staticmethod
    def _campaign(row: SandboxCampaign, account: SandboxAccount) -> PlatformCampaign:
        return PlatformCampaign(
            external_id=row.external_id,
            account_id=row.account_external_id,
            name=row.name,
            status=row.status,
            objective=row.objective,
            daily_budget=row.daily_budget,
            currency=account.currency,
        )

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        self._check(access_token)
        async with self._sessions() as session:
            rows = await session.scalars(select(SandboxAccount).order_by(SandboxAccount.name))
            return [self._account(row) for row in rows]

    async def _load_account(self, session: AsyncSession, account_id: str) -> SandboxAccount:
        account = await session.get(SandboxAccount, account_id)
        if account is None:
            raise PlatformNotFound(f"No sandbox account {account_id}.")
        return account

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        self._check(access_token)
        async with self._sessions() as session:
            account = await self._load_account(session, account_id)
            rows = await session.scalars(
                select(SandboxCampaign)
                .where(SandboxCampaign.account_external_id == account_id)
                .order_by(SandboxCampaign.name, SandboxCampaign.external_id)
            )
            return [self._campaign(row, account) for row in rows]

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        self._check(access_token)
        async with self._sessions() as session:
            account = await self._load_account(session, account_id)
            row = await session.scalar(
                select(SandboxCampaign)
                .where(SandboxCampaign.external_id == campaign_id)
                .where(SandboxCampaign.account_external_id == account_id)
            )
            if row is None:
                raise PlatformNotFound(f"No sandbox campaign {campaign_id} in {account_id}.")
            return self._campaign(row, account)

    async def _metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
        *,
        hourly: bool,
    ) -> list[MetricRow]:
        self._check(access_token)
        if end_date < start_date:
            raise InvalidRequest("end_date is before start_date.")
        if (end_date - start_date).days >= MAX_RANGE_DAYS:
            raise InvalidRequest(f"The sandbox reports at most {MAX_RANGE_DAYS} days at once.")
        async with self._sessions() as session:
            account = await self._load_account(session, account_id)
            query = select(SandboxCampaign).where(SandboxCampaign.account_external_id == account_id)
            if campaign_id is not None:
                query = query.where(SandboxCampaign.external_id == campaign_id)
            campaigns = list(await session.scalars(query.order_by(SandboxCampaign.external_id)))
            if campaign_id is not None and not campaigns:
                raise PlatformNotFound(f"No sandbox campaign {campaign_id} in {account_id}.")
            history = await self._history(session, account_id)
        now = self._clock()
        rows: list[MetricRow] = []
        for campaign in campaigns:
            revisions = [
                Revision(at, status, budget, campaign.profile)
                for at, status, budget in history.get(campaign.external_id, [])
            ] or [
                Revision(
                    campaign.created_at, campaign.status, campaign.daily_budget, campaign.profile
                )
            ]
            rows.extend(
                campaign_rows(
                    campaign_id=campaign.external_id,
                    seed=campaign.seed,
                    revisions=revisions,
                    currency=account.currency,
                    zone=_zone(account.timezone),
                    start_date=start_date,
                    end_date=end_date,
                    now=now,
                    hourly=hourly,
                )
            )
        return rows

    @staticmethod
    async def _history(
        session: AsyncSession, account_id: str
    ) -> dict[str, list[tuple[datetime, str, Decimal | None]]]:
        rows = await session.execute(
            select(
                SandboxRevision.campaign_external_id,
                SandboxRevision.effective_at,
                SandboxRevision.status,
                SandboxRevision.daily_budget,
            )
            .join(SandboxCampaign)
            .where(SandboxCampaign.account_external_id == account_id)
            .order_by(SandboxRevision.effective_at, SandboxRevision.id)
        )
        history: dict[str, list[tuple[datetime, str, Decimal | None]]] = {}
        for campaign_id, at, status, budget in rows:
            history.setdefault(campaign_id, []).append((at, status, budget))
        return history

    # --- writes -------------------------------------------------------------------------------

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        self._check(access_token)
        async with self._sessions() as session, session.begin():
            account = await self._load_account(session, account_id)
            count = len(
                list(
                    await session.scalars(
                        select(SandboxCampaign.external_id).where(
                            SandboxCampaign.account_external_id == account_id
                        )
                    )
                )
            )
            row = self._new_campaign(
                session,
                account,
                draft.name,
                draft.daily_budget,
                draft.status,
                draft.objective,
                "steady",
                seed=_stable_seed(account.seed, count, draft.name),
                at=self._clock(),
            )
            return self._campaign(row, account)

    async def _change(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, access_token: str
    ) -> MutationResult:
        """Apply changes and append a revision, in one transaction with the row locked."""
        self._check(access_token)
        async with self._sessions() as session, session.begin():
            account = await self._load_account(session, account_id)
            row = await session.scalar(
                select(SandboxCampaign)
                .where(SandboxCampaign.external_id == campaign_id)
                .where(SandboxCampaign.account_external_id == account_id)
                .with_for_update()
            )
            if row is None:
                raise PlatformNotFound(f"No sandbox campaign {campaign_id} in {account_id}.")
            changed = self._apply(row, changes, account.currency)
            if changed:
                now = self._clock()
                row.updated_at = now
                self._add_revision(session, row, at=now)
            return MutationResult(
                external_id=campaign_id,
                status=row.status,
                daily_budget=row.daily_budget,
                raw={"changed": changed},
            )

    @staticmethod
    def _apply(row: SandboxCampaign, changes: CampaignChanges, currency: str) -> bool:
        changed = False
        if changes.status is not None and changes.status != row.status:
            if changes.status not in _TRANSITIONS.get(row.status, set()):
                raise InvalidRequest(f"A {row.status} campaign cannot become {changes.status}.")
            row.status = changes.status
            changed = True
        if changes.daily_budget is not None and changes.daily_budget != row.daily_budget:
            if row.status == "ARCHIVED":
                raise InvalidRequest("An archived campaign cannot change its budget.")
            row.daily_budget = exact_in_currency(changes.daily_budget, currency)
            changed = True
        if changes.name is not None and changes.name != row.name:
            row.name = changes.name
            changed = True
        return changed

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        return await self._change(
            account_id, campaign_id, CampaignChanges(status="PAUSED"), access_token
        )

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        return await self._change(
            account_id, campaign_id, CampaignChanges(status="ACTIVE"), access_token
        )

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        if daily_budget <= 0:
            raise InvalidRequest("A daily budget must be positive.")
        return await self._change(
            account_id, campaign_id, CampaignChanges(daily_budget=daily_budget), access_token
        )

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        return await self._change(account_id, campaign_id, changes, access_token)
