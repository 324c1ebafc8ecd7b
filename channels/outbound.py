"""Outbound pacing per chat platform: stay under each platform's limits instead of hitting 429s.

Shared through Redis when configured (every API replica and worker counts against the same
windows), in memory otherwise. A call waits for room in every window it belongs to (e.g.
Telegram: 30 messages/s per bot, 1/s per private chat, 20/min per group), up to `max_wait`;
past that it is refused with a ChannelError carrying the wait, so a caller can defer the work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from channels.base import ChannelError
from web_min.rate_limit import storage_for

Window = tuple[RateLimitItem, tuple[str, ...]]
log = logging.getLogger(__name__)


class OutboundLimiter:
    def __init__(self, redis_url: str | None, *, max_wait: float = 30.0) -> None:
        self._strategy = MovingWindowRateLimiter(storage_for(redis_url))
        self.max_wait = max_wait

    async def acquire(self, windows: Sequence[Window]) -> None:
        """Take one slot in every window, waiting while any of them is full.

        A store outage sends unpaced (logged), like the inbound limiter: the platform's own
        429 and retry_after still hold the line, and replies keep flowing.
        """
        try:
            await self._acquire(windows)
        except StorageError as exc:
            log.warning("outbound pacing store unavailable, sending unpaced: %s", exc)

    async def _acquire(self, windows: Sequence[Window]) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            wait = 0.0
            for item, identifiers in windows:
                if not await self._strategy.test(item, *identifiers):
                    stats = await self._strategy.get_window_stats(item, *identifiers)
                    wait = max(wait, stats.reset_time - time.time())
            if wait <= 0:
                for item, identifiers in windows:
                    await self._strategy.hit(item, *identifiers)
                return
            if time.monotonic() + wait > deadline:
                raise ChannelError("outbound rate limit reached", retry_after=wait)
            await asyncio.sleep(min(wait, 1.0))
