"""Sign-in pages: /login (password, then the second factor), /logout and /settings, the
signed-in home."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.service import Actor, record
from core.auth import recovery, sessions
from core.auth.login import authenticate
from core.db import Database
from core.security import totp
from core.users.models import User
from web_min.auth import mfa_routes, reset_routes, security_routes
from web_min.auth.cookies import SESSION_COOKIE, clear_cookie, session_policy, set_session_cookie
from web_min.auth.deps import (
    MFA_STEP_PATH,
    CsrfChecked,
    CurrentUser,
    forget_session,
    load_session,
)
from web_min.auth.guards import check_auth_limits, too_many_page
from web_min.auth.local_paths import safe_next
from web_min.pages import flash, render
from web_min.rate_limit import TooManyRequests

router = APIRouter()

SIGN_IN_FAILED = "That email and password do not match an account."


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    live = await load_session(request)
    if live is not None and not live.row.mfa_pending:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next_path": safe_next(next), "email": ""})


@router.post("/login", dependencies=[CsrfChecked])
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    next_path = safe_next(next)
    context = {"next_path": next_path, "email": email}
    try:
        await check_auth_limits(request, email)
    except TooManyRequests as exc:
        return too_many_page(request, "login.html", exc, **context)
    database: Database = request.app.state.database
    async with database.system() as session:
        user = await authenticate(session=session, email=email, password=password)
        if user is None:
            issued = None
        else:
            # A new token at every sign-in, and the browser's old one dies: a session id
            # planted before sign-in (fixation) is worth nothing after it.
            issued = await sessions.issue(
                session=session,
                user_id=user.id,
                policy=session_policy(request.app.state.settings),
                mfa_pending=user.totp_enabled,
                replacing=request.cookies.get(SESSION_COOKIE),
            )
            if not user.totp_enabled:
                await _record_sign_in(session, user)
    if user is None or issued is None:
        return render(request, "login.html", {**context, "error": SIGN_IN_FAILED}, status_code=401)
    forget_session(request)
    target = (
        f"{MFA_STEP_PATH}?next={quote(next_path, safe='/')}" if user.totp_enabled else next_path
    )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, issued.token)
    return response


async def _record_sign_in(
    session: AsyncSession, user: User | sessions.SessionUser, *, second_factor: str | None = None
) -> None:
    await record(
        session=session,
        actor=Actor(org_id=user.org_id, user_id=user.id, channel="web"),
        action="auth.signed_in",
        resource_type="user",
        resource_id=user.id,
        after={"second_factor": second_factor},
    )


@router.get(MFA_STEP_PATH)
async def mfa_step_page(request: Request, next: str | None = None) -> Response:
    live = await load_session(request)
    if live is None or not live.row.mfa_pending:
        return RedirectResponse("/login", status_code=303)
    return render(request, "login_mfa.html", {"next_path": safe_next(next)})


@router.post(MFA_STEP_PATH, dependencies=[CsrfChecked])
async def mfa_step(
    request: Request,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    next_path = safe_next(next)
    live = await load_session(request)
    if live is None or not live.row.mfa_pending:
        return RedirectResponse("/login", status_code=303)
    user = live.user
    try:
        await check_auth_limits(request, user.email)
    except TooManyRequests as exc:
        return too_many_page(request, "login_mfa.html", exc, next_path=next_path)
    database: Database = request.app.state.database
    by_recovery_code = recovery.looks_like_recovery_code(code)
    async with database.tenant(user.org_id) as tenant:
        if by_recovery_code:
            accepted = await recovery.use(
                session=tenant, org_id=user.org_id, user_id=user.id, code=code
            )
        else:
            accepted = await totp.verify(
                session=tenant, org_id=user.org_id, user_id=user.id, code=code
            )
    if not accepted:
        error = (
            "That recovery code is not valid or was used already."
            if by_recovery_code
            else "That code is not valid. Codes change every 30 seconds and work only once."
        )
        return render(
            request, "login_mfa.html", {"next_path": next_path, "error": error}, status_code=401
        )
    async with database.system() as session:
        issued = await sessions.issue(
            session=session,
            user_id=user.id,
            policy=session_policy(request.app.state.settings),
            mfa_pending=False,
            replacing=request.cookies.get(SESSION_COOKIE),
        )
        await _record_sign_in(
            session, user, second_factor="recovery_code" if by_recovery_code else "totp"
        )
    forget_session(request)
    if by_recovery_code:
        flash(request, "You signed in with a recovery code; it will not work again.", "warning")
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, issued.token)
    return response


@router.post("/logout", dependencies=[CsrfChecked])
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        database: Database = request.app.state.database
        async with database.system() as session:
            await sessions.end(session=session, token=token)
    forget_session(request)
    flash(request, "You are signed out.", "success")
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/settings")
async def settings_home(request: Request, user: CurrentUser) -> Response:
    # What the home shows came with the session lookup (its join reads the user's own org):
    # the most viewed page costs one read, not a second unit of work.
    live = await load_session(request)
    assert live is not None  # CurrentUser resolved it
    return render(
        request,
        "settings.html",
        {"org_name": live.org_name, "plan": live.org_plan, "require_mfa": live.require_mfa},
    )


# The rest of sign-in lives in its own modules; this area's one router carries them all.
router.include_router(mfa_routes.router)
router.include_router(reset_routes.router)
router.include_router(security_routes.router)
