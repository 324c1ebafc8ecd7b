"""Two-factor enrolment: a server-rendered QR code, a confirm step, recovery codes shown once."""

from __future__ import annotations

from typing import Annotated

import pyotp
import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from core.audit.service import Actor
from core.auth import recovery
from core.db import Database
from core.errors import Conflict, ValidationFailed
from core.security import totp
from core.security.crypto import decrypt
from core.security.passwords import verify_password
from core.users.models import User
from web_min.auth.deps import MFA_ENROL_PATH, CsrfChecked, CurrentUser, WebUser
from web_min.pages import flash, render

router = APIRouter()


def qr_data_uri(provisioning_uri: str) -> str:
    """The otpauth:// URI as an SVG QR code in a data: URI (the page CSP allows data: images)."""
    return str(segno.make(provisioning_uri, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


async def _user_row(request: Request, user: WebUser) -> tuple[User, int]:
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as tenant:
        row = await tenant.scalar(select(User).where(User.id == user.user_id))
        left = await recovery.remaining(session=tenant, org_id=user.org_id, user_id=user.user_id)
    assert row is not None  # the session lookup found this user a moment ago
    return row, left


def _enrolment_context(row: User) -> dict[str, object]:
    if row.totp_enabled or row.totp_secret_encrypted is None:
        return {}
    secret = decrypt(row.totp_secret_encrypted)
    uri = pyotp.TOTP(secret, digits=totp.DIGITS).provisioning_uri(
        name=row.email, issuer_name=totp.ISSUER
    )
    return {"qr_data_uri": qr_data_uri(uri), "secret": grouped(secret)}


@router.get(MFA_ENROL_PATH)
async def mfa_page(request: Request, user: CurrentUser) -> Response:
    row, left = await _user_row(request, user)
    return render(
        request,
        "mfa.html",
        {"enabled": row.totp_enabled, "codes_left": left, **_enrolment_context(row)},
    )


@router.post(f"{MFA_ENROL_PATH}/start", dependencies=[CsrfChecked])
async def mfa_start(request: Request, user: CurrentUser) -> Response:
    database: Database = request.app.state.database
    try:
        async with database.tenant(user.org_id) as tenant:
            await totp.enrol(
                session=tenant, org_id=user.org_id, user_id=user.user_id, actor=_actor(user)
            )
    except Conflict as exc:
        flash(request, exc.message, "warning")
    return RedirectResponse(MFA_ENROL_PATH, status_code=303)


@router.post(f"{MFA_ENROL_PATH}/confirm", dependencies=[CsrfChecked])
async def mfa_confirm(
    request: Request, user: CurrentUser, code: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    database: Database = request.app.state.database
    try:
        async with database.tenant(user.org_id) as tenant:
            await totp.confirm(
                session=tenant,
                org_id=user.org_id,
                user_id=user.user_id,
                code=code,
                actor=_actor(user),
            )
            codes = await recovery.regenerate(
                session=tenant, org_id=user.org_id, user_id=user.user_id
            )
    except (ValidationFailed, Conflict) as exc:
        row, left = await _user_row(request, user)
        context = {"enabled": row.totp_enabled, "codes_left": left, **_enrolment_context(row)}
        return render(request, "mfa.html", {**context, "error": exc.message}, status_code=400)
    return render(request, "recovery_codes.html", {"codes": codes, "just_enabled": True})


@router.post(f"{MFA_ENROL_PATH}/recovery-codes", dependencies=[CsrfChecked])
async def new_recovery_codes(
    request: Request, user: CurrentUser, code: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    """A new set, after a fresh TOTP code: a borrowed open session alone cannot mint them."""
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as tenant:
        accepted = await totp.verify(
            session=tenant, org_id=user.org_id, user_id=user.user_id, code=code
        )
        codes = (
            await recovery.regenerate(session=tenant, org_id=user.org_id, user_id=user.user_id)
            if accepted
            else []
        )
    if not accepted:
        flash(request, "That code is not valid; no new recovery codes were made.", "error")
        return RedirectResponse(MFA_ENROL_PATH, status_code=303)
    return render(request, "recovery_codes.html", {"codes": codes, "just_enabled": False})


@router.post(f"{MFA_ENROL_PATH}/disable", dependencies=[CsrfChecked])
async def mfa_disable(
    request: Request, user: CurrentUser, password: Annotated[str, Form(max_length=1024)] = ""
) -> Response:
    """Turning the second factor off takes the password again."""
    database: Database = request.app.state.database
    async with database.tenant(user.org_id) as tenant:
        row = await tenant.scalar(select(User).where(User.id == user.user_id))
        if row is None or not row.password_hash or not verify_password(password, row.password_hash):
            flash(request, "That password is not right; two-factor sign-in stays on.", "error")
            return RedirectResponse(MFA_ENROL_PATH, status_code=303)
        await totp.disable(
            session=tenant, org_id=user.org_id, user_id=user.user_id, actor=_actor(user)
        )
        await recovery.discard(session=tenant, org_id=user.org_id, user_id=user.user_id)
    flash(request, "Two-factor sign-in is off.", "warning")
    return RedirectResponse(MFA_ENROL_PATH, status_code=303)


def _actor(user: WebUser) -> Actor:
    return Actor(org_id=user.org_id, user_id=user.user_id, channel="web")
