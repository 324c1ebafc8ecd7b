"""The platform's live campaign against a card's before-state, read just before executing.

Our campaign row is only as fresh as the last sync: a budget changed in Meta's own UI (or by
another tool) since then is invisible to the local stale check, so "75 -> 80" would run as
"500 -> 80". The executor reads the campaign through the port after the claim and refuses
when the platform disagrees with what the approver saw.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.schemas import ActionKind, budget_of, state_of
from core.audit.service import Actor
from core.campaigns import service as campaigns
from core.campaigns.models import Campaign, CampaignStatus
from core.campaigns.schemas import CampaignUpdate, is_legal
from core.ports import PlatformCampaign

PLATFORM_STATUS: dict[str, CampaignStatus] = {
    "ACTIVE": CampaignStatus.ACTIVE,
    "PAUSED": CampaignStatus.PAUSED,
    "ARCHIVED": CampaignStatus.ARCHIVED,
    "DRAFT": CampaignStatus.DRAFT,
    "PENDING_REVIEW": CampaignStatus.PENDING_REVIEW,
}

PLATFORM_LABELS = {"google": "Google Ads", "meta": "Meta", "tiktok": "TikTok"}


def platform_label(name: str) -> str:
    return PLATFORM_LABELS.get(name, name)


def live_state(live: PlatformCampaign) -> dict[str, Any]:
    """The platform's campaign in the shape of a card's before_state."""
    return state_of(PLATFORM_STATUS[live.status].value, live.daily_budget)


def _money(amount: Decimal | None) -> str:
    return "none" if amount is None else f"{amount:,.2f}"


def drift(
    *, kind: str, before_state: dict[str, Any], live: PlatformCampaign, platform: str
) -> str | None:
    """Why the platform disagrees with the card, or None when it shows what the card showed.

    A launch compares the budget only: a draft's status on the platform (paused, in review)
    has no exact counterpart in ours, and launching is exactly what changes it.
    """
    label = platform_label(platform)
    shown_budget, live_budget = budget_of(before_state), live.daily_budget
    if shown_budget != live_budget:
        return (
            f"the budget is {_money(live_budget)} on {label} now, "
            f"the card was made at {_money(shown_budget)}"
        )
    live_status = PLATFORM_STATUS[live.status].value
    if ActionKind(kind) is not ActionKind.LAUNCH_CAMPAIGN and live_status != before_state.get(
        "status"
    ):
        return (
            f"the campaign is {live_status} on {label} now, "
            f"the card was made when it was {before_state.get('status')}"
        )
    return None


async def adopt(
    *, session: AsyncSession, org_id: uuid.UUID, campaign: Campaign, live: PlatformCampaign
) -> None:
    """Bring our row to the platform's state (audited as the platform's doing, not a user's)."""
    actor = Actor(
        org_id=org_id, user_id=None, channel="system", source=f"{campaign.platform} live read"
    )
    if live.daily_budget is not None and live.daily_budget != campaign.daily_budget:
        await campaigns.update(
            session=session,
            org_id=org_id,
            actor=actor,
            campaign_id=campaign.id,
            campaign_in=CampaignUpdate(daily_budget=live.daily_budget),
        )
    target = PLATFORM_STATUS[live.status]
    current = CampaignStatus(campaign.status)
    # A move our status machine does not know (e.g. back to draft) waits for the next sync.
    if target is not current and is_legal(current, target):
        await campaigns.change_status(
            session=session, org_id=org_id, actor=actor, campaign_id=campaign.id, target=target
        )
