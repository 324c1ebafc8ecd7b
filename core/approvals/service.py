"""Propose, find, list, expire and undo pending actions (deciding lives in flows.py)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import limits
from core.approvals import policy as approval_policy
from core.approvals.models import ActionStatus, PendingAction
from core.approvals.schemas import (
    ActionKind,
    canonical_arguments,
    decimal_text,
    grant_hash,
    parse_kind,
    same_state,
    state_of,
    validate_arguments,
)
from core.audit.service import Actor, record
from core.base import utcnow
from core.campaigns.models import Campaign, CampaignStatus
from core.errors import Conflict, IllegalTransition, NotFound, StaleApproval, ValidationFailed
from core.rbac import Permission, require
from core.users.models import User

# No 0/O, 1/I/L, no U/V pairs to misread: a code survives being read aloud or retyped.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_LENGTH = 4
_CODE_ATTEMPTS = 10

# Where each kind may start from, and where it leads.
SOURCE_STATES: dict[ActionKind, frozenset[CampaignStatus]] = {
    ActionKind.PAUSE_CAMPAIGN: frozenset({CampaignStatus.ACTIVE}),
    ActionKind.RESUME_CAMPAIGN: frozenset({CampaignStatus.PAUSED}),
    ActionKind.LAUNCH_CAMPAIGN: frozenset({CampaignStatus.DRAFT, CampaignStatus.PENDING_REVIEW}),
    ActionKind.SET_BUDGET: frozenset(
        {
            CampaignStatus.DRAFT,
            CampaignStatus.PENDING_REVIEW,
            CampaignStatus.ACTIVE,
            CampaignStatus.PAUSED,
        }
    ),
}
TARGET_STATUS: dict[ActionKind, CampaignStatus | None] = {
    ActionKind.PAUSE_CAMPAIGN: CampaignStatus.PAUSED,
    ActionKind.RESUME_CAMPAIGN: CampaignStatus.ACTIVE,
    ActionKind.LAUNCH_CAMPAIGN: CampaignStatus.ACTIVE,
    ActionKind.SET_BUDGET: None,
}


def snapshot(action: PendingAction) -> dict[str, Any]:
    """What an audit row records about an action."""
    return {
        "short_code": action.short_code,
        "kind": action.kind,
        "arguments": action.arguments,
        "status": ActionStatus(action.status).value,
        "before_state": action.before_state,
        "error": action.error,
    }


async def audit_action(
    *,
    session: AsyncSession,
    actor: Actor,
    action: PendingAction,
    event: str,
    before: dict[str, Any] | None = None,
) -> None:
    await record(
        session=session,
        actor=actor,
        action=f"approval.{event}",
        resource_type="pending_action",
        resource_id=action.id,
        before=before,
        after=snapshot(action),
    )


async def load_campaign(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID, lock: bool = False
) -> Campaign | None:
    query = select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


def campaign_state(campaign: Campaign) -> dict[str, Any]:
    return state_of(CampaignStatus(campaign.status).value, campaign.daily_budget)


def check_source_state(kind: ActionKind, campaign: Campaign) -> None:
    """A kind that cannot start from the campaign's status is an IllegalTransition."""
    current = CampaignStatus(campaign.status)
    if current not in SOURCE_STATES[kind]:
        target = TARGET_STATUS[kind]
        raise IllegalTransition(
            current=current.value, target=target.value if target else f"{kind.value} on it"
        )


async def _requester(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    requested_by: uuid.UUID | User | None,
    rule_id: uuid.UUID | None,
) -> uuid.UUID | None:
    if requested_by is None:
        return None
    user = requested_by if isinstance(requested_by, User) else await session.get(User, requested_by)
    if user is None or user.org_id != org_id:
        raise NotFound("No such user in this organization.")
    if rule_id is None:
        # A rule's author is its cards' requester for the two-person rule; whether they may
        # still ask for changes was settled when the rule was written (and a manager's rule
        # keeps working after they leave, the card just needs someone else).
        require(user, Permission.REQUEST_ACTION)
    return user.id


def _new_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


async def _code_taken(session: AsyncSession, org_id: uuid.UUID, code: str) -> bool:
    query = select(PendingAction.id).where(
        PendingAction.org_id == org_id, PendingAction.short_code == code
    )
    return await session.scalar(query) is not None


