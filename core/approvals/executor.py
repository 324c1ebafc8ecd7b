"""Run an approved action against its ad platform, through the port, exactly as approved."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import limits
from core.approvals import live as live_check
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.platform_calls import PreparedCall, prepare_call
from core.approvals.policy import load_policy
from core.approvals.schemas import (
    ActionKind,
    DecisionResult,
    Reproposal,
    StaleAction,
    budget_of,
    decimal_text,
    grant_hash,
    same_state,
)
from core.approvals.service import audit_action, campaign_state, load_campaign
from core.audit.service import Actor
from core.base import utcnow
from core.campaigns import service as campaigns
from core.campaigns.models import Campaign, CampaignStatus
from core.campaigns.schemas import CampaignUpdate
from core.db import set_tenant
from core.errors import Conflict, CoreError, PlatformError, ValidationFailed
from core.ports import MutationResult, PlatformRegistry


async def fail(
    *,
    session: AsyncSession,
    action: PendingAction,
    actor: Actor,
    reason: str,
    message: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Mark the action failed and commit, so the refusal survives the caller's rollback."""
    action.status = ActionStatus.FAILED
    action.error = f"{reason}: {message}"
    action.result = {"reason": reason, **(extra or {})}
    await session.flush()
    await audit_action(session=session, actor=actor, action=action, event="failed")
    await session.commit()


def inverse_of(action: PendingAction) -> dict[str, Any] | None:
    """The kind and arguments that reverse `action` (None when there is nothing to restore)."""
    campaign_ref = {"campaign_id": action.arguments["campaign_id"]}
    kind = ActionKind(action.kind)
    if kind is ActionKind.PAUSE_CAMPAIGN:
        return {"kind": ActionKind.RESUME_CAMPAIGN.value, "arguments": campaign_ref}
    if kind in (ActionKind.RESUME_CAMPAIGN, ActionKind.LAUNCH_CAMPAIGN):
        # A launched campaign cannot go back to draft; pausing stops its spend.
        return {"kind": ActionKind.PAUSE_CAMPAIGN.value, "arguments": campaign_ref}
    old_budget = budget_of(action.before_state)
    if old_budget is None:
        return None
    arguments = {**campaign_ref, "daily_budget": decimal_text(old_budget)}
    return {"kind": ActionKind.SET_BUDGET.value, "arguments": arguments}


async def _apply(
    *,
    session: AsyncSession,
    action: PendingAction,
    campaign: Campaign,
    mutation: MutationResult,
    actor: Actor,
) -> None:
    """Write the platform's answer to the campaign row through the campaign service."""
    kind = ActionKind(action.kind)
    if kind is ActionKind.SET_BUDGET:
        budget = mutation.daily_budget or Decimal(action.arguments["daily_budget"])
        await campaigns.update(
            session=session,
            org_id=action.org_id,
            actor=actor,
            campaign_id=campaign.id,
            campaign_in=CampaignUpdate(daily_budget=budget),
        )
        return
    if kind is ActionKind.LAUNCH_CAMPAIGN:
        if campaign.external_id is None:
            campaign.external_id = mutation.external_id
        reported = live_check.PLATFORM_STATUS.get(
            mutation.status or "ACTIVE", CampaignStatus.ACTIVE
        )
        targets = [CampaignStatus.PENDING_REVIEW]
        if reported is not CampaignStatus.PENDING_REVIEW:
            targets.append(CampaignStatus.ACTIVE)
        if campaign.status == CampaignStatus.PENDING_REVIEW:
            targets = targets[1:]
    else:
        paused = kind is ActionKind.PAUSE_CAMPAIGN
        targets = [CampaignStatus.PAUSED if paused else CampaignStatus.ACTIVE]
    for target in targets:
        await campaigns.change_status(
            session=session,
            org_id=action.org_id,
            actor=actor,
            campaign_id=campaign.id,
            target=target,
        )


