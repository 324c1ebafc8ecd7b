"""Rule service: permission, audit, conflicts on create, lookup by name or id, lifecycle."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import list_recent
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.rules import service
from core.users.models import Role
from tests import factories


async def test_create_requires_manage_rules_and_is_audited(session: AsyncSession) -> None:
    organization = await factories.org(session)
    plain = await factories.user(session, organization, role=Role.USER)
    manager = await factories.user(session, organization, role=Role.MANAGER)
    spec = {"name": "High CPA", "conditions": ["cpa last_7d > 50"]}
    with pytest.raises(PermissionDenied):
        await service.create_rule(session=session, org_id=organization.id, user=plain, rule_in=spec)
    created = await service.create_rule(
        session=session, org_id=organization.id, user=manager, rule_in=spec, channel="slack"
    )
    assert created.warnings == []
    assert created.rule.spec["conditions"]["all"][0]["metric"] == "cpa"
    audit = await list_recent(session=session, org_id=organization.id, action="rule.created")
    assert audit[0].user_id == manager.id
    assert audit[0].channel == "slack"
    assert audit[0].after is not None
    assert audit[0].after["name"] == "High CPA"
    with pytest.raises(Conflict):
        await service.create_rule(
            session=session,
            org_id=organization.id,
            user=manager,
            rule_in={**spec, "name": "high cpa"},
        )


async def test_other_org_user_is_refused(session: AsyncSession) -> None:
    mine, theirs = await factories.org(session), await factories.org(session)
    admin = await factories.user(session, theirs, role=Role.ADMIN)
    await factories.act_as(session, mine)
    with pytest.raises(PermissionDenied):
        await service.create_rule(
            session=session,
            org_id=mine.id,
            user=admin,
            rule_in={"name": "x", "conditions": ["cpa today > 1"]},
        )


async def test_create_warns_about_flapping(session: AsyncSession) -> None:
    organization = await factories.org(session)
    admin = await factories.user(session, organization, role=Role.ADMIN)
    await service.create_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_in={
            "name": "Pause dear",
            "conditions": ["cpa last_7d > 50"],
            "action": {"type": "pause"},
            "mode": "approve",
        },
    )
    result = await service.create_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_in={
            "name": "Resume cheap",
            "conditions": ["cpa last_7d < 60"],
            "action": {"type": "resume"},
            "mode": "approve",
        },
    )
    assert len(result.warnings) == 1
    assert "'Resume cheap'" in result.warnings[0]
    assert "'Pause dear'" in result.warnings[0]
    # Switched off, the old rule no longer conflicts.
    await service.disable_rule(
        session=session, org_id=organization.id, user=admin, rule_ref="pause dear"
    )
    again = await service.update_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_ref="Resume cheap",
        changes={"conditions": ["cpa last_7d < 55"]},
    )
    assert again.warnings == []
    enabled = await service.enable_rule(
        session=session, org_id=organization.id, user=admin, rule_ref="Pause dear"
    )
    assert "'Resume cheap'" in enabled.warnings[0]


async def test_get_update_list_delete(session: AsyncSession) -> None:
    organization = await factories.org(session)
    admin = await factories.user(session, organization, role=Role.ADMIN)
    created = await service.create_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_in={"name": "B rule", "conditions": ["spend today > 100"]},
    )
    await service.create_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_in={"name": "A rule", "conditions": ["ctr last_3d < 1"], "enabled": False},
    )
    by_id = await service.get_rule(
        session=session, org_id=organization.id, rule_ref=str(created.rule.id)
    )
    assert by_id is created.rule
    assert [r.name for r in await service.list_rules(session=session, org_id=organization.id)] == [
        "A rule",
        "B rule",
    ]
    assert [
        r.name
        for r in await service.list_rules(session=session, org_id=organization.id, enabled=True)
    ] == ["B rule"]
    with pytest.raises(ValidationFailed) as caught:
        await service.update_rule(
            session=session,
            org_id=organization.id,
            user=admin,
            rule_ref="b rule",
            changes={"action": {"type": "change_budget", "percent": 900}},
        )
    assert caught.value.field == "spec.action.percent"
    updated = await service.update_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_ref="b rule",
        changes={"action": {"type": "pause"}, "mode": "auto"},
    )
    assert updated.rule.mode == "auto"
    assert "-> pause (auto)" in service.describe(updated.rule)
    await service.delete_rule(
        session=session, org_id=organization.id, user=admin, rule_ref="B rule"
    )
    with pytest.raises(NotFound):
        await service.get_rule(session=session, org_id=organization.id, rule_ref="B rule")
    actions = [row.action for row in await list_recent(session=session, org_id=organization.id)]
    assert {"rule.created", "rule.updated", "rule.deleted"} <= set(actions)


AUTO_PAUSE = {
    "name": "Stop the bleeding",
    "conditions": ["cpa last_3d > 80"],
    "action": {"type": "pause"},
    "mode": "auto",
}


async def test_only_admins_switch_on_auto_mode(session: AsyncSession) -> None:
    organization = await factories.org(session)
    manager = await factories.user(session, organization, role=Role.MANAGER)
    admin = await factories.user(session, organization, role=Role.ADMIN)
    with pytest.raises(PermissionDenied, match="Only an admin"):
        await service.create_rule(
            session=session, org_id=organization.id, user=manager, rule_in=AUTO_PAUSE
        )
    approve = await service.create_rule(
        session=session,
        org_id=organization.id,
        user=manager,
        rule_in={**AUTO_PAUSE, "name": "Ask first", "mode": "approve"},
    )
    with pytest.raises(PermissionDenied, match="Only an admin"):
        await service.update_rule(
            session=session,
            org_id=organization.id,
            user=manager,
            rule_ref=approve.rule.id,
            changes={"mode": "auto"},
        )
    created = await service.create_rule(
        session=session,
        org_id=organization.id,
        user=admin,
        rule_in={**AUTO_PAUSE, "enabled": False},
    )
    with pytest.raises(PermissionDenied, match="Only an admin"):
        await service.enable_rule(
            session=session, org_id=organization.id, user=manager, rule_ref=created.rule.id
        )
    enabled = await service.enable_rule(
        session=session, org_id=organization.id, user=admin, rule_ref=created.rule.id
    )
    assert enabled.rule.enabled


@pytest.mark.parametrize(
    ("limits", "action", "message"),
    [
        ({"cooldown_hours": 1}, {"type": "change_budget", "percent": -10}, "cooldown_hours >= 24"),
        ({}, {"type": "change_budget", "percent": 20}, "max_budget_multiple"),
        ({}, {"type": "set_budget", "amount": 90}, "max_budget_multiple"),
    ],
)
async def test_auto_budget_rules_need_a_daily_limit_and_a_cap(
    session: AsyncSession, limits: dict[str, object], action: dict[str, object], message: str
) -> None:
    organization = await factories.org(session)
    admin = await factories.user(session, organization, role=Role.ADMIN)
    rule = {**AUTO_PAUSE, "action": action, "limits": limits}
    with pytest.raises(ValidationFailed, match=message):
        await service.create_rule(session=session, org_id=organization.id, user=admin, rule_in=rule)
