"""Campaign CRUD and the status machine; each change is audited in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.audit.service import Actor, record
from core.base import utcnow
from core.campaigns.models import Campaign, CampaignStatus
from core.campaigns.schemas import CampaignCreate, CampaignUpdate, is_legal
from core.errors import Conflict, IllegalTransition, NotFound, PermissionDenied

RESOURCE = "campaign"


def snapshot(campaign: Campaign) -> dict[str, Any]:
    """The audited view of a campaign: JSON-safe, money as strings."""
    return {
        "name": campaign.name,
        "status": str(campaign.status),
        "objective": campaign.objective,
        "daily_budget": _money(campaign.daily_budget),
        "lifetime_budget": _money(campaign.lifetime_budget),
    }


def _money(value: object) -> str | None:
    return None if value is None else str(value)


def _check_actor(org_id: uuid.UUID, actor: Actor) -> None:
    if actor.org_id != org_id:
        raise PermissionDenied("That actor belongs to another organization.")


async def get(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID, for_update: bool = False
) -> Campaign:
    """One campaign of the org by id; another org's campaign is simply not found."""
    query = select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    if for_update:
        query = query.with_for_update()
    campaign = await session.scalar(query)
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


async def list_campaigns(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    platform: str | None = None,
    status: CampaignStatus | Sequence[CampaignStatus] | None = None,
    ad_account_id: uuid.UUID | None = None,
    include_archived: bool = True,
) -> list[Campaign]:
    """The org's campaigns, optionally filtered, ordered by name."""
    query = select(Campaign).where(Campaign.org_id == org_id)
    if platform is not None:
        query = query.where(Campaign.platform == platform)
    if isinstance(status, CampaignStatus):
        query = query.where(Campaign.status == status)
    elif status is not None:
        query = query.where(Campaign.status.in_(list(status)))
    if ad_account_id is not None:
        query = query.where(Campaign.ad_account_id == ad_account_id)
    if not include_archived:
        query = query.where(Campaign.status != CampaignStatus.ARCHIVED)
    result = await session.scalars(query.order_by(Campaign.name, Campaign.id))
    return list(result)


async def create(
    *, session: AsyncSession, org_id: uuid.UUID, actor: Actor, campaign_in: CampaignCreate
) -> Campaign:
    """Create a campaign in one of the org's ad accounts (platform and currency come from it)."""
    _check_actor(org_id, actor)
    account = await session.scalar(
        select(AdAccount).where(
            AdAccount.id == campaign_in.ad_account_id, AdAccount.org_id == org_id
        )
    )
    if account is None:
        raise NotFound("No such ad account in this organization.")
    if campaign_in.external_id is not None:
        clash = await session.scalar(
            select(Campaign.id).where(
                Campaign.ad_account_id == account.id,
                Campaign.external_id == campaign_in.external_id,
            )
        )
        if clash is not None:
            raise Conflict(f"Campaign {campaign_in.external_id!r} exists already in that account.")
    campaign = Campaign(
        org_id=org_id,
        ad_account_id=account.id,
        platform=account.platform,
        external_id=campaign_in.external_id,
        name=campaign_in.name,
        status=campaign_in.status,
        objective=campaign_in.objective,
        daily_budget=campaign_in.daily_budget,
        lifetime_budget=campaign_in.lifetime_budget,
        baseline_daily_budget=campaign_in.daily_budget,
        currency=account.currency,
        extra={},
    )
    session.add(campaign)
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action="campaign.create",
        resource_type=RESOURCE,
        resource_id=campaign.id,
        after=snapshot(campaign),
    )
    return campaign


async def update(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    actor: Actor,
    campaign_id: uuid.UUID,
    campaign_in: CampaignUpdate,
) -> Campaign:
    """Change name, objective or budgets; an archived campaign is frozen."""
    _check_actor(org_id, actor)
    campaign = await get(session=session, org_id=org_id, campaign_id=campaign_id, for_update=True)
    if campaign.status == CampaignStatus.ARCHIVED:
        raise Conflict(f"Campaign {campaign.name!r} is archived and cannot be changed.")
    before = snapshot(campaign)
    changes = campaign_in.model_dump(exclude_none=True)
    for field, value in changes.items():
        setattr(campaign, field, value)
    after = snapshot(campaign)
    if after == before:
        return campaign
    campaign.updated_at = utcnow()
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action="campaign.update",
        resource_type=RESOURCE,
        resource_id=campaign.id,
        before=before,
        after=after,
    )
    return campaign


async def change_status(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    actor: Actor,
    campaign_id: uuid.UUID,
    target: CampaignStatus,
) -> Campaign:
    """Move a campaign through the status machine; an illegal move raises IllegalTransition."""
    _check_actor(org_id, actor)
    campaign = await get(session=session, org_id=org_id, campaign_id=campaign_id, for_update=True)
    current = CampaignStatus(campaign.status)
    if not is_legal(current, target):
        raise IllegalTransition(current=current.value, target=target.value)
    before = snapshot(campaign)
    campaign.status = target
    campaign.updated_at = utcnow()
    await session.flush()
    await record(
        session=session,
        actor=actor,
        action=f"campaign.{target.value}",
        resource_type=RESOURCE,
        resource_id=campaign.id,
        before=before,
        after=snapshot(campaign),
    )
    return campaign


async def archive(
    *, session: AsyncSession, org_id: uuid.UUID, actor: Actor, campaign_id: uuid.UUID
) -> Campaign:
    """Archive a campaign (from any status but archived)."""
    return await change_status(
        session=session,
        org_id=org_id,
        actor=actor,
        campaign_id=campaign_id,
        target=CampaignStatus.ARCHIVED,
    )
