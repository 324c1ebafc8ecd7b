"""/settings/team (admins): members, invitations, roles, deactivation and the org's audit log;
/invite/{token}: the invitee's accept page.

Everything an admin does here is audit-logged by the core service it calls, and counts against
the admin action limit (30/min per person and per org), as chat's admin actions would.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from limits import parse
from starlette.exceptions import HTTPException

from channels.email.transactional import email_ready
from core.action_limits import ActionKind
from core.audit.service import Actor, AuditPage, AuditQuery, search
from core.auth import sessions
from core.config import Settings
from core.db import Database
from core.errors import Conflict, Expired, NotFound, ValidationFailed
from core.team import invites
from core.team import service as team
from core.users.models import Role
from web_min.action_limits import count_action
from web_min.auth.deps import AdminUser, CsrfChecked, WebUser
from web_min.invite_mail import send_invite
from web_min.pages import flash, render
from web_min.rate_limit import UNVERIFIED_PER_IP

log = logging.getLogger(__name__)
router = APIRouter()

TEAM = "/settings/team"
AUDIT_PAGE_SIZE = 25
# Accepting sets a password: the seed's authentication limit, per client IP.
ACCEPT_LIMIT = parse("5/minute")
ROLES = [role.value for role in Role]


def _actor(request: Request, user: WebUser) -> Actor:
    return Actor(
        org_id=user.org_id, user_id=user.user_id, channel="web", source=_client_ip(request)
    )


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise HTTPException(400, "Unknown role.") from None


def _parse_day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2026-11-30.", field=field) from None


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed("Pick a person from the list.", field="actor") from None


def audit_query(
    org_id: uuid.UUID | None,
    *,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
) -> tuple[AuditQuery, dict[str, str]]:
    """The audit filters of a query string, and the same filters to carry into paging links.

    `until` is a whole day, so it includes that day's entries.
    """
    first = _parse_day(since, "From")
    last = _parse_day(until, "To")
    query = AuditQuery(
        org_id=org_id,
        user_id=_parse_uuid(actor),
        action=(action or "").strip()[:64] or None,
        since=datetime.combine(first, time(), tzinfo=UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC) if last else None,
    )
    kept = {
        key: value
        for key, value in (("actor", actor), ("action", action), ("since", since), ("until", until))
        if value
    }
    return query, kept


def page_links(path: str, kept: dict[str, str], page: AuditPage) -> dict[str, str | None]:
    """Previous/next links of an audit page that keep its filters."""

    def link(offset: int) -> str:
        return f"{path}?{urlencode({**kept, 'offset': str(offset)})}"

    previous = link(max(page.offset - page.limit, 0)) if page.offset > 0 else None
    following = link(page.offset + page.limit) if page.has_more else None
    return {"previous": previous, "next": following}


async def _team_page(
    request: Request,
    user: WebUser,
    *,
    status_code: int = 200,
    error: str | None = None,
    invite_link: str | None = None,
    filters: dict[str, str | None] | None = None,
    offset: int = 0,
) -> Response:
    filters = filters or {}
    filter_error: str | None = None
    try:
        query, kept = audit_query(
            user.org_id,
            actor=filters.get("actor"),
            action=filters.get("action"),
            since=filters.get("since"),
            until=filters.get("until"),
        )
    except ValidationFailed as exc:
        filter_error, status_code = exc.message, 400
        query, kept = AuditQuery(org_id=user.org_id), {}
    async with _database(request).tenant(user.org_id) as session:
        members = await team.list_members(session=session, org_id=user.org_id)
        open_invites = await invites.list_open(session=session, org_id=user.org_id)
        audit = await search(session=session, query=query, offset=offset, limit=AUDIT_PAGE_SIZE)
    context: dict[str, Any] = {
        "members": members,
        "invites": open_invites,
        "roles": ROLES,
        "audit": audit,
        "links": page_links(TEAM, kept, audit),
        "filters": {key: filters.get(key) or "" for key in ("actor", "action", "since", "until")},
        "error": error or filter_error,
        "invite_link": invite_link,
        "email_on": email_ready(request.app.state.settings),
    }
    return render(request, "team.html", context, status_code=status_code)


@router.get(TEAM)
async def team_page(
    request: Request,
    user: AdminUser,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: int = 0,
) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    filters = {"actor": actor, "action": action, "since": since, "until": until}
    return await _team_page(request, user, filters=filters, offset=offset)


def invite_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/invite/{token}"


@router.post(f"{TEAM}/invite", dependencies=[CsrfChecked])
async def invite(
    request: Request,
    user: AdminUser,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = Role.USER.value,
) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    chosen = _parse_role(role)
    try:
        async with _database(request).tenant(user.org_id) as session:
            issued = await invites.create(
                session=session,
                org_id=user.org_id,
                email=email,
                role=chosen,
                actor=_actor(request, user),
            )
            address, invite_id = issued.invite.email, issued.invite.id
    except (ValidationFailed, Conflict) as exc:
        return await _team_page(request, user, status_code=400, error=exc.message)
    # Decides only what the invitee's email says; the admin's answer is the same either way.
    async with _database(request).system() as session:
        taken = await invites.has_account(session=session, email=address)
    link = invite_url(request.app.state.settings, issued.token)
    sent = await send_invite(
        request.app.state.settings, to=address, link=link, invite_id=invite_id, taken=taken
    )
    if sent:
        flash(request, f"Invitation sent to {address}.", "success")
        return RedirectResponse(TEAM, status_code=303)
    # No email (embedded mode, or the send failed): the admin passes the link on themselves.
    return await _team_page(request, user, invite_link=link)


@router.post(f"{TEAM}/invites/{{invite_id}}/withdraw", dependencies=[CsrfChecked])
async def withdraw_invite(request: Request, user: AdminUser, invite_id: uuid.UUID) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    try:
        async with _database(request).tenant(user.org_id) as session:
            await invites.withdraw(
                session=session,
                org_id=user.org_id,
                invite_id=invite_id,
                actor=_actor(request, user),
            )
    except NotFound:
        raise HTTPException(404) from None
    except Conflict as exc:
        return await _team_page(request, user, status_code=409, error=exc.message)
    flash(request, "Invitation withdrawn; its link no longer works.", "success")
    return RedirectResponse(TEAM, status_code=303)


@router.post(f"{TEAM}/{{user_id}}/role", dependencies=[CsrfChecked])
async def change_role(
    request: Request,
    user: AdminUser,
    user_id: uuid.UUID,
    role: Annotated[str, Form()] = "",
) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    chosen = _parse_role(role)
    try:
        async with _database(request).tenant(user.org_id) as session:
            member = await team.change_role(
                session=session,
                org_id=user.org_id,
                user_id=user_id,
                role=chosen,
                actor=_actor(request, user),
            )
            email = member.email
    except NotFound:
        raise HTTPException(404) from None
    except Conflict as exc:
        return await _team_page(request, user, status_code=409, error=exc.message)
    flash(request, f"{email} is now {chosen.value}.", "success")
    return RedirectResponse(TEAM, status_code=303)


@router.post(f"{TEAM}/{{user_id}}/deactivate", dependencies=[CsrfChecked])
async def deactivate(request: Request, user: AdminUser, user_id: uuid.UUID) -> Response:
    return await _set_active(request, user, user_id, active=False)


@router.post(f"{TEAM}/{{user_id}}/activate", dependencies=[CsrfChecked])
async def activate(request: Request, user: AdminUser, user_id: uuid.UUID) -> Response:
    return await _set_active(request, user, user_id, active=True)


async def _set_active(
    request: Request, user: WebUser, user_id: uuid.UUID, *, active: bool
) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    database = _database(request)
    try:
        async with database.tenant(user.org_id) as session:
            member = await team.set_active(
                session=session,
                org_id=user.org_id,
                user_id=user_id,
                active=active,
                actor=_actor(request, user),
            )
            email = member.email
    except NotFound:
        raise HTTPException(404) from None
    except Conflict as exc:
        return await _team_page(request, user, status_code=409, error=exc.message)
    if not active:
        # Session lookups refuse an inactive user already; deleting the rows also signs the
        # person out for good should they be reactivated later.
        async with database.system() as session:
            await sessions.end_all(session=session, user_id=user_id)
    verb = "reactivated" if active else "deactivated; their sessions and chat accounts stopped"
    flash(request, f"{email} {verb}.", "success")
    return RedirectResponse(TEAM, status_code=303)


# --- The invitee's side: anonymous, found by the token alone ---------------------------------


async def _limit_ip(request: Request, item: Any) -> None:
    await request.app.state.limiter.check(item, "web-invite-ip", _client_ip(request))


def _closed(request: Request, exc: NotFound | Conflict | Expired) -> Response:
    status = 404 if isinstance(exc, NotFound) else 410
    return render(request, "invite_closed.html", {"message": exc.message}, status_code=status)


@router.get("/invite/{token}")
async def invite_page(request: Request, token: str) -> Response:
    await _limit_ip(request, UNVERIFIED_PER_IP)
    try:
        async with _database(request).system() as session:
            found = await invites.open_invite(session=session, token=token)
    except (NotFound, Conflict, Expired) as exc:
        return _closed(request, exc)
    return render(request, "invite_accept.html", _accept_context(found))


def _accept_context(found: invites.OpenInvite, error: str | None = None) -> dict[str, Any]:
    from core.users.service import MIN_PASSWORD_LENGTH

    return {
        "invite": found,
        "min_length": MIN_PASSWORD_LENGTH,
        "error": error,
    }


@router.post("/invite/{token}", dependencies=[CsrfChecked])
async def accept_invite(
    request: Request,
    token: str,
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    await _limit_ip(request, ACCEPT_LIMIT)
    database = _database(request)
    try:
        async with database.system() as session:
            found = await invites.open_invite(session=session, token=token)
        if password != password_again:
            raise ValidationFailed("The two passwords differ.", field="password")
        async with database.system() as session:
            await invites.accept(
                session=session,
                token=token,
                password=password,
                name=name,
                source=_client_ip(request),
            )
    except (NotFound, Conflict, Expired) as exc:
        return _closed(request, exc)
    except ValidationFailed as exc:
        return render(
            request, "invite_accept.html", _accept_context(found, exc.message), status_code=400
        )
    flash(request, "Welcome to AdPilot! Sign in with your email and new password.", "success")
    return RedirectResponse("/login", status_code=303)
