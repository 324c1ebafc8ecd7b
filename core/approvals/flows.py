"""Deciding on pending actions: server-side checks, one atomic winner, then execution."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import executor, service
from core.approvals import policy as approval_policy
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.schemas import DecisionResult, same_state
from core.audit.models import AuditLog
from core.audit.service import Actor
from core.base import utcnow
from core.errors import AlreadyDecided, Conflict, Expired, PermissionDenied, StaleApproval
from core.ports import PlatformRegistry
from core.rbac import Permission, require, role_at_least
from core.rules.models import Rule
from core.users.models import Role, User

RULE_CHANNEL = "rule"


async def _requesters(session: AsyncSession, action: PendingAction) -> set[uuid.UUID]:
    """Who counts as having asked for the action: its requester, and for a rule's card everyone
    who created or changed the rule (its audit trail), so a colleague's later edit does not
    launder the author, and an edit after the card still counts.
    """
    requesters = {action.requested_by} if action.requested_by is not None else set()
    if action.rule_id is not None:
        authors = await session.execute(
            select(Rule.created_by, Rule.updated_by).where(
                Rule.id == action.rule_id, Rule.org_id == action.org_id
            )
        )
        for row in authors:
            requesters.update(author for author in row if author is not None)
        editors = await session.scalars(
            select(AuditLog.user_id).where(
                AuditLog.org_id == action.org_id,
                AuditLog.resource_type == "rule",
                AuditLog.resource_id == str(action.rule_id),
                AuditLog.user_id.is_not(None),
            )
        )
        requesters.update(editor for editor in editors if editor is not None)
    return requesters


def _check_self_approval(
    *,
    user: User,
    action: PendingAction,
    policy: approval_policy.ApprovalPolicy,
    requesters: set[uuid.UUID],
) -> None:
    """By default nobody approves a card of their own that lets a campaign spend more."""
    if user.id not in requesters or policy.allow_self_approval:
        return
    if not approval_policy.moves_money(action.kind, action.arguments, action.before_state):
        return
    whose = "wrote the rule that raised" if action.requested_by != user.id else "requested"
    raise PermissionDenied(
        f"{user.email} {whose} {action.short_code}, which lets the campaign spend more, so "
        "someone else must approve it. (A solo operator can allow self-approval in the "
        "organization's settings.)"
    )


def _check_approver(
    *,
    user: User,
    action: PendingAction,
    policy: approval_policy.ApprovalPolicy,
    requesters: set[uuid.UUID],
) -> None:
    """RBAC, the action's required role, the threshold and the two-person rules."""
    require(user, Permission.APPROVE)
    code = action.short_code
    if not role_at_least(user, action.required_role):
        raise PermissionDenied(
            f"Approving {code} needs the {action.required_role} role; "
            f"{user.email} is {Role(user.role).value}."
        )
    above = approval_policy.above_threshold(
        policy, action.kind, action.arguments, action.before_state
    )
    if above:
        require(user, Permission.APPROVE_ABOVE_THRESHOLD)
    if above and policy.two_person_rule and user.id in requesters:
        raise PermissionDenied(
            f"Two-person rule: {user.email} requested {code}, a budget increase above "
            f"{policy.approval_threshold}/day, so someone else must approve it."
        )
    _check_self_approval(user=user, action=action, policy=policy, requesters=requesters)


def _check_rejecter(*, user: User, action: PendingAction) -> None:
    """Approvers may reject; a requester may withdraw their own request."""
    if action.requested_by == user.id and user.is_active:
        return
    require(user, Permission.APPROVE)


