"""Per-person and per-org limits on what people do, the same for chat and the web pages.

The table is the product's: campaign changes 60/min, analytics 100/min, AI 10/min and admin
actions 30/min, each counted per user and, separately, per org (so an org's many users together
cannot exceed it either). A moving window on the `limits` library: Redis when configured, so
every API replica and worker counts against one window; memory in the embedded mode.
"""

from __future__ import annotations

import enum
import logging
import math
import time
import uuid

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from core.errors import CoreError

log = logging.getLogger(__name__)


class ActionKind(enum.StrEnum):
    CAMPAIGN_CHANGE = "campaign_change"
    ANALYTICS = "analytics"
    AI = "ai"
    ADMIN = "admin"


ACTION_LIMITS: dict[ActionKind, RateLimitItem] = {
    ActionKind.CAMPAIGN_CHANGE: parse("60/minute"),
    ActionKind.ANALYTICS: parse("100/minute"),
    ActionKind.AI: parse("10/minute"),
    ActionKind.ADMIN: parse("30/minute"),
}

_WORDS = {
    ActionKind.CAMPAIGN_CHANGE: "campaign changes",
    ActionKind.ANALYTICS: "reports",
    ActionKind.AI: "AI requests",
    ActionKind.ADMIN: "admin actions",
}


class ActionLimited(CoreError):
    """Over an action limit; `retry_after` whole seconds until one would be allowed again."""

    code = "rate_limited"

    def __init__(self, *, kind: ActionKind, scope: str, retry_after: int) -> None:
        per = "per person" if scope == "user" else "for your organization"
        limit = ACTION_LIMITS[kind]
        super().__init__(
            f"Too many {_WORDS[kind]}: at most {limit.amount} a minute {per}. "
            f"Try again in {retry_after} s."
        )
        self.kind = kind
        self.scope = scope
        self.retry_after = retry_after


def limit_storage(redis_url: str | None) -> Storage:
    if not redis_url:
        return MemoryStorage()
    # Short socket timeouts: a Redis that accepts but never answers must fail open, not hang.
    return RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix="adpilot-actions",
        wrap_exceptions=True,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
    )


class ActionLimiter:
    """Counts one action of a kind against its user's and its org's windows."""

    def __init__(self, storage: Storage) -> None:
        self._strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def for_url(cls, redis_url: str | None) -> ActionLimiter:
        return cls(limit_storage(redis_url))

    async def check(self, kind: ActionKind, *, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Count one `kind` action for this user and org; ActionLimited when either is over.

        A store outage lets actions through (logged), as the webhook limiter does: an
        unreachable Redis must not stop every approval in every org.
        """
        item = ACTION_LIMITS[kind]
        for scope, key in (("user", str(user_id)), ("org", str(org_id))):
            try:
                if await self._strategy.hit(item, kind.value, scope, key):
                    continue
                stats = await self._strategy.get_window_stats(item, kind.value, scope, key)
            except StorageError as exc:
                log.warning("action limit store unavailable, allowing the action: %s", exc)
                return
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise ActionLimited(kind=kind, scope=scope, retry_after=wait)
