"""What every page depends on: who is signed in, their role, and a checked CSRF token.

@router.post("/settings/thing", dependencies=[CsrfChecked])
async def change(request: Request, user: AdminUser) -> Response: ...
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from core.auth import sessions
from core.db import Database
from core.users.models import Role
from web_min.auth.cookies import PRESESSION_COOKIE, SESSION_COOKIE, presession_token, session_policy
from web_min.auth.local_paths import same_origin_path

# Where a signed-in user without MFA goes when the org requires it, and what stays reachable.
MFA_ENROL_PATH = "/settings/mfa"
MFA_STEP_PATH = "/login/mfa"
_ENROLMENT_PATHS = frozenset(
    {MFA_ENROL_PATH, f"{MFA_ENROL_PATH}/start", f"{MFA_ENROL_PATH}/confirm", "/logout"}
)
_LOADED = "web_session_loaded"
_LIVE = "web_session"


@dataclass(frozen=True)
class WebUser:
    user_id: uuid.UUID
    org_id: uuid.UUID
    email: str
    role: Role
    is_operator: bool
    mfa_enabled: bool
    session_id: str


class Redirect(Exception):
    """Answer with a 303 to `location` (a local path): sign-in, the MFA step, enrolment."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageError(Exception):
    """A refusal shown as a page in the app's style: 403 for a role or CSRF, 404, 429."""

    def __init__(
        self, status_code: int, title: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message
        self.headers = headers or {}


async def load_session(request: Request) -> sessions.LiveSession | None:
    """The request's live session (any stage, MFA pending included), looked up once per request."""
    if getattr(request.state, _LOADED, False):
        live: sessions.LiveSession | None = getattr(request.state, _LIVE)
        return live
    token = request.cookies.get(SESSION_COOKIE)
    live = None
    if token:
        database: Database = request.app.state.database
        # Every page view reads; a write is due only on expiry or once a minute per session.
        policy = session_policy(request.app.state.settings)
        found = await database.read(
            lambda session: sessions.find(session=session, token=token, policy=policy)
        )
        if found.stale_id is not None or found.touch_id is not None:
            async with database.system() as session:
                await sessions.settle(session=session, found=found)
        live = found.live
    setattr(request.state, _LOADED, True)
    setattr(request.state, _LIVE, live)
    return live


def forget_session(request: Request) -> None:
    """After sign-out or rotation within this request, pages render as for the new state."""
    setattr(request.state, _LOADED, True)
    setattr(request.state, _LIVE, None)


def remember_session(request: Request, live: sessions.LiveSession) -> None:
    setattr(request.state, _LOADED, True)
    setattr(request.state, _LIVE, live)


def web_user_of(live: sessions.LiveSession) -> WebUser:
    user = live.user
    return WebUser(
        user_id=user.id,
        org_id=user.org_id,
        email=user.email,
        role=Role(user.role),
        is_operator=bool(user.is_operator),
        mfa_enabled=bool(user.totp_enabled),
        session_id=str(live.row.id),
    )


def _origins(request: Request) -> set[tuple[str, str]]:
    """This app's own origins: the one the request came in on and the configured public URL."""
    public = urlsplit(request.app.state.settings.public_url)
    return {
        (request.url.scheme.lower(), request.url.netloc.lower()),
        (public.scheme.lower(), public.netloc.lower()),
    }


def sign_in_location(request: Request) -> str:
    """Sign-in, then back to a page that answers GET.

    A form's POST path would answer 405 when the browser GETs it after sign-in, so a write
    returns to the page the form was on (a same-origin Referer), else home.
    """
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        target = same_origin_path(request.headers.get("referer"), _origins(request))
    return f"/login?next={quote(target, safe='/')}"


async def current_user(request: Request) -> WebUser:
    """The signed-in user; anonymous → 303 to /login?next=…, second factor due → its step."""
    live = await load_session(request)
    if live is None:
        raise Redirect(sign_in_location(request))
    if live.row.mfa_pending:
        raise Redirect(MFA_STEP_PATH)
    user = web_user_of(live)
    if live.require_mfa and not user.mfa_enabled and request.url.path not in _ENROLMENT_PATHS:
        raise Redirect(MFA_ENROL_PATH)
    return user


CurrentUser = Annotated[WebUser, Depends(current_user)]


def require_role(*roles: Role) -> Any:
    """A dependency: the signed-in user when their role is one of `roles`, else a 403 page."""

    async def dependency(user: CurrentUser) -> WebUser:
        if user.role not in roles:
            raise PageError(
                403, "Not allowed", "Your role in this organization cannot open this page."
            )
        return user

    return dependency


AdminUser = Annotated[WebUser, Depends(require_role(Role.ADMIN))]


async def operator_user(user: CurrentUser) -> WebUser:
    """Whoever runs the installation, signed in with two factors; anyone else gets a 403 page."""
    if not user.is_operator:
        raise PageError(
            403, "Not allowed", "These pages are for the operators of this installation."
        )
    if not user.mfa_enabled:
        raise PageError(
            403,
            "Two-factor sign-in needed",
            "Operator pages need two-factor sign-in; turn it on in Settings.",
        )
    return user


OperatorUser = Annotated[WebUser, Depends(operator_user)]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def expected_csrf(request: Request) -> str | None:
    """The token a form on this request must carry: the session's, else the pre-session's."""
    live = await load_session(request)
    if live is not None:
        return live.row.csrf_secret
    presession = request.cookies.get(PRESESSION_COOKIE)
    return presession_token(request.app.state.settings, presession) if presession else None


async def verify_csrf(request: Request) -> None:
    """For every POST form: the `csrf_token` field (or X-CSRF-Token header) must match."""
    sent = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if not sent and content_type.startswith(_FORM_TYPES):
        value = (await request.form()).get("csrf_token")
        sent = value if isinstance(value, str) else None
    expected = await expected_csrf(request)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageError(
            403,
            "This form has expired",
            "The form was open too long or came from another site. Go back, reload the page "
            "and try again.",
        )


CsrfChecked = Depends(verify_csrf)