async def _insert_with_code(session: AsyncSession, action: PendingAction) -> None:
    """Insert under a fresh short code, unique per org (the constraint settles races)."""
    for attempt in range(_CODE_ATTEMPTS):
        # An org crowded at 4 characters gets longer codes rather than endless retries.
        code = _new_code(CODE_LENGTH if attempt < _CODE_ATTEMPTS // 2 else CODE_LENGTH + 2)
        if await _code_taken(session, action.org_id, code):
            continue
        action.short_code = code
        try:
            async with session.begin_nested():
                session.add(action)
        except IntegrityError:
            if await _code_taken(session, action.org_id, code):
                continue
            raise
        return
    raise Conflict("Could not allocate a short code for the action; try again.")


async def _open_duplicate(
    session: AsyncSession, org_id: uuid.UUID, arguments_hash: str
) -> PendingAction | None:
    query = select(PendingAction).where(
        PendingAction.org_id == org_id,
        PendingAction.arguments_hash == arguments_hash,
        PendingAction.status == ActionStatus.PENDING,
        PendingAction.expires_at > utcnow(),
    )
    return await session.scalar(query.limit(1))


async def propose(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    kind: str,
    arguments: dict[str, Any],
    summary: str,
    requested_by: uuid.UUID | User | None = None,
    rule_id: uuid.UUID | None = None,
    origin_channel: str = "system",
    origin_conversation: str | None = None,
    campaign_id: uuid.UUID | None = None,
    before_state: dict[str, Any] | None = None,
    required_role: str | None = None,
    expires_in: timedelta | None = None,
) -> PendingAction:
    """Create a pending action bound to org, kind, exact arguments and the state shown."""
    return await create_action(
        session=session,
        org_id=org_id,
        kind=kind,
        arguments=arguments,
        summary=summary,
        requested_by=requested_by,
        rule_id=rule_id,
        origin_channel=origin_channel,
        origin_conversation=origin_conversation,
        campaign_id=campaign_id,
        before_state=before_state,
        required_role=required_role,
        expires_in=expires_in,
    )


async def create_action(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    kind: str,
    arguments: dict[str, Any],
    summary: str,
    requested_by: uuid.UUID | User | None = None,
    rule_id: uuid.UUID | None = None,
    origin_channel: str = "system",
    origin_conversation: str | None = None,
    campaign_id: uuid.UUID | None = None,
    before_state: dict[str, Any] | None = None,
    required_role: str | None = None,
    expires_in: timedelta | None = None,
    undo_of: uuid.UUID | None = None,
    deduplicate: bool = True,
) -> PendingAction:
    """`propose` plus internals: an undo restores a known state, so it skips the % guardrail."""
    action_kind, stored_arguments, target_id = _validated(
        kind, arguments, campaign_id, summary, expires_in
    )
    policy = await approval_policy.load_policy(session=session, org_id=org_id)
    requester_id = await _requester(
        session=session, org_id=org_id, requested_by=requested_by, rule_id=rule_id
    )
    campaign = await load_campaign(session=session, org_id=org_id, campaign_id=target_id)
    if campaign is None:
        raise NotFound("No such campaign in this organization.")
    current = campaign_state(campaign)
    shown = current if before_state is None else _shown_state(before_state)
    if before_state is not None and not same_state(shown, current):
        raise StaleApproval("The campaign changed since this was shown; look again and retry.")
    check_source_state(action_kind, campaign)
    if action_kind is ActionKind.LAUNCH_CAMPAIGN and campaign.lifetime_budget is not None:
        # What the launch lets it spend: the card shows, binds and is judged on it too.
        shown = {**shown, "lifetime_budget": decimal_text(campaign.lifetime_budget)}
    if action_kind is ActionKind.SET_BUDGET and undo_of is None:
        approval_policy.check_budget_guardrail(policy, stored_arguments, shown)
    role = approval_policy.required_role_for(
        policy, action_kind.value, stored_arguments, shown, required_role
    )
    arguments_hash = grant_hash(
        org_id=org_id, kind=action_kind.value, arguments=stored_arguments, before_state=shown
    )
    if (
        deduplicate
        and undo_of is None
        and (existing := await _open_duplicate(session, org_id, arguments_hash))
    ):
        return existing
    if action_kind is ActionKind.SET_BUDGET:
        # Undos too: restoring a budget is a raise like any other as far as the window goes.
        await limits.check_window_cap(
            session=session,
            policy=policy,
            campaign=campaign,
            new_budget=Decimal(stored_arguments["daily_budget"]),
        )
    action = PendingAction(
        id=uuid.uuid4(),
        org_id=org_id,
        kind=action_kind.value,
        arguments=stored_arguments,
        arguments_hash=arguments_hash,
        before_state=shown,
        summary=summary.strip(),
        campaign_id=target_id,
        requested_by=requester_id,
        rule_id=rule_id,
        origin_channel=origin_channel,
        origin_conversation=origin_conversation,
        required_role=role.value,
        status=ActionStatus.PENDING,
        expires_at=utcnow() + (expires_in or policy.expiry),
        undo_of=undo_of,
    )
    await _insert_with_code(session, action)
    actor = Actor(org_id=org_id, user_id=requester_id, channel=origin_channel)
    if rule_id is not None:
        actor = Actor(org_id=org_id, user_id=None, channel="rule", source=f"rule:{rule_id}")
    await audit_action(session=session, actor=actor, action=action, event="proposed")
    return action


def _validated(
    kind: str,
    arguments: dict[str, Any],
    campaign_id: uuid.UUID | None,
    summary: str,
    expires_in: timedelta | None,
) -> tuple[ActionKind, dict[str, Any], uuid.UUID]:
    """The kind, canonical arguments and target campaign, or a precise ValidationFailed."""
    action_kind = parse_kind(kind)
    stored_arguments = canonical_arguments(validate_arguments(action_kind, arguments))
    target_id = uuid.UUID(stored_arguments["campaign_id"])
    if campaign_id is not None and campaign_id != target_id:
        raise ValidationFailed(
            "campaign_id differs from arguments.campaign_id.", field="campaign_id"
        )
    if not summary.strip():
        raise ValidationFailed("An action needs a human summary.", field="summary")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValidationFailed("expires_in must be positive.", field="expires_in")
    return action_kind, stored_arguments, target_id


def _shown_state(before_state: dict[str, Any]) -> dict[str, Any]:
    """Normalise a caller-given before_state to the stored shape."""
    status = before_state.get("status")
    budget = before_state.get("daily_budget")
    try:
        amount = None if budget is None else Decimal(str(budget))
    except InvalidOperation:
        raise ValidationFailed("before_state.daily_budget is not a number.") from None
    if not isinstance(status, str):
        raise ValidationFailed("before_state needs the campaign status.", field="before_state")
    return state_of(status, amount)


def _as_uuid(action_ref: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(action_ref, uuid.UUID):
        return action_ref
    try:
        return uuid.UUID(action_ref.strip())
    except ValueError:
        return None


def normalise_code(code: str) -> str:
    """What a person typed ("#ab3k ") as the stored code ("AB3K")."""
    return code.strip().lstrip("#").upper()


async def get(
    *, session: AsyncSession, org_id: uuid.UUID, action_ref: str | uuid.UUID, lock: bool = False
) -> PendingAction:
    """The org's action by id or short code; another org's action is simply not found."""
    action_id = _as_uuid(action_ref)
    query = select(PendingAction).where(PendingAction.org_id == org_id)
    if action_id is not None:
        query = query.where(PendingAction.id == action_id)
    else:
        query = query.where(PendingAction.short_code == normalise_code(str(action_ref)))
    if lock:
        query = query.with_for_update()
    action = await session.scalar(query.execution_options(populate_existing=True))
    if action is None:
        raise NotFound(f"No pending action {action_ref!s} in this organization.")
    return action


async def list_pending(*, session: AsyncSession, org_id: uuid.UUID) -> list[PendingAction]:
    """The org's actions still awaiting a decision, oldest first."""
    query = (
        select(PendingAction)
        .where(
            PendingAction.org_id == org_id,
            PendingAction.status == ActionStatus.PENDING,
            PendingAction.expires_at > utcnow(),
        )
        .order_by(PendingAction.created_at, PendingAction.id)
    )
    return list(await session.scalars(query))


# An action still `approved` this long after its decision was interrupted mid-execution.
INTERRUPTED_AFTER = timedelta(minutes=15)


async def expire_overdue(
    *, session: AsyncSession, now: datetime | None = None, org_id: uuid.UUID | None = None
) -> list[PendingAction]:
    """Overdue pending actions expire, interrupted ones fail: all orgs (the worker) or one."""
    moment = now or utcnow()
    scope = PendingAction.org_id == org_id if org_id is not None else true()
    expired = await _sweep(
        session,
        scope
        & (PendingAction.status == ActionStatus.PENDING)
        & (PendingAction.expires_at <= moment),
        values={"status": ActionStatus.EXPIRED},
        event="expired",
    )
    interrupted = await _sweep(
        session,
        scope
        & (PendingAction.status == ActionStatus.APPROVED)
        & (PendingAction.decided_at <= moment - INTERRUPTED_AFTER),
        values={
            "status": ActionStatus.FAILED,
            "error": "interrupted: the process stopped while the platform executed the action; "
            "check the campaign on the platform",
        },
        event="failed",
    )
    return expired + interrupted


async def _sweep(
    session: AsyncSession, condition: Any, *, values: dict[str, Any], event: str
) -> list[PendingAction]:
    statement = (
        update(PendingAction)
        .where(condition)
        .values(**values)
        .returning(PendingAction.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(await session.scalars(statement))
    if not ids:
        return []
    query = select(PendingAction).where(PendingAction.id.in_(ids))
    actions = list(await session.scalars(query.execution_options(populate_existing=True)))
    for action in actions:
        actor = Actor(org_id=action.org_id, user_id=None, channel="system", source="sweep")
        await audit_action(session=session, actor=actor, action=action, event=event)
    return actions
