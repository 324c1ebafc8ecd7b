"""The sign-in cookies: the session token, the anonymous pre-session (CSRF before sign-in),
and how each is set.

Every cookie is HttpOnly and SameSite=Lax; Secure unless AdPilot runs on plain http on this
machine (the embedded default), where a Secure cookie would never come back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from ipaddress import ip_address
from urllib.parse import urlsplit

from fastapi import Request, Response

from core.auth.sessions import SessionPolicy
from core.config import Settings

SESSION_COOKIE = "adpilot_session"
PRESESSION_COOKIE = "adpilot_presession"
_CSRF_LABEL = b"adpilot/web-csrf/v1"
PRESESSION_MAX_AGE = 24 * 3600


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy.of(settings)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _local_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and _is_loopback(parts.hostname)


def secure_for(settings: Settings, scheme: str, host: str | None) -> bool:
    """Secure, unless the public URL or this very request is plain http on loopback."""
    if _local_http(settings.public_url):
        return False
    return not (scheme == "http" and _is_loopback(host))


def cookie_secure(request: Request) -> bool:
    return secure_for(request.app.state.settings, request.url.scheme, request.url.hostname)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=cookie_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/", secure=cookie_secure(request), httponly=True, samesite="lax"
    )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings: Settings = request.app.state.settings
    # The server decides when a session ends; the cookie only must not outlive it.
    set_cookie(request, response, SESSION_COOKIE, token, settings.web_session_max_days * 86400)


def presession_token(settings: Settings, presession: str) -> str:
    """The CSRF token of an anonymous form: an HMAC of the pre-session cookie's value.

    A signed double submit: another site can make the browser send the cookie, but cannot
    read it, and cannot compute the token without the server's key.
    """
    key = settings.derived_key(_CSRF_LABEL)
    return hmac.new(key, presession.encode(), hashlib.sha256).hexdigest()


def new_presession() -> str:
    return secrets.token_urlsafe(32)
