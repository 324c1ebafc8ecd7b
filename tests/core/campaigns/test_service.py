"""Campaign CRUD, the status machine and audit rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.audit.models import AuditLog
from core.audit.service import Actor
from core.campaigns import service
from core.campaigns.models import CampaignStatus
from core.campaigns.schemas import LEGAL_TRANSITIONS, CampaignCreate, CampaignUpdate
from core.errors import Conflict, IllegalTransition, NotFound, PermissionDenied
from core.orgs.models import Organization
from tests import factories

S = CampaignStatus


async def _audit(session: AsyncSession, resource_id: object) -> list[AuditLog]:
    rows = await session.scalars(
        select(AuditLog)
        .where(AuditLog.resource_id == str(resource_id))
        .order_by(AuditLog.created_at)
    )
    return list(rows)


async def _setup(session: AsyncSession) -> tuple[Actor, AdAccount]:
    org = await factories.org(session)
    user = await factories.user(session, org)
    account = await factories.ad_account(session, org, platform="meta")
    return Actor(org_id=org.id, user_id=user.id, channel="cli", source="tty"), account


async def test_create_starts_as_draft_and_is_audited(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    campaign = await service.create(
        session=session,
        org_id=actor.org_id,
        actor=actor,
        campaign_in=CampaignCreate(
            ad_account_id=account.id, name="  Spring Promo ", daily_budget=Decimal("25.5")
        ),
    )
    assert campaign.status == S.DRAFT
    assert campaign.name == "Spring Promo"
    assert campaign.platform == "meta"
    assert campaign.baseline_daily_budget == Decimal("25.5")
    [row] = await _audit(session, campaign.id)
    assert row.action == "campaign.create"
    assert row.user_id == actor.user_id
    assert row.channel == "cli"
    assert row.after is not None
    assert row.after["daily_budget"] == "25.5"


async def test_create_refuses_another_orgs_account(session: AsyncSession) -> None:
    actor, _ = await _setup(session)
    _, foreign_account = await _setup(session)
    await factories.act_as(session, actor.org_id)
    with pytest.raises(NotFound):
        await service.create(
            session=session,
            org_id=actor.org_id,
            actor=actor,
            campaign_in=CampaignCreate(ad_account_id=foreign_account.id, name="Sneaky"),
        )


async def test_create_duplicate_external_id_conflicts(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    campaign_in = CampaignCreate(ad_account_id=account.id, name="A", external_id="ext-1")
    await service.create(session=session, org_id=actor.org_id, actor=actor, campaign_in=campaign_in)
    with pytest.raises(Conflict):
        await service.create(
            session=session, org_id=actor.org_id, actor=actor, campaign_in=campaign_in
        )


async def test_get_never_returns_another_orgs_campaign(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    _, other_account = await _setup(session)
    foreign = await factories.campaign(session, other_account)
    await factories.act_as(session, actor.org_id)
    with pytest.raises(NotFound):
        await service.get(session=session, org_id=actor.org_id, campaign_id=foreign.id)
    mine = await factories.campaign(session, account)
    got = await service.get(session=session, org_id=actor.org_id, campaign_id=mine.id)
    assert got.id == mine.id


async def test_list_filters_by_platform_status_and_account(session: AsyncSession) -> None:
    actor, meta = await _setup(session)
    org = await session.get(Organization, actor.org_id)
    assert org is not None
    google = await factories.ad_account(session, org, platform="google")
    a = await factories.campaign(session, meta, name="A", status=S.ACTIVE)
    b = await factories.campaign(session, meta, name="B", status=S.PAUSED)
    c = await factories.campaign(session, google, name="C", status=S.ACTIVE)
    d = await factories.campaign(session, google, name="D", status=S.ARCHIVED)
    _, foreign = await _setup(session)
    await factories.campaign(session, foreign, name="Foreign")
    await factories.act_as(session, actor.org_id)

    async def names(**filters: object) -> list[str]:
        found = await service.list_campaigns(session=session, org_id=actor.org_id, **filters)  # type: ignore[arg-type]
        return [campaign.name for campaign in found]

    assert await names() == [a.name, b.name, c.name, d.name]
    assert await names(platform="google") == ["C", "D"]
    assert await names(status=S.ACTIVE) == ["A", "C"]
    assert await names(status=[S.PAUSED, S.ARCHIVED]) == ["B", "D"]
    assert await names(ad_account_id=meta.id) == ["A", "B"]
    assert await names(include_archived=False) == ["A", "B", "C"]


async def test_update_changes_fields_and_audits_before_after(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    campaign = await factories.campaign(session, account, name="Old", daily_budget=Decimal(50))
    updated = await service.update(
        session=session,
        org_id=actor.org_id,
        actor=actor,
        campaign_id=campaign.id,
        campaign_in=CampaignUpdate(name="New", daily_budget=Decimal(80), objective="sales"),
    )
    assert (updated.name, updated.daily_budget, updated.objective) == ("New", Decimal(80), "sales")
    assert updated.updated_at is not None
    [row] = await _audit(session, campaign.id)
    assert row.action == "campaign.update"
    assert row.before is not None
    assert row.after is not None
    assert (row.before["daily_budget"], row.after["daily_budget"]) == ("50", "80")
    assert (row.before["name"], row.after["name"]) == ("Old", "New")


async def test_update_of_archived_campaign_conflicts(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    campaign = await factories.campaign(session, account, status=S.ARCHIVED)
    with pytest.raises(Conflict):
        await service.update(
            session=session,
            org_id=actor.org_id,
            actor=actor,
            campaign_id=campaign.id,
            campaign_in=CampaignUpdate(name="Revived"),
        )


async def test_status_machine_allows_exactly_the_legal_moves(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    expected_legal = {
        (S.DRAFT, S.PENDING_REVIEW),
        (S.PENDING_REVIEW, S.ACTIVE),
        (S.PENDING_REVIEW, S.DRAFT),
        (S.ACTIVE, S.PAUSED),
        (S.PAUSED, S.ACTIVE),
        *((status, S.ARCHIVED) for status in S if status != S.ARCHIVED),
    }
    assert {(a, b) for a, targets in LEGAL_TRANSITIONS.items() for b in targets} == expected_legal
    for current, target in itertools.product(S, S):
        campaign = await factories.campaign(session, account, status=current)
        kwargs = {"session": session, "org_id": actor.org_id, "actor": actor}
        if (current, target) in expected_legal:
            moved = await service.change_status(**kwargs, campaign_id=campaign.id, target=target)  # type: ignore[arg-type]
            assert moved.status == target
            [row] = await _audit(session, campaign.id)
            assert row.action == f"campaign.{target.value}"
            assert row.before == {**(row.after or {}), "status": current.value}
        else:
            with pytest.raises(IllegalTransition) as caught:
                await service.change_status(**kwargs, campaign_id=campaign.id, target=target)  # type: ignore[arg-type]
            assert (caught.value.current, caught.value.target) == (current.value, target.value)
            await session.refresh(campaign)
            assert campaign.status == current
            assert await _audit(session, campaign.id) == []


async def test_archive_and_full_lifecycle(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    campaign = await factories.campaign(session, account, status=S.DRAFT)
    kwargs = {
        "session": session,
        "org_id": actor.org_id,
        "actor": actor,
        "campaign_id": campaign.id,
    }
    for target in (S.PENDING_REVIEW, S.ACTIVE, S.PAUSED, S.ACTIVE):
        await service.change_status(**kwargs, target=target)  # type: ignore[arg-type]
    archived = await service.archive(**kwargs)  # type: ignore[arg-type]
    assert archived.status == S.ARCHIVED
    with pytest.raises(IllegalTransition):
        await service.archive(**kwargs)  # type: ignore[arg-type]
    actions = [row.action for row in await _audit(session, campaign.id)]
    assert actions == [
        "campaign.pending_review",
        "campaign.active",
        "campaign.paused",
        "campaign.active",
        "campaign.archived",
    ]


async def test_actor_from_another_org_is_refused(session: AsyncSession) -> None:
    actor, account = await _setup(session)
    other_actor, _ = await _setup(session)
    await factories.act_as(session, actor.org_id)
    campaign = await factories.campaign(session, account)
    with pytest.raises(PermissionDenied):
        await service.change_status(
            session=session,
            org_id=actor.org_id,
            actor=other_actor,
            campaign_id=campaign.id,
            target=S.PAUSED,
        )


async def test_status_change_on_another_orgs_campaign_is_not_found(session: AsyncSession) -> None:
    actor, _ = await _setup(session)
    _, foreign_account = await _setup(session)
    foreign = await factories.campaign(session, foreign_account, status=S.ACTIVE)
    await factories.act_as(session, actor.org_id)
    with pytest.raises(NotFound):
        await service.change_status(
            session=session,
            org_id=actor.org_id,
            actor=actor,
            campaign_id=foreign.id,
            target=S.PAUSED,
        )
    await factories.act_as(session, foreign_account.org_id)
    await session.refresh(foreign)
    assert foreign.status == S.ACTIVE