async def _claim(
    *,
    session: AsyncSession,
    action: PendingAction,
    status: ActionStatus,
    decided_by: uuid.UUID | None,
    channel: str,
) -> bool:
    """The one conditional UPDATE that picks the single winner among concurrent deciders."""
    now = utcnow()
    statement = (
        update(PendingAction)
        .where(
            PendingAction.id == action.id,
            PendingAction.org_id == action.org_id,
            PendingAction.status == ActionStatus.PENDING,
            PendingAction.expires_at > now,
        )
        .values(status=status, decided_by=decided_by, decided_at=now, decided_via=channel)
        .returning(PendingAction.id)
        .execution_options(synchronize_session=False)
    )
    won = await session.scalar(statement) is not None
    await _reload(session, action)
    return won


async def _reload(session: AsyncSession, action: PendingAction) -> None:
    query = select(PendingAction).where(PendingAction.id == action.id)
    await session.scalar(query.execution_options(populate_existing=True))


async def _decider_name(session: AsyncSession, action: PendingAction) -> str:
    if action.decided_by is not None:
        decider = await session.get(User, action.decided_by)
        if decider is not None:
            return decider.email
        return "a former member"
    if action.rule_id is not None:
        return f"rule {action.rule_id}"
    return "the system"


async def _explain_loss(*, session: AsyncSession, action: PendingAction, actor: Actor) -> NoReturn:
    """Raise why the claim lost: expired (marked and committed), or decided by someone else."""
    code = action.short_code
    if action.status == ActionStatus.PENDING and await _mark_expired(session, action):
        await service.audit_action(session=session, actor=actor, action=action, event="expired")
        await session.commit()
        raise Expired(f"Action {code} expired; ask for a fresh one.")
    if action.status in (ActionStatus.EXPIRED, ActionStatus.PENDING):
        raise Expired(f"Action {code} expired; ask for a fresh one.")
    verb = "rejected" if action.status == ActionStatus.REJECTED else "approved"
    who = await _decider_name(session, action)
    when = f"{action.decided_at:%Y-%m-%d %H:%M} UTC" if action.decided_at else "an earlier time"
    outcome = ActionStatus(action.status).value
    suffix = f" ({outcome})" if outcome not in (verb, "approved") else ""
    raise AlreadyDecided(f"Action {code} was already {verb} by {who} at {when}{suffix}.")


async def _mark_expired(session: AsyncSession, action: PendingAction) -> bool:
    """Still pending, so the claim failed on expiry: record that for good."""
    statement = (
        update(PendingAction)
        .where(PendingAction.id == action.id, PendingAction.status == ActionStatus.PENDING)
        .values(status=ActionStatus.EXPIRED)
        .returning(PendingAction.id)
        .execution_options(synchronize_session=False)
    )
    marked = await session.scalar(statement) is not None
    await _reload(session, action)
    return marked


async def decide(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    action_ref: str | uuid.UUID,
    user: User,
    approve: bool,
    channel: str,
    registry: PlatformRegistry,
    source: str | None = None,
) -> DecisionResult:
    """Approve (and execute) or reject an action; refusals raise typed errors.

    Success is flushed in the caller's transaction. Terminal refusals (expired, stale,
    tampered, platform failure) are committed before the error is raised, so a single-use
    grant stays used even when the caller rolls back on the error.
    """
    if user.org_id != org_id:
        raise PermissionDenied(f"{user.email} is not a member of this organization.")
    action = await service.get(session=session, org_id=org_id, action_ref=action_ref)
    policy = await approval_policy.load_policy(session=session, org_id=org_id)
    if approve:
        requesters = await _requesters(session, action)
        _check_approver(user=user, action=action, policy=policy, requesters=requesters)
    else:
        _check_rejecter(user=user, action=action)
    actor = Actor(org_id=org_id, user_id=user.id, channel=channel, source=source)
    status = ActionStatus.APPROVED if approve else ActionStatus.REJECTED
    won = await _claim(
        session=session, action=action, status=status, decided_by=user.id, channel=channel
    )
    if not won:
        await _explain_loss(session=session, action=action, actor=actor)
    if not approve:
        await service.audit_action(session=session, actor=actor, action=action, event="rejected")
        return DecisionResult(
            action=action, status=ActionStatus.REJECTED, message=f"Rejected: {action.summary}"
        )
    await service.audit_action(session=session, actor=actor, action=action, event="approved")
    return await executor.execute(session=session, action=action, registry=registry, actor=actor)


