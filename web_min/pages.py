"""Server-rendered pages: the Jinja2 templates, `render` and one-shot flash messages.

`render` fills what the base layout needs (the user, the CSRF token, the flashes) and sets the
page's Content-Security-Policy: scripts and styles only from our own /static files.
Flashes travel in a signed cookie, so a message survives the redirect after a form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from web_min.auth.cookies import (
    PRESESSION_COOKIE,
    PRESESSION_MAX_AGE,
    new_presession,
    presession_token,
    secure_for,
    set_cookie,
)
from web_min.auth.deps import WebUser, web_user_of
from web_min.middleware import PAGE_CSP

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
FLASH_COOKIE = "adpilot_flash"
_FLASH_LABEL = b"adpilot/web-flash/v1"
_FLASH_OUT = "flashes_out"
_FLASH_TAKEN = "flashes_taken"
FLASH_KINDS = frozenset({"info", "success", "warning", "error"})

templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)
)


def page_user(request: Request) -> WebUser | None:
    """The signed-in user when this request looked the session up (and it is fully signed in)."""
    live = getattr(request.state, "web_session", None)
    if live is None or live.row.mfa_pending:
        return None
    return web_user_of(live)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """The template `name` with request, user, csrf_token and flashes added to `context`."""
    settings: Settings = request.app.state.settings
    live = getattr(request.state, "web_session", None)
    new_presession_value: str | None = None
    if live is not None:
        csrf_token = live.row.csrf_secret
    else:
        presession = request.cookies.get(PRESESSION_COOKIE)
        if not presession:
            presession = new_presession_value = new_presession()
        csrf_token = presession_token(settings, presession)
    full: dict[str, Any] = {
        "user": page_user(request),
        "csrf_token": csrf_token,
        "flashes": _take_flashes(request),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_CSP
    response.headers["cache-control"] = "no-store"
    if new_presession_value is not None:
        set_cookie(request, response, PRESESSION_COOKIE, new_presession_value, PRESESSION_MAX_AGE)
    return response


def flash(request: Request, text: str, kind: str = "info") -> None:
    """A one-shot message for the next page this browser renders (after a redirect)."""
    pending: list[list[str]] = getattr(request.state, _FLASH_OUT, [])
    pending.append([kind if kind in FLASH_KINDS else "info", text])
    setattr(request.state, _FLASH_OUT, pending)


def _sign(settings: Settings, payload: str) -> str:
    key = settings.derived_key(_FLASH_LABEL)
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def encode_flashes(settings: Settings, flashes: list[list[str]]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(flashes).encode()).decode()
    return f"{payload}.{_sign(settings, payload)}"


def decode_flashes(settings: Settings, value: str) -> list[tuple[str, str]]:
    """The flashes in a cookie value; a forged or broken one reads as none."""
    payload, _, signature = value.partition(".")
    if not hmac.compare_digest(signature.encode(), _sign(settings, payload).encode()):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return []
    return [(str(kind), str(text)) for kind, text in items if kind in FLASH_KINDS][:10]


def _take_flashes(request: Request) -> list[tuple[str, str]]:
    value = request.cookies.get(FLASH_COOKIE)
    taken = decode_flashes(request.app.state.settings, value) if value else []
    if value:
        setattr(request.state, _FLASH_TAKEN, True)
    # Messages flashed while rendering this very page show at once.
    pending: list[list[str]] = getattr(request.state, _FLASH_OUT, [])
    setattr(request.state, _FLASH_OUT, [])
    return taken + [(kind, text) for kind, text in pending]


class FlashMiddleware:
    """Writes the flashes a request queued into the signed cookie, and clears shown ones."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        secure = _scope_secure(scope, self.settings)

        async def send_with_flashes(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = _flash_header(self.settings, state, secure)
                if header is not None:
                    headers = [*message.get("headers", []), (b"set-cookie", header)]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_flashes)


def _flash_header(settings: Settings, state: dict[str, Any], secure: bool) -> bytes | None:
    pending: list[list[str]] = state.get(_FLASH_OUT) or []
    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    if pending:
        return f"{FLASH_COOKIE}={encode_flashes(settings, pending)}{flags}".encode()
    if state.get(_FLASH_TAKEN):
        return f'{FLASH_COOKIE}=""; Max-Age=0{flags}'.encode()
    return None


def _scope_secure(scope: Scope, settings: Settings) -> bool:
    url = Request(scope).url
    return secure_for(settings, url.scheme, url.hostname)
