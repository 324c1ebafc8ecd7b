"""Rate limits of the HTTP edge on the `limits` library: Redis when configured, memory otherwise.

Inbound webhooks are limited per *verified* source (a chat user or chat), so one busy
workspace is never throttled as a whole; requests that fail verification are limited per
client IP before anything else is done with them. A moving window: exact, no burst at a
window edge. Shared through Redis, every API replica counts against the same window.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = logging.getLogger(__name__)

WEBHOOK_PER_SOURCE = parse("100/minute")
UNVERIFIED_PER_IP = parse("30/minute")


@dataclass
class TooManyRequests(Exception):
    """Over a limit; `retry_after` whole seconds until a request would be allowed again."""

    retry_after: int
    limit: str


def storage_for(redis_url: str | None) -> Storage:
    if not redis_url:
        return MemoryStorage()
    # redis-py (already a dependency) rather than the library's default coredis client.
    # Short socket timeouts: a Redis that accepts but never answers must fail open, not hang.
    return RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix="adpilot-ratelimit",
        wrap_exceptions=True,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
    )


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self.shared = bool(redis_url)
        self._strategy = MovingWindowRateLimiter(storage_for(redis_url))

    async def check(self, item: RateLimitItem, *identifiers: str) -> None:
        """Count one request against `item` for these identifiers; TooManyRequests when over.

        A Redis outage lets requests through (logged): refusing every webhook while the
        limiter's store is down would take the chat channels down with it.
        """
        try:
            if await self._strategy.hit(item, *identifiers):
                return
            stats = await self._strategy.get_window_stats(item, *identifiers)
        except StorageError as exc:
            log.warning("rate limit store unavailable, allowing the request: %s", exc)
            return
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(retry_after=wait, limit=str(item))
