"""What an approved action sends to its ad platform: the live read and the change, built up front.

Everything the calls need (adapter, decrypted token, ids, arguments) is read while the
executor's transaction is open; the calls themselves touch no session, so none is held open
across the platform's seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.approvals.models import PendingAction
from core.approvals.schemas import ActionKind
from core.campaigns.models import Campaign
from core.errors import AuthExpired, CoreError, PlatformError
from core.ports import (
    AdPlatform,
    CampaignChanges,
    CampaignDraft,
    MutationResult,
    PlatformCampaign,
    PlatformRegistry,
)
from core.security import crypto

log = logging.getLogger(__name__)

_T = TypeVar("_T")

PlatformCall = Callable[[], Awaitable[MutationResult]]
LiveRead = Callable[[], Awaitable[PlatformCampaign | None]]


@dataclass(frozen=True)
class PreparedCall:
    """The platform calls of one execution, built with the session; they touch none."""

    read_live: LiveRead
    mutate: PlatformCall


def _access_token(account: AdAccount) -> str:
    """The account's decrypted token ("" when none is stored; the platform then refuses)."""
    if not account.access_token_encrypted:
        return ""
    try:
        return crypto.decrypt(account.access_token_encrypted)
    except Exception as exc:
        # Key handling is the operator's matter (logged here); the chat user just reconnects.
        log.warning("cannot decrypt the token of ad account %s: %s", account.id, exc)
        raise AuthExpired(
            f"The stored access token of account {account.name!r} cannot be read; reconnect it."
        ) from exc


async def _call_platform(
    platform: AdPlatform,
    action_kind: str,
    arguments: dict[str, Any],
    campaign: Campaign,
    account_id: str,
    token: str,
) -> MutationResult:
    kind = ActionKind(action_kind)
    external_id = campaign.external_id
    if kind is ActionKind.LAUNCH_CAMPAIGN and external_id is None:
        draft = CampaignDraft(
            name=campaign.name,
            objective=campaign.objective,
            daily_budget=campaign.daily_budget,
            status="ACTIVE",
        )
        created = await platform.create_campaign(account_id, draft, access_token=token)
        return MutationResult(
            external_id=created.external_id,
            status=created.status,
            daily_budget=created.daily_budget,
            raw=created.model_dump(mode="json"),
        )
    if external_id is None:
        raise PlatformError(f"Campaign {campaign.name!r} is not on {platform.name} yet.")
    if kind is ActionKind.PAUSE_CAMPAIGN:
        return await platform.pause_campaign(account_id, external_id, access_token=token)
    if kind is ActionKind.RESUME_CAMPAIGN:
        return await platform.resume_campaign(account_id, external_id, access_token=token)
    if kind is ActionKind.SET_BUDGET:
        budget = Decimal(arguments["daily_budget"])
        return await platform.update_budget(account_id, external_id, budget, access_token=token)
    changes = CampaignChanges(status="ACTIVE")
    return await platform.update_campaign(account_id, external_id, changes, access_token=token)


async def _nothing_live() -> PlatformCampaign | None:
    return None


async def prepare_call(
    session: AsyncSession, action: PendingAction, campaign: Campaign, registry: PlatformRegistry
) -> PreparedCall:
    """Everything the platform calls need, read now; the calls themselves touch no session."""
    account = await session.get(AdAccount, campaign.ad_account_id)
    if account is None or account.org_id != action.org_id:
        raise PlatformError("The campaign's ad account is gone.")
    if ActionKind(action.kind) is ActionKind.SET_BUDGET and campaign.external_id is None:
        # A draft that never reached the platform: its budget is ours alone.
        budget = Decimal(action.arguments["daily_budget"])
        local = MutationResult(external_id="", daily_budget=budget, raw={"local_only": True})

        async def local_only() -> MutationResult:
            return local

        return PreparedCall(read_live=_nothing_live, mutate=local_only)
    platform = registry.get(campaign.platform)
    token = _access_token(account)
    snapshot = Campaign(
        id=campaign.id,
        name=campaign.name,
        platform=campaign.platform,
        external_id=campaign.external_id,
        objective=campaign.objective,
        daily_budget=campaign.daily_budget,
    )
    kind, arguments, account_id = action.kind, dict(action.arguments), account.external_id

    async def call() -> MutationResult:
        return await _guarded(
            snapshot.platform,
            _call_platform(platform, kind, arguments, snapshot, account_id, token),
        )

    external_id = snapshot.external_id

    async def read_live() -> PlatformCampaign | None:
        if external_id is None:
            return None  # a launch that creates the campaign: nothing there to compare yet
        return await _guarded(
            snapshot.platform, platform.get_campaign(account_id, external_id, access_token=token)
        )

    return PreparedCall(read_live=read_live, mutate=call)


async def _guarded(platform_name: str, pending: Awaitable[_T]) -> _T:
    """A port boundary: whatever the adapter let slip becomes a typed, trace-free error."""
    try:
        return await pending
    except CoreError:
        raise
    except Exception as exc:
        raise PlatformError(f"{platform_name} failed unexpectedly ({type(exc).__name__}).") from exc