async def execute_system_action(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    kind: str,
    arguments: dict[str, Any],
    summary: str,
    rule_id: uuid.UUID,
    registry: PlatformRegistry,
    campaign_id: uuid.UUID | None = None,
    before_state: dict[str, Any] | None = None,
) -> DecisionResult:
    """Run a rule's action in auto mode: same validation and guardrails, no human approver."""
    action = await service.create_action(
        session=session,
        org_id=org_id,
        kind=kind,
        arguments=arguments,
        summary=summary,
        rule_id=rule_id,
        origin_channel=RULE_CHANNEL,
        campaign_id=campaign_id,
        before_state=before_state,
        expires_in=timedelta(minutes=5),
        deduplicate=False,
    )
    actor = Actor(org_id=org_id, user_id=None, channel=RULE_CHANNEL, source=f"rule:{rule_id}")
    won = await _claim(
        session=session,
        action=action,
        status=ActionStatus.APPROVED,
        decided_by=None,
        channel=RULE_CHANNEL,
    )
    if not won:
        await _explain_loss(session=session, action=action, actor=actor)
    await service.audit_action(session=session, actor=actor, action=action, event="approved")
    return await executor.execute(session=session, action=action, registry=registry, actor=actor)


async def undo(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    action_ref: str | uuid.UUID,
    user: User,
    channel: str,
    origin_conversation: str | None = None,
) -> PendingAction:
    """Propose the inverse of an executed action, within the undo window; it needs approval."""
    if user.org_id != org_id:
        raise PermissionDenied(f"{user.email} is not a member of this organization.")
    require(user, Permission.REQUEST_ACTION)
    action = await service.get(session=session, org_id=org_id, action_ref=action_ref)
    if action.status != ActionStatus.EXECUTED or not action.inverse:
        status = ActionStatus(action.status).value
        raise Conflict(f"Action {action.short_code} is {status}; only executed actions undo.")
    policy = await approval_policy.load_policy(session=session, org_id=org_id)
    if action.executed_at is None or utcnow() - action.executed_at > policy.undo_window:
        hours = policy.undo_window.total_seconds() / 3600
        raise Conflict(f"Action {action.short_code} is older than the {hours:g} h undo window.")
    await _refuse_second_undo(session, org_id, action)
    campaign = await service.load_campaign(
        session=session, org_id=org_id, campaign_id=uuid.UUID(action.arguments["campaign_id"])
    )
    after_state = (action.result or {}).get("after_state")
    if campaign is None or (
        after_state is not None and not same_state(service.campaign_state(campaign), after_state)
    ):
        raise StaleApproval(
            f"The campaign changed since {action.short_code} ran; undoing it would overwrite "
            "that. Propose the change you want instead."
        )
    return await service.create_action(
        session=session,
        org_id=org_id,
        kind=action.inverse["kind"],
        arguments=action.inverse["arguments"],
        summary=f"Undo {action.short_code}: {action.summary}",
        requested_by=user,
        origin_channel=channel,
        origin_conversation=origin_conversation,
        undo_of=action.id,
    )


async def _refuse_second_undo(
    session: AsyncSession, org_id: uuid.UUID, action: PendingAction
) -> None:
    query = select(PendingAction).where(
        PendingAction.org_id == org_id,
        PendingAction.undo_of == action.id,
        PendingAction.status.in_(
            [ActionStatus.PENDING, ActionStatus.APPROVED, ActionStatus.EXECUTED]
        ),
    )
    existing = await session.scalar(query.limit(1))
    if existing is not None and not (
        existing.status == ActionStatus.PENDING and existing.expires_at <= utcnow()
    ):
        status = ActionStatus(existing.status).value
        raise Conflict(
            f"Action {action.short_code} already has an undo ({existing.short_code}, {status})."
        )
