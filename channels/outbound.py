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
        """`hit` checks and takes a slot in one atomic step (a Lua script on Redis), so two
        replicas can never both take the last slot. Windows are taken narrowest first; a slot
        taken in a window before a full one is not given back, which errs on the slow side."""
        deadline = time.monotonic() + self.max_wait
        pending = list(windows)
        while pending:
            item, identifiers = pending[0]
            if await self._strategy.hit(item, *identifiers):
                pending.pop(0)
                continue
            stats = await self._strategy.get_window_stats(item, *identifiers)
            wait = max(stats.reset_time - time.time(), 0.01)
            if time.monotonic() + wait > deadline:
                raise ChannelError("outbound rate limit reached", retry_after=wait)
            await asyncio.sleep(min(wait, 1.0))
