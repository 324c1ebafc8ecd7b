"""Who may do what: one permission table, one function every service calls."""

from __future__ import annotations

import enum
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


def may(user: User, permission: Permission) -> bool:
    """Whether `user` holds `permission`; inactive users hold nothing."""
    return user.is_active and permission in PERMISSIONS[Role(user.role)]


def require(user: User, permission: Permission) -> None:
    """Raise PermissionDenied with a readable reason unless `user` holds `permission`."""
    if not may(user, permission):
        raise PermissionDenied(
            f"{user.email} ({Role(user.role).value}) may not {permission.value.replace('_', ' ')}."
        )


def role_at_least(user: User, role: Role | str) -> bool:
    return user.is_active and ROLE_RANK[Role(user.role)] >= ROLE_RANK[Role(role)]
