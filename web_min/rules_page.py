"""GET /settings/rules: the org's rules and the approvals waiting, read-mostly.

Switching a rule on or off goes through core's rule service (manage-rules; auto mode admin
only), and Approve/Reject through `core.approvals.flows.decide`, the very function chat's
buttons and `approve CODE` reach: the signed-in user decides, with the role, two-person,
expiry and stale-state checks that apply in chat. Chat copies of the card are redrawn after.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.replies import card_from_action
from channels.card_updates import refresh_copies
from core.action_limits import ActionKind
from core.approvals import flows
from core.approvals import policy as approval_policy
from core.approvals import service as approvals
from core.db import Database
from core.errors import CoreError
from core.rbac import Permission, may, role_at_least
from core.rules import service as rules
from core.users import service as users
from core.users.models import Role, User
from web_min.action_limits import count_action
from web_min.auth.deps import CsrfChecked, CurrentUser, WebUser
from web_min.pages import flash, render
from web_min.refusals import parse_id, refuse, status_of

log = logging.getLogger(__name__)

router = APIRouter()

PAGE = "/settings/rules"
WEB_CHANNEL = "web"


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _rules(session: AsyncSession, me: User) -> list[dict[str, Any]]:
    fired = await rules.last_firings(session=session, org_id=me.org_id)
    manages = may(me, Permission.MANAGE_RULES)
    listed = []
    for rule in await rules.list_rules(session=session, org_id=me.org_id):
        try:
            description = rules.describe(rule)
        except (CoreError, ValueError):
            description = "(this rule's stored form no longer parses; edit it in chat)"
        listed.append(
            {
                "row": rule,
                "description": description,
                "last_fired": fired.get(rule.id),
                # Switching on an auto-mode rule is an admin's call (core checks it again).
                "can_toggle": manages
                and (rule.enabled or rule.mode != "auto" or role_at_least(me, Role.ADMIN)),
            }
        )
    return listed


async def _pending(session: AsyncSession, me: User) -> list[dict[str, Any]]:
    # The embedded mode has no worker sweeping: settle this org's overdue cards first.
    await approvals.expire_overdue(session=session, org_id=me.org_id)
    policy = await approval_policy.load_policy(session=session, org_id=me.org_id)
    pending = await approvals.list_pending(session=session, org_id=me.org_id)
    requester_ids = {action.requested_by for action in pending if action.requested_by}
    emails = dict(
        (await session.execute(select(User.id, User.email).where(User.id.in_(requester_ids)))).all()
        if requester_ids
        else []
    )
    approver = may(me, Permission.APPROVE)
    return [
        {
            "row": action,
            "card": card_from_action(action, two_person_rule=policy.two_person_rule),
            "requester": emails.get(action.requested_by) if action.requested_by else None,
            "origin": action.origin_channel,
            "can_approve": approver,
            "can_reject": approver or action.requested_by == me.id,
        }
        for action in pending
    ]


async def _render(
    request: Request, user: WebUser, *, status_code: int = 200, error: str | None = None
) -> HTMLResponse:
    async with _database(request).tenant(user.org_id) as session:
        me = await users.get(session=session, org_id=user.org_id, user_id=user.user_id)
        context = {
            "rules": await _rules(session, me),
            "pending": await _pending(session, me),
            "manages_rules": may(me, Permission.MANAGE_RULES),
            "decision_error": error,
        }
    return render(request, "rules.html", context, status_code=status_code)


@router.get(PAGE, response_class=HTMLResponse)
async def rules_page(request: Request, user: CurrentUser) -> Response:
    return await _render(request, user)


async def _toggle(request: Request, user: WebUser, raw_id: str, *, enabled: bool) -> Response:
    rule_id = parse_id(raw_id)
    try:
        async with _database(request).tenant(user.org_id) as session:
            me = await users.get(session=session, org_id=user.org_id, user_id=user.user_id)
            result = await rules.set_enabled(
                session=session,
                org_id=user.org_id,
                user=me,
                rule_ref=rule_id,
                enabled=enabled,
                channel=WEB_CHANNEL,
            )
    except CoreError as exc:
        raise refuse(exc) from exc
    flash(request, f"Rule {result.rule.name!r} is {'on' if enabled else 'off'}.", "success")
    for warning in result.warnings:
        flash(request, warning, "warning")
    return RedirectResponse(PAGE, status_code=303)


@router.post(f"{PAGE}/{{rule_id}}/enable", dependencies=[CsrfChecked])
async def enable_rule(request: Request, user: CurrentUser, rule_id: str) -> Response:
    await count_action(request, user, ActionKind.CAMPAIGN_CHANGE)
    return await _toggle(request, user, rule_id, enabled=True)


@router.post(f"{PAGE}/{{rule_id}}/disable", dependencies=[CsrfChecked])
async def disable_rule(request: Request, user: CurrentUser, rule_id: str) -> Response:
    await count_action(request, user, ActionKind.CAMPAIGN_CHANGE)
    return await _toggle(request, user, rule_id, enabled=False)


async def _decide(request: Request, user: WebUser, raw_id: str, *, approve: bool) -> Response:
    action_id = parse_id(raw_id)
    database = _database(request)
    try:
        async with database.tenant(user.org_id) as session:
            me = await users.get(session=session, org_id=user.org_id, user_id=user.user_id)
            # Another org's id is not found here (org filter and RLS): a 404, not a refusal.
            await approvals.get(session=session, org_id=user.org_id, action_ref=action_id)
            result = await flows.decide(
                session=session,
                org_id=user.org_id,
                action_ref=action_id,
                user=me,
                approve=approve,
                channel=WEB_CHANNEL,
                registry=request.app.state.registry,
                source="settings page",
            )
    except CoreError as exc:
        if status_of(exc) == 404:
            raise refuse(exc) from exc
        # A refused decision shows why, on the page, with the status the edge gives it.
        return await _render(request, user, status_code=status_of(exc), error=exc.message)
    try:
        await refresh_copies(
            database=database,
            channels=request.app.state.channels,
            org_id=user.org_id,
            action_id=action_id,
        )
    except Exception:
        # The decision is committed; a chat copy left stale must not turn it into an error page.
        log.exception("could not redraw the chat copies of %s", action_id)
    flash(request, result.message, "success")
    return RedirectResponse(PAGE, status_code=303)


@router.post(f"{PAGE}/approvals/{{action_id}}/approve", dependencies=[CsrfChecked])
async def approve(request: Request, user: CurrentUser, action_id: str) -> Response:
    await count_action(request, user, ActionKind.CAMPAIGN_CHANGE)
    return await _decide(request, user, action_id, approve=True)


@router.post(f"{PAGE}/approvals/{{action_id}}/reject", dependencies=[CsrfChecked])
async def reject(request: Request, user: CurrentUser, action_id: str) -> Response:
    await count_action(request, user, ActionKind.CAMPAIGN_CHANGE)
    return await _decide(request, user, action_id, approve=False)
