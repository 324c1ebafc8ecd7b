"""Ending a grant at the platform on disconnect: Google's revoke endpoint, Meta's permissions.

TikTok's Business API is left out on purpose: its revoke endpoint is not in the
documentation we could check (docs/decisions.md), so its tokens are only deleted here.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.base import HttpAdapter
from core.errors import AuthExpired, PlatformUnavailable
from core.ports import RevokeAnswer, TokenSet


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _raise_unless_expired(adapter: HttpAdapter, response: httpx.Response) -> RevokeAnswer:
    """The adapter's own error for a refusal; a dead token means there is nothing left to end."""
    try:
        adapter.raise_for_response(response)
    except AuthExpired:
        return RevokeAnswer.ALREADY_INVALID
    raise PlatformUnavailable(f"{adapter.name} answered HTTP {response.status_code}.")


async def revoke_google(adapter: HttpAdapter, tokens: TokenSet) -> RevokeAnswer:
    """POST token=… to Google's revoke endpoint: 200 revoked, 400 invalid_token already gone."""
    # Revoking the refresh token ends the whole grant, its access tokens with it.
    token = tokens.refresh_token or tokens.access_token
    response = await adapter.send_unretried(
        "POST",
        adapter.settings.google_oauth_revoke_url,
        wait_seconds=adapter.settings.platform_revoke_timeout_seconds,
        data={"token": token},
    )
    if response.is_success:
        return RevokeAnswer.REVOKED
    body = _body(response)
    already_gone = isinstance(body, dict) and body.get("error") in {
        "invalid_token",
        "invalid_grant",
    }
    if response.status_code == 400 and already_gone:
        return RevokeAnswer.ALREADY_INVALID
    return _raise_unless_expired(adapter, response)


async def revoke_meta(adapter: HttpAdapter, tokens: TokenSet) -> RevokeAnswer:
    """DELETE /me/permissions (every permission: the app's login ends) → {"success": true}."""
    settings = adapter.settings
    url = f"{settings.meta_api_url.rstrip('/')}/{settings.meta_api_version}/me/permissions"
    # A Bearer header rather than ?access_token=: Graph takes both, and a header stays out
    # of every URL a proxy or a log might keep.
    response = await adapter.send_unretried(
        "DELETE",
        url,
        wait_seconds=settings.platform_revoke_timeout_seconds,
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    if response.is_success:
        body = _body(response)
        if body is True or (isinstance(body, dict) and body.get("success") is True):
            return RevokeAnswer.REVOKED
        raise PlatformUnavailable("Meta answered without confirming the revocation.")
    # Error 190 (the token is invalid or expired) maps to AuthExpired in meta_errors.
    return _raise_unless_expired(adapter, response)
