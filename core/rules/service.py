"""Create, change, enable, disable, delete, list and find rules (audited, manage-rules only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.models import ActionStatus, PendingAction
from core.audit.service import Actor, record
from core.base import utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.rbac import Permission, require, role_at_least
from core.rules.conflicts import find_conflicts
from core.rules.models import Alert, Rule
from core.rules.schemas import (
    Condition,
    Group,
    RuleCreate,
    RuleSpec,
    parse_rule,
    parse_spec,
)
from core.users.models import Role, User


@dataclass
class RuleResult:
    """A saved rule plus non-fatal warnings (e.g. it may flap with another rule)."""

    rule: Rule
    warnings: list[str] = field(default_factory=list)


def _authorise(user: User, org_id: uuid.UUID) -> None:
    if user.org_id != org_id:
        raise PermissionDenied("That user belongs to another organization.")
    require(user, Permission.MANAGE_RULES)


def _authorise_mode(user: User, mode: str, enabled: bool) -> None:
    """Only an admin may switch on a rule that acts without approval (auto mode)."""
    if mode == "auto" and enabled and not role_at_least(user, Role.ADMIN):
        raise PermissionDenied(
            f"Only an admin may run a rule in auto mode (it acts without approval); "
            f"{user.email} is {Role(user.role).value}. Use approve mode instead."
        )


def _snapshot(rule: Rule) -> dict[str, Any]:
    return {"name": rule.name, "mode": rule.mode, "enabled": rule.enabled, "spec": rule.spec}


def stored_spec(spec: RuleSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)


async def _audit(
    session: AsyncSession,
    *,
    user: User,
    channel: str,
    action: str,
    rule: Rule,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    actor = Actor(org_id=rule.org_id, user_id=user.id, channel=channel)
    await record(
        session=session,
        actor=actor,
        action=action,
        resource_type="rule",
        resource_id=rule.id,
        before=before,
        after=after,
    )


async def _warnings(
    session: AsyncSession, org_id: uuid.UUID, name: str, spec: RuleSpec
) -> list[str]:
    rows = await session.execute(
        select(Rule.name, Rule.spec).where(Rule.org_id == org_id, Rule.enabled.is_(True))
    )
    others = [(row[0], parse_spec(row[1])) for row in rows if row[0] != name]
    return find_conflicts(name, spec, others)


async def _name_free(
    session: AsyncSession, org_id: uuid.UUID, name: str, rule_id: uuid.UUID | None = None
) -> None:
    # The exact match too: SQLite's lower() folds ASCII only, so "Ð" would slip past it and
    # reach the unique constraint as an IntegrityError instead of this Conflict.
    same_name = or_(Rule.name == name, func.lower(Rule.name) == name.lower())
    query = select(Rule.id).where(Rule.org_id == org_id, same_name)
    existing = await session.scalar(query)
    if existing is not None and existing != rule_id:
        raise Conflict(f"A rule named {name!r} exists already.")


async def create_rule(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    rule_in: RuleCreate | dict[str, Any],
    channel: str = "system",
) -> RuleResult:
    """Validate and save a rule (full or compact form); warns about flapping with others."""
    _authorise(user, org_id)
    parsed = parse_rule(rule_in)
    _authorise_mode(user, parsed.mode, parsed.enabled)
    name = parsed.name.strip()
    await _name_free(session, org_id, name)
    rule = Rule(
        org_id=org_id,
        name=name,
        spec=stored_spec(parsed.spec),
        mode=parsed.mode,
        enabled=parsed.enabled,
        created_by=user.id,
    )
    session.add(rule)
    await session.flush()
    await _audit(
        session,
        user=user,
        channel=channel,
        action="rule.created",
        rule=rule,
        before=None,
        after=_snapshot(rule),
    )
    warnings = await _warnings(session, org_id, name, parsed.spec) if parsed.enabled else []
    return RuleResult(rule=rule, warnings=warnings)


async def update_rule(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    rule_ref: str | uuid.UUID,
    changes: dict[str, Any],
    channel: str = "system",
) -> RuleResult:
    """Replace some of name/spec/mode/enabled (spec fields may be given flat) and re-validate."""
    _authorise(user, org_id)
    rule = await get_rule(session=session, org_id=org_id, rule_ref=rule_ref)
    before = _snapshot(rule)
    merged: dict[str, Any] = {"name": rule.name, "mode": rule.mode, "enabled": rule.enabled}
    spec = dict(rule.spec)
    for key, value in changes.items():
        if key in RuleSpec.model_fields:
            spec[key] = value
        else:
            merged[key] = value
    merged["spec"] = changes.get("spec", spec)
    parsed = parse_rule(merged)
    _authorise_mode(user, parsed.mode, parsed.enabled)
    await _name_free(session, org_id, parsed.name.strip(), rule.id)
    rule.name, rule.mode, rule.enabled = parsed.name.strip(), parsed.mode, parsed.enabled
    rule.spec = stored_spec(parsed.spec)
    rule.updated_at = utcnow()
    rule.updated_by = user.id
    await session.flush()
    await _audit(
        session,
        user=user,
        channel=channel,
        action="rule.updated",
        rule=rule,
        before=before,
        after=_snapshot(rule),
    )
    warnings = await _warnings(session, org_id, rule.name, parsed.spec) if rule.enabled else []
    return RuleResult(rule=rule, warnings=warnings)


async def set_enabled(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    rule_ref: str | uuid.UUID,
    enabled: bool,
    channel: str = "system",
) -> RuleResult:
    """Switch a rule on or off; switching on re-checks for conflicts."""
    _authorise(user, org_id)
    rule = await get_rule(session=session, org_id=org_id, rule_ref=rule_ref)
    _authorise_mode(user, rule.mode, enabled)
    before = _snapshot(rule)
    rule.enabled = enabled
    rule.updated_at = utcnow()
    rule.updated_by = user.id
    await session.flush()
    action = "rule.enabled" if enabled else "rule.disabled"
    await _audit(
        session,
        user=user,
        channel=channel,
        action=action,
        rule=rule,
        before=before,
        after=_snapshot(rule),
    )
    spec = parse_spec(rule.spec)
    warnings = await _warnings(session, org_id, rule.name, spec) if enabled else []
    return RuleResult(rule=rule, warnings=warnings)


async def enable_rule(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    rule_ref: str | uuid.UUID,
    channel: str = "system",
) -> RuleResult:
    """Switch a rule on."""
    return await set_enabled(
        session=session,
        org_id=org_id,
        user=user,
        rule_ref=rule_ref,
        enabled=True,
        channel=channel,
    )


async def disable_rule(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    rule_ref: str | uuid.UUID,
    channel: str = "system",
) -> RuleResult:
    """Switch a rule off."""
    return await set_enabled(
        session=session,
        org_id=org_id,
        user=user,
        rule_ref=rule_ref,
        enabled=False,
        channel=channel,
    )


async def delete_rule(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user: User,
    rule_ref: str | uuid.UUID,
    channel: str = "system",
) -> None:
    """Delete a rule; its alerts stay (rule_id becomes NULL), its open cards are withdrawn.

    A card keeps its rule's authors only through the rule: once the rule is gone nothing
    would stop its author from approving the card it raised, so no such card may outlive it.
    """
    _authorise(user, org_id)
    rule = await get_rule(session=session, org_id=org_id, rule_ref=rule_ref)
    withdrawn = await session.scalars(
        update(PendingAction)
        .where(
            PendingAction.org_id == org_id,
            PendingAction.rule_id == rule.id,
            PendingAction.status == ActionStatus.PENDING,
        )
        .values(
            status=ActionStatus.REJECTED,
            decided_by=user.id,
            decided_at=utcnow(),
            decided_via=channel,
        )
        .returning(PendingAction.short_code)
        .execution_options(synchronize_session=False)
    )
    after = {"withdrawn_cards": sorted(withdrawn.all())}
    await _audit(
        session,
        user=user,
        channel=channel,
        action="rule.deleted",
        rule=rule,
        before=_snapshot(rule),
        after=after,
    )
    await session.delete(rule)
    await session.flush()


async def list_rules(
    *, session: AsyncSession, org_id: uuid.UUID, enabled: bool | None = None
) -> list[Rule]:
    """The org's rules by name."""
    query = select(Rule).where(Rule.org_id == org_id)
    if enabled is not None:
        query = query.where(Rule.enabled.is_(enabled))
    return list(await session.scalars(query.order_by(Rule.name)))


