"""How many account syncs of one platform run at once, across every worker: a Redis semaphore.

Each holder is a member of a sorted set scored by its expiry (Redis's own clock, so workers'
clocks need not agree). Taking a slot first drops
expired members, so a worker killed mid-sync (no release) frees its slot after `ttl`.
One Lua script per take and per release: two workers never both take the last slot.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core.config import Settings

KEY_PREFIX = "adpilot:sync-slots:"

_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
    return 1
end
return 0
"""


def platform_limit(settings: Settings, platform: str) -> int:
    """Each platform's quota is its own; the sandbox and unknown names share a small default."""
    limits = {
        "google": settings.sync_concurrency_google,
        "meta": settings.sync_concurrency_meta,
        "tiktok": settings.sync_concurrency_tiktok,
    }
    return limits.get(platform, settings.sync_concurrency_other)


class PlatformSlots:
    """`async with slots.hold("meta"):` waits for one of meta's slots, frees it on exit."""

    def __init__(
        self,
        redis: Any,
        settings: Settings,
        *,
        ttl_seconds: float = 600.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._ttl_ms = int(ttl_seconds * 1000)
        self._poll = poll_seconds

    async def try_take(self, platform: str, holder: str) -> bool:
        taken = await self._redis.eval(
            _TAKE,
            1,
            KEY_PREFIX + platform,
            platform_limit(self._settings, platform),
            self._ttl_ms,
            holder,
        )
        return bool(int(taken))

    async def release(self, platform: str, holder: str) -> None:
        await self._redis.zrem(KEY_PREFIX + platform, holder)

    @asynccontextmanager
    async def hold(self, platform: str) -> AsyncIterator[None]:
        holder = uuid.uuid4().hex
        # Polling, not an Event: the slot is usually freed by another process.
        while not await self.try_take(platform, holder):  # noqa: ASYNC110
            # Jittered, so waiters spread out instead of polling Redis in lockstep.
            await asyncio.sleep(self._poll * (0.5 + random.random()))
        try:
            yield
        finally:
            await asyncio.shield(self.release(platform, holder))

    async def in_use(self, platform: str) -> int:
        return int(await self._redis.zcard(KEY_PREFIX + platform))
