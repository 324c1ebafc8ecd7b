"""Account security from Settings: the org's "require MFA" switch, sign out everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from core.audit.service import Actor, record
from core.auth import sessions
from core.db import Database
from core.orgs.models import Organization
from web_min.auth.cookies import SESSION_COOKIE, clear_cookie
from web_min.auth.deps import AdminUser, CsrfChecked, CurrentUser, forget_session
from web_min.pages import flash

router = APIRouter()


@router.post("/settings/security/require-mfa", dependencies=[CsrfChecked])
async def require_mfa(
    request: Request, user: AdminUser, required: Annotated[str, Form(max_length=8)] = ""
) -> Response:
    """Admins only: with it on, everyone without MFA is sent to enrolment after the password."""
    want = required == "on"
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as tenant:
        organization = await tenant.scalar(
            select(Organization).where(Organization.id == user.org_id)
        )
        assert organization is not None
        before = bool(organization.settings.get("require_mfa", False))
        # A new dict: the JSON column notices reassignment, not in-place changes.
        organization.settings = {**organization.settings, "require_mfa": want}
        await record(
            session=tenant,
            actor=Actor(org_id=user.org_id, user_id=user.user_id, channel="web"),
            action="org.require_mfa_changed",
            resource_type="organization",
            resource_id=user.org_id,
            before={"require_mfa": before},
            after={"require_mfa": want},
        )
    flash(
        request,
        "Everyone in this organization now needs two-factor sign-in."
        if want
        else "Two-factor sign-in is now optional in this organization.",
        "success",
    )
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/sessions/end-all", dependencies=[CsrfChecked])
async def sign_out_everywhere(request: Request, user: CurrentUser) -> Response:
    """End every session of this user, this browser's too."""
    database: Database = request.app.state.database
    async with database.system() as session:
        ended = await sessions.end_all(session=session, user_id=user.user_id)
        await record(
            session=session,
            actor=Actor(org_id=user.org_id, user_id=user.user_id, channel="web"),
            action="auth.signed_out_everywhere",
            resource_type="user",
            resource_id=user.user_id,
            after={"sessions_ended": ended},
        )
    forget_session(request)
    flash(request, f"Signed out everywhere ({ended} session(s) ended).", "success")
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response