async def _refuse_stale(
    *,
    session: AsyncSession,
    action: PendingAction,
    campaign: Campaign | None,
    actor: Actor,
    why: str | None = None,
) -> StaleAction:
    """Fail the action as stale and offer a fresh card against the campaign's state now."""
    current = campaign_state(campaign) if campaign is not None else None
    if campaign is None:
        message = "the campaign no longer exists"
        reproposal = None
    else:
        message = why or (
            f"campaign {campaign.name!r} moved from {_describe(action.before_state)} to "
            f"{_describe(current or {})} since the card was shown"
        )
        reproposal = Reproposal(
            kind=action.kind,
            arguments=dict(action.arguments),
            summary=action.summary,
            campaign_id=campaign.id,
            before_state=dict(current or {}),
        )
    # Built before the commit: nothing touches the ORM object after it.
    error = StaleAction(
        f"Not executed: {message}. A fresh approval is needed.",
        action_id=action.id,
        current_state=current,
        reproposal=reproposal,
    )
    await fail(
        session=session,
        action=action,
        actor=actor,
        reason="stale",
        message=message,
        extra={"current_state": current},
    )
    return error


def _describe(state: dict[str, Any]) -> str:
    budget = state.get("daily_budget")
    return (
        f"{state.get('status')} at {budget}/day" if budget is not None else str(state.get("status"))
    )


async def execute(
    *, session: AsyncSession, action: PendingAction, registry: PlatformRegistry, actor: Actor
) -> DecisionResult:
    """Execute a claimed (approved) action; every refusal or failure is committed, then raised.

    The claim is committed before the platform is called, and the outcome recorded in a new
    transaction: no transaction (and so no row lock, no SQLite write lock, no pooled
    connection) is held across an external call that may take seconds. A crash in between
    leaves the action `approved`; `service.expire_overdue` marks it interrupted later.
    """
    campaign = await _checked_campaign(session=session, action=action, actor=actor)
    campaign_id = campaign.id
    try:
        prepared = await prepare_call(session, action, campaign, registry)
    except CoreError as exc:
        await fail(
            session=session, action=action, actor=actor, reason="platform", message=exc.message
        )
        raise
    org_id = action.org_id
    await session.commit()
    await _check_live(
        session=session, action=action, campaign_id=campaign_id, prepared=prepared, actor=actor
    )
    try:
        mutation = await prepared.mutate()
    except CoreError as exc:
        await _resume(session, org_id, action)
        await fail(
            session=session, action=action, actor=actor, reason="platform", message=exc.message
        )
        raise
    await _resume(session, org_id, action)
    return await _record_outcome(
        session=session, action=action, campaign_id=campaign_id, mutation=mutation, actor=actor
    )


async def _check_live(
    *,
    session: AsyncSession,
    action: PendingAction,
    campaign_id: uuid.UUID,
    prepared: PreparedCall,
    actor: Actor,
) -> None:
    """Refuse (and re-propose) when the platform's campaign is not what the card showed.

    Runs after the claim's commit, so no transaction waits on the platform; the action is
    `approved` meanwhile, which keeps every other approval on this campaign out.
    """
    org_id = action.org_id
    try:
        live = await prepared.read_live()
    except CoreError as exc:
        await _resume(session, org_id, action)
        message = f"could not read the campaign on the platform first: {exc.message}"
        await fail(session=session, action=action, actor=actor, reason="platform", message=message)
        raise
    if live is None:
        return
    await _resume(session, org_id, action)
    campaign = await load_campaign(
        session=session, org_id=org_id, campaign_id=campaign_id, lock=True
    )
    why = None
    if campaign is not None:
        why = live_check.drift(
            kind=action.kind,
            before_state=action.before_state,
            live=live,
            platform=campaign.platform,
        )
    if campaign is not None and why is None:
        # The follow-up transaction ends here; the mutation runs with none open.
        await session.commit()
        return
    if campaign is not None:
        await live_check.adopt(session=session, org_id=org_id, campaign=campaign, live=live)
    raise await _refuse_stale(
        session=session, action=action, campaign=campaign, actor=actor, why=why
    )


