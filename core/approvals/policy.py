"""Per-org approval policy: expiry, thresholds, guardrails, the two-person rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.schemas import ActionKind, budget_of
from core.config import get_settings
from core.errors import NotFound, ValidationFailed
from core.orgs.models import Organization
from core.rbac import DEFAULT_APPROVAL_THRESHOLD
from core.users.models import Role


@dataclass(frozen=True)
class ApprovalPolicy:
    """The knobs one org's approvals run under, defaults filled from core settings."""

    expiry: timedelta
    undo_window: timedelta
    approval_threshold: Decimal
    max_budget_change_percent: Decimal
    two_person_rule: bool
    # The change cap holds per campaign over this rolling window, not per card.
    budget_window: timedelta = timedelta(hours=24)
    # Off by default: nobody approves their own money-moving card; a solo operator opts in.
    allow_self_approval: bool = False


def _decimal(raw: Any, default: Decimal, name: str) -> Decimal:
    if raw is None:
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValidationFailed(f"Organization setting {name} is not a number: {raw!r}.") from None
    if not value.is_finite() or value < 0:
        raise ValidationFailed(f"Organization setting {name} must be a non-negative number.")
    return value


# Upper bounds for the hour settings: past them a window or expiry means nothing useful, and
# absurd values would overflow date arithmetic in every approval of the org.
MAX_HOURS = {
    "approval_expiry_hours": 24 * 14,
    "undo_window_hours": 24 * 7,
    "budget_window_hours": 24 * 31,
}


def _hours(raw: Any, default: int, name: str) -> timedelta:
    hours = _decimal(raw, Decimal(default), name)
    if hours <= 0:
        raise ValidationFailed(f"Organization setting {name} must be positive.")
    if hours > MAX_HOURS[name]:
        raise ValidationFailed(
            f"Organization setting {name} is at most {MAX_HOURS[name]} hours (got {hours})."
        )
    return timedelta(hours=float(hours))


def policy_from(org_settings: dict[str, Any]) -> ApprovalPolicy:
    settings = get_settings()
    return ApprovalPolicy(
        expiry=_hours(
            org_settings.get("approval_expiry_hours"),
            settings.approval_expiry_hours,
            "approval_expiry_hours",
        ),
        undo_window=_hours(
            org_settings.get("undo_window_hours"), settings.undo_window_hours, "undo_window_hours"
        ),
        approval_threshold=_decimal(
            org_settings.get("approval_threshold"),
            DEFAULT_APPROVAL_THRESHOLD,
            "approval_threshold",
        ),
        max_budget_change_percent=_decimal(
            org_settings.get("max_budget_change_percent"),
            settings.max_budget_change_percent,
            "max_budget_change_percent",
        ),
        two_person_rule=bool(org_settings.get("two_person_rule", False)),
        budget_window=_hours(org_settings.get("budget_window_hours"), 24, "budget_window_hours"),
        allow_self_approval=org_settings.get("allow_self_approval") is True,
    )


async def load_policy(*, session: AsyncSession, org_id: uuid.UUID) -> ApprovalPolicy:
    """The org's approval policy; NotFound when the org does not exist."""
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organization.")
    return policy_from(org.settings or {})


def spend_increase(kind: str, arguments: dict[str, Any], before_state: dict[str, Any]) -> Decimal:
    """How much more per day the action lets the campaign spend (0 when it spends less)."""
    if kind == ActionKind.SET_BUDGET:
        new = Decimal(str(arguments["daily_budget"]))
        old = budget_of(before_state) or Decimal(0)
        return max(new - old, Decimal(0))
    if kind == ActionKind.LAUNCH_CAMPAIGN:
        # A launch starts spending from nothing; a lifetime budget may all go in one day.
        lifetime = before_state.get("lifetime_budget")
        amounts = [budget_of(before_state), None if lifetime is None else Decimal(str(lifetime))]
        return max((amount for amount in amounts if amount is not None), default=Decimal(0))
    return Decimal(0)


def moves_money(kind: str, arguments: dict[str, Any], before_state: dict[str, Any]) -> bool:
    """Whether the action lets the campaign spend more than now (a resume restarts spend).

    A launch starts spend whatever its budget says (a draft may carry none, or only a
    lifetime budget). Pauses and budget cuts only stop spend: their requester may approve
    them, so stopping a loss never waits for a second person.
    """
    if kind in (ActionKind.RESUME_CAMPAIGN, ActionKind.LAUNCH_CAMPAIGN):
        return True
    return spend_increase(kind, arguments, before_state) > 0


def above_threshold(
    policy: ApprovalPolicy, kind: str, arguments: dict[str, Any], before_state: dict[str, Any]
) -> bool:
    return spend_increase(kind, arguments, before_state) > policy.approval_threshold


def required_role_for(
    policy: ApprovalPolicy,
    kind: str,
    arguments: dict[str, Any],
    before_state: dict[str, Any],
    requested: str | None,
) -> Role:
    """Manager by default, admin above the threshold; a caller may ask for more, never less."""
    ranks = {Role.USER: 0, Role.MANAGER: 1, Role.ADMIN: 2}
    role = Role.ADMIN if above_threshold(policy, kind, arguments, before_state) else Role.MANAGER
    if requested is not None:
        try:
            asked = Role(requested)
        except ValueError:
            raise ValidationFailed(f"Unknown role {requested!r}.", field="required_role") from None
        if ranks[asked] > ranks[role]:
            role = asked
    return role


def check_budget_guardrail(
    policy: ApprovalPolicy, arguments: dict[str, Any], before_state: dict[str, Any]
) -> None:
    """Refuse a budget change larger than the org's max percent (no basis: nothing to compare)."""
    old = budget_of(before_state)
    if old is None or old == 0:
        return
    new = Decimal(str(arguments["daily_budget"]))
    percent = abs(new - old) / old * 100
    if percent > policy.max_budget_change_percent:
        raise ValidationFailed(
            f"A change from {old} to {new} is {percent:.1f}%, above this organization's "
            f"limit of {policy.max_budget_change_percent}% per change.",
            field="daily_budget",
        )
