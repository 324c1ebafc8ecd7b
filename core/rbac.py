"""Who may do what: one permission table, one function every service calls."""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal

from core.errors import PermissionDenied
from core.users.models import Role, User


class Permission(enum.StrEnum):
    VIEW = "view"
    REQUEST_ACTION = "request_action"
    APPROVE = "approve"
    APPROVE_ABOVE_THRESHOLD = "approve_above_threshold"
    MANAGE_RULES = "manage_rules"
    MANAGE_BILLING = "manage_billing"
    MANAGE_TEAM = "manage_team"
    MANAGE_ACCOUNTS = "manage_accounts"
    MANAGE_DESTINATIONS = "manage_destinations"


# The one table. A user asks and looks; a manager also approves everyday changes and writes
# rules; only an admin approves large budget moves, pays, hires, connects ad accounts and
# decides where alerts go.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: frozenset({Permission.VIEW, Permission.REQUEST_ACTION}),
    Role.MANAGER: frozenset(
        {
            Permission.VIEW,
            Permission.REQUEST_ACTION,
            Permission.APPROVE,
            Permission.MANAGE_RULES,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}

ROLE_RANK = {Role.USER: 0, Role.MANAGER: 1, Role.ADMIN: 2}

# Budget changes above this amount per day need APPROVE_ABOVE_THRESHOLD unless the org sets one.
DEFAULT_APPROVAL_THRESHOLD = Decimal("1000")

_ACTION_WORDS = {
    Permission.VIEW: "view this organization's data",
    Permission.REQUEST_ACTION: "request changes",
    Permission.APPROVE: "approve changes",
    Permission.APPROVE_ABOVE_THRESHOLD: "approve budget changes above the approval threshold",
    Permission.MANAGE_RULES: "manage automation rules",
    Permission.MANAGE_BILLING: "manage billing",
    Permission.MANAGE_TEAM: "manage the team",
    Permission.MANAGE_ACCOUNTS: "manage ad accounts",
    Permission.MANAGE_DESTINATIONS: "change where alerts go",
}


def permissions_of(role: Role | str) -> frozenset[Permission]:
    return PERMISSIONS[Role(role)]


def may(user: User, permission: Permission, *, org_id: uuid.UUID | None = None) -> bool:
    """Whether `user` holds `permission` (in `org_id`, when given); inactive users hold nothing."""
    if not user.is_active:
        return False
    if org_id is not None and user.org_id != org_id:
        return False
    return permission in PERMISSIONS[Role(user.role)]


def require(user: User, permission: Permission, *, org_id: uuid.UUID | None = None) -> None:
    """Raise PermissionDenied with a readable reason unless `user` holds `permission`."""
    if may(user, permission, org_id=org_id):
        return
    if not user.is_active:
        reason = "the account is deactivated"
    elif org_id is not None and user.org_id != org_id:
        reason = "they belong to another organization"
    else:
        reason = f"their role is {Role(user.role).value}"
    raise PermissionDenied(f"{user.email} may not {_ACTION_WORDS[permission]}: {reason}.")


def approval_permission(
    *, spend_increase: Decimal, threshold: Decimal = DEFAULT_APPROVAL_THRESHOLD
) -> Permission:
    """The permission approving a change needs, given how much more per day it lets spend."""
    if spend_increase > threshold:
        return Permission.APPROVE_ABOVE_THRESHOLD
    return Permission.APPROVE


def may_approve(
    user: User,
    *,
    spend_increase: Decimal,
    threshold: Decimal = DEFAULT_APPROVAL_THRESHOLD,
    org_id: uuid.UUID | None = None,
) -> bool:
    needed = approval_permission(spend_increase=spend_increase, threshold=threshold)
    return may(user, needed, org_id=org_id)


def role_at_least(user: User, role: Role | str) -> bool:
    """Whether an active `user` ranks at or above `role` (admin > manager > user)."""
    return user.is_active and ROLE_RANK[Role(user.role)] >= ROLE_RANK[Role(role)]