async def last_firings(*, session: AsyncSession, org_id: uuid.UUID) -> dict[uuid.UUID, datetime]:
    """When each of the org's rules last raised an alert (rules that never fired are absent)."""
    rows = await session.execute(
        select(Alert.rule_id, func.max(Alert.created_at))
        .where(Alert.org_id == org_id, Alert.rule_id.is_not(None))
        .group_by(Alert.rule_id)
    )
    return {rule_id: fired for rule_id, fired in rows if rule_id is not None}


def _as_uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


async def get_rule(*, session: AsyncSession, org_id: uuid.UUID, rule_ref: str | uuid.UUID) -> Rule:
    """A rule by id or by name (case-insensitive) within the org."""
    rule_id = _as_uuid(rule_ref)
    if rule_id is not None:
        rule = await session.scalar(select(Rule).where(Rule.org_id == org_id, Rule.id == rule_id))
    else:
        name = str(rule_ref).strip().lower()
        rule = await session.scalar(
            select(Rule).where(Rule.org_id == org_id, func.lower(Rule.name) == name)
        )
    if rule is None:
        raise NotFound(f"No rule {str(rule_ref)!r} in this organization.")
    return rule


def describe(rule: Rule) -> str:
    """One line a person can read: scope, conditions, action, mode."""
    spec = parse_spec(rule.spec)
    scope = spec.scope
    where = {
        "all": "all campaigns",
        "platform": "platform " + "+".join(scope.platforms),
        "campaigns": ", ".join(scope.campaigns),
        "name_contains": f"names containing {scope.contains!r}",
    }[scope.kind]
    if scope.platforms and scope.kind != "platform":
        where += " on " + "+".join(scope.platforms)
    if scope.blended:
        where = "blended " + where
    return f"{where}: if {condition_text(spec.conditions)} -> {spec.action.type} ({rule.mode})"


def condition_text(node: Group | Condition, top: bool = True) -> str:
    """Conditions in the compact text form, groups in parentheses."""
    if isinstance(node, Condition):
        return node.text()
    joiner = " and " if node.combinator == "all" else " or "
    text = joiner.join(condition_text(child, top=False) for child in node.children)
    return text if top or len(node.children) == 1 else f"({text})"
