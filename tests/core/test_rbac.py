"""The permission table, role by role, and what inactive or foreign users may do (nothing)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from core.errors import PermissionDenied
from core.rbac import (
    DEFAULT_APPROVAL_THRESHOLD,
    PERMISSIONS,
    Permission,
    approval_permission,
    may,
    may_approve,
    permissions_of,
    require,
    role_at_least,
)
from core.users.models import Role, User

P = Permission
# The expected table, written out independently of core/rbac.py: a change there must show here.
EXPECTED: dict[Permission, dict[Role, bool]] = {
    P.VIEW: {Role.USER: True, Role.MANAGER: True, Role.ADMIN: True},
    P.REQUEST_ACTION: {Role.USER: True, Role.MANAGER: True, Role.ADMIN: True},
    P.APPROVE: {Role.USER: False, Role.MANAGER: True, Role.ADMIN: True},
    P.APPROVE_ABOVE_THRESHOLD: {Role.USER: False, Role.MANAGER: False, Role.ADMIN: True},
    P.MANAGE_RULES: {Role.USER: False, Role.MANAGER: True, Role.ADMIN: True},
    P.MANAGE_BILLING: {Role.USER: False, Role.MANAGER: False, Role.ADMIN: True},
    P.MANAGE_TEAM: {Role.USER: False, Role.MANAGER: False, Role.ADMIN: True},
    P.MANAGE_ACCOUNTS: {Role.USER: False, Role.MANAGER: False, Role.ADMIN: True},
    P.MANAGE_DESTINATIONS: {Role.USER: False, Role.MANAGER: False, Role.ADMIN: True},
}
CASES = [
    (role, permission, allowed)
    for permission, row in EXPECTED.items()
    for role, allowed in row.items()
]
ORG = uuid.uuid4()


def make_user(role: Role, *, active: bool = True, org_id: uuid.UUID = ORG) -> User:
    return User(
        id=uuid.uuid4(),
        org_id=org_id,
        email=f"{role.value}@example.com",
        role=role,
        is_active=active,
    )


def test_expected_table_covers_every_role_and_permission() -> None:
    assert set(EXPECTED) == set(Permission)
    assert all(set(row) == set(Role) for row in EXPECTED.values())
    assert set(PERMISSIONS) == set(Role)


@pytest.mark.parametrize(("role", "permission", "allowed"), CASES)
def test_permission_table(role: Role, permission: Permission, allowed: bool) -> None:
    user = make_user(role)
    assert may(user, permission) is allowed
    assert may(user, permission, org_id=ORG) is allowed
    assert (permission in permissions_of(role)) is allowed
    if allowed:
        require(user, permission)
    else:
        with pytest.raises(PermissionDenied) as info:
            require(user, permission)
        assert user.email in info.value.message
        assert f"their role is {role.value}" in info.value.message


@pytest.mark.parametrize(("role", "permission"), [(r, p) for r in Role for p in Permission])
def test_inactive_users_hold_nothing(role: Role, permission: Permission) -> None:
    user = make_user(role, active=False)
    assert not may(user, permission)
    with pytest.raises(PermissionDenied) as info:
        require(user, permission)
    assert "deactivated" in info.value.message


@pytest.mark.parametrize("permission", list(Permission))
def test_no_permission_in_another_org(permission: Permission) -> None:
    admin = make_user(Role.ADMIN)
    other_org = uuid.uuid4()
    assert not may(admin, permission, org_id=other_org)
    with pytest.raises(PermissionDenied) as info:
        require(admin, permission, org_id=other_org)
    assert "another organization" in info.value.message


def test_roles_are_ordered() -> None:
    ranks = [Role.USER, Role.MANAGER, Role.ADMIN]
    for i, held in enumerate(ranks):
        for j, needed in enumerate(ranks):
            assert role_at_least(make_user(held), needed) is (i >= j)
            assert role_at_least(make_user(held), needed.value) is (i >= j)
    assert not role_at_least(make_user(Role.ADMIN, active=False), Role.USER)


def test_higher_roles_hold_everything_lower_roles_hold() -> None:
    assert PERMISSIONS[Role.USER] <= PERMISSIONS[Role.MANAGER] <= PERMISSIONS[Role.ADMIN]


@pytest.mark.parametrize(
    ("increase", "threshold", "needed"),
    [
        (Decimal("0"), DEFAULT_APPROVAL_THRESHOLD, P.APPROVE),
        (Decimal("1000"), DEFAULT_APPROVAL_THRESHOLD, P.APPROVE),
        (Decimal("1000.01"), DEFAULT_APPROVAL_THRESHOLD, P.APPROVE_ABOVE_THRESHOLD),
        (Decimal("30"), Decimal("25"), P.APPROVE_ABOVE_THRESHOLD),
        (Decimal("25"), Decimal("25"), P.APPROVE),
    ],
)
def test_approval_needs_more_above_the_threshold(
    increase: Decimal, threshold: Decimal, needed: Permission
) -> None:
    assert approval_permission(spend_increase=increase, threshold=threshold) is needed
    manager, admin = make_user(Role.MANAGER), make_user(Role.ADMIN)
    assert may_approve(manager, spend_increase=increase, threshold=threshold) is (
        needed is P.APPROVE
    )
    assert may_approve(admin, spend_increase=increase, threshold=threshold)
    assert not may_approve(make_user(Role.USER), spend_increase=increase, threshold=threshold)
