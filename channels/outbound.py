"""Outbound pacing per chat platform: stay under each platform's limits instead of hitting 429s.

Shared through Redis when configured (every API replica and worker counts against the same
windows), in memory otherwise. A call reserves the earliest send time that fits every window it
belongs to (e.g. Telegram: 30 messages/s per bot, 1/s per private chat, 20/min per group) and
sleeps until then; a reservation more than `max_wait` away is refused with a ChannelError
carrying the wait, so a caller can defer the work.

Why reservations and not "take a slot when there is room": the platform counts a message when
it arrives, some milliseconds after the slot was taken, and that delay varies (event loop, TLS,
a busy box). With windows filled to the brim, a send stamped just after the oldest one left our
window often arrives just before it left the platform's, and the 429 wastes the slot and costs
that send a second or more. So every window is kept `margin` longer than the platform's, and a
per-second window (a throughput cap: 30/s per bot, 80/s per number) is also spread evenly, one
send every (1 s + margin) / N, rather than let in as bursts of N whose arrival bunches up.
Longer windows keep their bursts (a reply, its chart and its card go out at once). Reserving
also means one store round trip per send, in arrival order, where polling a full window had
every waiting sender ask again each time a slot came free.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem
from redis.asyncio import Redis
from redis.exceptions import RedisError

from channels.base import ChannelError

Window = tuple[RateLimitItem, tuple[str, ...]]
log = logging.getLogger(__name__)

# Longer than a send's usual stamp-to-arrival spread on a busy box (bench/alert_fanout counts
# the 429s it leaves); costs a 30/s window 1 - 1/1.04 of its rate.
MARGIN_SECONDS = 0.04
KEY_PREFIX = "adpilot-outbound"
MEMORY_KEYS = 10_000


@dataclass(frozen=True)
class Rule:
    """One window as paced: at most `limit` sends in any `seconds`, each `spacing` after the
    one before; the store's key says which window."""

    key: str
    limit: int
    seconds: float
    spacing: float


def rules(windows: Sequence[Window], margin: float) -> list[Rule]:
    paced = []
    for item, identifiers in windows:
        seconds = item.get_expiry() + margin
        spread = item.get_expiry() == 1 and item.amount > 1
        paced.append(
            Rule(
                key=f"{KEY_PREFIX}:{item.key_for(*identifiers)}",
                limit=item.amount,
                seconds=seconds,
                spacing=seconds / item.amount if spread else 0.0,
            )
        )
    return paced


def earliest(now: float, rule: Rule, reserved: Sequence[float]) -> float:
    """The earliest send time `rule` allows after the sends `reserved` (newest first): never
    before the newest (each window's sends stay in order), `spacing` after it, and a window's
    length after the `limit`-th newest."""
    at = now
    if reserved:
        at = max(at, reserved[0] + rule.spacing)
    if len(reserved) >= rule.limit:
        at = max(at, reserved[rule.limit - 1] + rule.seconds)
    return at


# The same as `earliest` over every window, then recorded in all of them, in one atomic step.
# Redis's clock, so replicas on different hosts share one timeline; the caller sleeps the wait.
RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local max_wait = tonumber(ARGV[1])
local at = now
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[3 * i - 1])
    local seconds = tonumber(ARGV[3 * i])
    local spacing = tonumber(ARGV[3 * i + 1])
    local newest = redis.call('LINDEX', key, 0)
    if newest then at = math.max(at, tonumber(newest) + spacing) end
    local oldest = redis.call('LINDEX', key, limit - 1)
    if oldest then at = math.max(at, tonumber(oldest) + seconds) end
end
if at - now > max_wait then
    return {0, tostring(at - now)}
end
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[3 * i - 1])
    local seconds = tonumber(ARGV[3 * i])
    redis.call('LPUSH', key, string.format('%.6f', at))
    redis.call('LTRIM', key, 0, limit - 1)
    redis.call('PEXPIRE', key, math.ceil((at - now + seconds) * 1000) + 1000)
end
return {1, tostring(at - now)}
"""


class OutboundLimiter:
    def __init__(
        self, redis_url: str | None, *, max_wait: float = 30.0, margin: float = MARGIN_SECONDS
    ) -> None:
        # Short socket timeouts: a Redis that accepts but never answers must fail open, not hang.
        self._redis = (
            Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            if redis_url
            else None
        )
        self._script = self._redis.register_script(RESERVE) if self._redis else None
        self._memory: dict[str, deque[float]] = {}
        self.max_wait = max_wait
        self.margin = margin

    async def acquire(self, windows: Sequence[Window]) -> None:
        """Reserve a send time in every window and wait for it.

        A store outage sends unpaced (logged), like the inbound limiter: the platform's own
        429 and retry_after still hold the line, and replies keep flowing.
        """
        try:
            wait = await self.reserve(windows)
        except RedisError as exc:
            log.warning("outbound pacing store unavailable, sending unpaced: %s", exc)
            return
        if wait > 0:
            await asyncio.sleep(wait)

    async def reserve(self, windows: Sequence[Window]) -> float:
        """Reserve the earliest send time every window allows; seconds until it. Past
        `max_wait` nothing is reserved and a ChannelError says how long it would have been."""
        paced = rules(windows, self.margin)
        if self._script is None:
            return self._reserve_in_memory(paced)
        args: list[float] = [self.max_wait]
        for rule in paced:
            args += [rule.limit, rule.seconds, rule.spacing]
        taken, wait = await self._script(keys=[rule.key for rule in paced], args=args)
        if not int(taken):
            raise ChannelError("outbound rate limit reached", retry_after=float(wait))
        return float(wait)

    def _reserve_in_memory(self, paced: Sequence[Rule]) -> float:
        now = time.monotonic()
        if len(self._memory) > MEMORY_KEYS:
            # Forget windows nothing was sent in for a while (one per chat ever written to).
            self._memory = {
                key: sent for key, sent in self._memory.items() if sent and sent[0] > now - 3600
            }
        lists = [self._memory.setdefault(rule.key, deque()) for rule in paced]
        at = max(
            (earliest(now, rule, list(sent)) for rule, sent in zip(paced, lists, strict=True)),
            default=now,
        )
        if at - now > self.max_wait:
            raise ChannelError("outbound rate limit reached", retry_after=at - now)
        for rule, sent in zip(paced, lists, strict=True):
            sent.appendleft(at)
            while len(sent) > rule.limit:
                sent.pop()
        return at - now
