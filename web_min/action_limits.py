"""The product's action limits on the web pages: the same table and window as chat.

A page action counts against `core.action_limits` (per user and per org, shared with the bot
through Redis); past the limit the request gets the app's 429 page with Retry-After.

    await count_action(request, user, ActionKind.ADMIN)
"""

from __future__ import annotations

from fastapi import Request

from core.action_limits import ACTION_LIMITS, ActionKind, ActionLimited, ActionLimiter
from web_min.auth.deps import WebUser
from web_min.rate_limit import TooManyRequests


async def count_action(request: Request, user: WebUser, kind: ActionKind) -> None:
    """Count one `kind` action of `user`; TooManyRequests (the edge's 429) when over."""
    limiter: ActionLimiter = request.app.state.action_limiter
    try:
        await limiter.check(kind, org_id=user.org_id, user_id=user.user_id)
    except ActionLimited as exc:
        raise TooManyRequests(retry_after=exc.retry_after, limit=str(ACTION_LIMITS[kind])) from exc
