"""Password reset: ask by email, get a one-time link (30 minutes), set a new password.

The answer to a request is the same whether the email has an account or not, and the mail
goes out after the response, so neither the page nor its timing tells who has an account.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import RedirectResponse, Response

from core.auth import resets
from core.auth.login import find_by_email
from core.auth.sessions import token_hash
from core.config import Settings
from core.db import Database
from core.errors import ValidationFailed
from web_min.auth.deps import CsrfChecked, PageError
from web_min.auth.guards import check_auth_limits, too_many_page
from web_min.link_mail import send_link
from web_min.pages import flash, render
from web_min.rate_limit import TooManyRequests

router = APIRouter()

RESET_PATH = "/login/reset"


def link_gone() -> PageError:
    return PageError(
        410,
        "This link no longer works",
        "A password reset link works once, for a short time. Ask for a new one on the sign-in "
        "page.",
    )


@router.get(RESET_PATH)
async def reset_request_page(request: Request) -> Response:
    return render(request, "reset_request.html", {"email": ""})


@router.post(RESET_PATH, dependencies=[CsrfChecked])
async def reset_request(
    request: Request,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    try:
        await check_auth_limits(request, email)
    except TooManyRequests as exc:
        return too_many_page(request, "reset_request.html", exc, email=email)
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    async with database.system() as session:
        user = await find_by_email(session=session, email=email)
        issued = None
        if user is not None and user.is_active and user.password_hash is not None:
            ttl = timedelta(minutes=settings.password_reset_ttl_minutes)
            issued = await resets.issue(session=session, user=user, ttl=ttl)
    if issued is not None:
        link = f"{settings.public_url.rstrip('/')}{RESET_PATH}/{issued.token}"
        background.add_task(
            send_link,
            settings,
            to=issued.user.email,
            subject="Reset your AdPilot password",
            intro=(
                "Someone (hopefully you) asked to reset your AdPilot password. The link "
                f"works once, for {settings.password_reset_ttl_minutes} minutes:"
            ),
            link=link,
            idempotency_key=f"password-reset/{token_hash(issued.token)}",
        )
    context = {"email": email, "ttl_minutes": settings.password_reset_ttl_minutes}
    return render(request, "reset_sent.html", context)


@router.get(RESET_PATH + "/{token}")
async def reset_form(request: Request, token: str) -> Response:
    # Looking does not spend the link: mail scanners open links before people do.
    database: Database = request.app.state.database
    async with database.system() as session:
        user = await resets.peek(session=session, token=token)
    if user is None:
        raise link_gone()
    return render(request, "reset_form.html", {"token": token, "email": user.email})


@router.post(RESET_PATH + "/{token}", dependencies=[CsrfChecked])
async def reset_password(
    request: Request,
    token: str,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    database: Database = request.app.state.database
    if password != confirm:
        return await _form_again(request, token, "The two passwords are not the same.")
    try:
        async with database.system() as session:
            user = await resets.complete(session=session, token=token, new_password=password)
    except ValidationFailed as exc:
        return await _form_again(request, token, exc.message)
    if user is None:
        raise link_gone()
    flash(
        request, "Your password is changed, and every session was signed out. Sign in.", "success"
    )
    return RedirectResponse("/login", status_code=303)


async def _form_again(request: Request, token: str, error: str) -> Response:
    database: Database = request.app.state.database
    async with database.system() as session:
        user = await resets.peek(session=session, token=token)
    if user is None:
        raise link_gone()
    context = {"token": token, "email": user.email, "error": error}
    return render(request, "reset_form.html", context, status_code=400)