async def _checked_campaign(
    *, session: AsyncSession, action: PendingAction, actor: Actor
) -> Campaign:
    """Integrity, staleness and in-flight checks, with the campaign row locked."""
    expected = grant_hash(
        org_id=action.org_id,
        kind=action.kind,
        arguments=action.arguments,
        before_state=action.before_state,
    )
    if expected != action.arguments_hash:
        message = "the stored arguments no longer match what was approved"
        await fail(session=session, action=action, actor=actor, reason="integrity", message=message)
        raise Conflict(f"Not executed: {message}.")
    campaign_id = uuid.UUID(action.arguments["campaign_id"])
    campaign = await load_campaign(
        session=session, org_id=action.org_id, campaign_id=campaign_id, lock=True
    )
    if campaign is None or not same_state(campaign_state(campaign), action.before_state):
        raise await _refuse_stale(session=session, action=action, campaign=campaign, actor=actor)
    # The lock ends with the claim's commit, before the platform call: an action on the same
    # campaign still `approved` is in flight, and this one was judged against a state that
    # is about to change. Checked under the lock, so two approvals cannot both pass.
    busy = await session.scalar(
        select(PendingAction.short_code).where(
            PendingAction.org_id == action.org_id,
            PendingAction.campaign_id == campaign_id,
            PendingAction.status == ActionStatus.APPROVED,
            PendingAction.id != action.id,
        )
    )
    if busy is not None:
        message = f"action {busy} on this campaign is being executed right now"
        await fail(session=session, action=action, actor=actor, reason="busy", message=message)
        raise Conflict(f"Not executed: {message}. Ask again once it is done.")
    await _check_window_cap(session=session, action=action, campaign=campaign, actor=actor)
    return campaign


async def _check_window_cap(
    *, session: AsyncSession, action: PendingAction, campaign: Campaign, actor: Actor
) -> None:
    """Again at execution, under the lock: the window may have filled since the card was made."""
    if ActionKind(action.kind) is not ActionKind.SET_BUDGET:
        return
    policy = await load_policy(session=session, org_id=action.org_id)
    try:
        await limits.check_window_cap(
            session=session,
            policy=policy,
            campaign=campaign,
            new_budget=Decimal(action.arguments["daily_budget"]),
            exclude=action.id,
        )
    except ValidationFailed as exc:
        await fail(session=session, action=action, actor=actor, reason="limit", message=exc.message)
        raise


async def _record_outcome(
    *,
    session: AsyncSession,
    action: PendingAction,
    campaign_id: uuid.UUID,
    mutation: MutationResult,
    actor: Actor,
) -> DecisionResult:
    """Write what the platform did; if that fails, the action fails with the platform's answer."""
    platform_result = mutation.model_dump(mode="json")
    campaign = await load_campaign(
        session=session, org_id=action.org_id, campaign_id=campaign_id, lock=True
    )
    if campaign is None:
        message = "the campaign was deleted while the platform executed the action"
        await fail(
            session=session,
            action=action,
            actor=actor,
            reason="vanished",
            message=message,
            extra={"platform": platform_result},
        )
        raise PlatformError(f"Executed on the platform, but {message}.")
    try:
        async with session.begin_nested():
            return await _record_success(
                session=session, action=action, campaign=campaign, mutation=mutation, actor=actor
            )
    except Exception as exc:  # the platform acted: whatever the failure, the action must say so
        await session.refresh(action)
        detail = exc.message if isinstance(exc, CoreError) else type(exc).__name__
        message = f"executed on the platform, but recording it failed: {detail}"
        await fail(
            session=session,
            action=action,
            actor=actor,
            reason="record",
            message=message,
            extra={"platform": platform_result},
        )
        raise PlatformError(f"{message[0].upper()}{message[1:]}.") from exc


async def _resume(session: AsyncSession, org_id: uuid.UUID, action: PendingAction) -> None:
    """Start the follow-up transaction: org scope again (RLS), the action re-read."""
    await set_tenant(session, org_id)
    await session.refresh(action)


async def _record_success(
    *,
    session: AsyncSession,
    action: PendingAction,
    campaign: Campaign,
    mutation: MutationResult,
    actor: Actor,
) -> DecisionResult:
    await _apply(session=session, action=action, campaign=campaign, mutation=mutation, actor=actor)
    platform_result = mutation.model_dump(mode="json")
    action.status = ActionStatus.EXECUTED
    action.executed_at = utcnow()
    action.result = {"platform": platform_result, "after_state": campaign_state(campaign)}
    action.inverse = inverse_of(action)
    action.error = None
    await session.flush()
    await audit_action(session=session, actor=actor, action=action, event="executed")
    return DecisionResult(
        action=action,
        status=ActionStatus.EXECUTED,
        message=f"Done: {action.summary}",
        platform_result=platform_result,
        inverse=action.inverse,
    )
