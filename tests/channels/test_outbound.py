"""Outbound pacing: per-chat and per-bot windows, shared through Redis, refusing past max_wait."""

from __future__ import annotations

import asyncio
import logging

import pytest
from limits import parse

from channels.base import ChannelError
from channels.outbound import OutboundLimiter
from channels.telegram.channel import PER_BOT, PER_GROUP, PER_PRIVATE_CHAT, TelegramChannel

THREE = parse("3 per 10 seconds")


async def test_a_full_window_refuses_with_the_wait_once_max_wait_is_zero() -> None:
    limiter = OutboundLimiter(None, max_wait=0)
    for _ in range(3):
        await limiter.acquire([(THREE, ("telegram", "chat", "42"))])
    with pytest.raises(ChannelError) as refused:
        await limiter.acquire([(THREE, ("telegram", "chat", "42"))])
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= 10
    # Another chat has its own window.
    await limiter.acquire([(THREE, ("telegram", "chat", "43"))])


async def test_every_window_of_a_call_must_have_room(redis_url: str) -> None:
    first, second = OutboundLimiter(redis_url, max_wait=0), OutboundLimiter(redis_url, max_wait=0)
    bot_window = (THREE, ("telegram", "bot"))
    await first.acquire([bot_window, (THREE, ("telegram", "chat", "1"))])
    await second.acquire([bot_window, (THREE, ("telegram", "chat", "2"))])
    await first.acquire([bot_window, (THREE, ("telegram", "chat", "3"))])
    # The bot-wide window is full across both replicas, though chat 4 has never been written to.
    with pytest.raises(ChannelError):
        await second.acquire([bot_window, (THREE, ("telegram", "chat", "4"))])


async def test_replicas_racing_for_the_last_slots_never_take_more_than_the_window(
    redis_url: str,
) -> None:
    # Twenty replicas (own limiter, own connections) ask at the same moment for a window of 3.
    replicas = [OutboundLimiter(redis_url, max_wait=0) for _ in range(20)]
    window = [(THREE, ("slack", "T1", "C-race"))]

    async def send(limiter: OutboundLimiter) -> bool:
        try:
            await limiter.acquire(window)
        except ChannelError:
            return False
        return True

    admitted = await asyncio.gather(*(send(limiter) for limiter in replicas))
    assert sum(admitted) == 3


def test_telegram_paces_private_chats_and_groups_by_their_own_limits() -> None:
    assert TelegramChannel.windows(42) == [
        (PER_PRIVATE_CHAT, ("telegram", "chat", "42")),
        (PER_BOT, ("telegram", "bot")),
    ]
    assert TelegramChannel.windows(-100200)[0] == (PER_GROUP, ("telegram", "chat", "-100200"))
    assert str(PER_GROUP) == "20 per 1 minute"
    assert str(PER_BOT) == "30 per 1 second"


async def test_a_store_outage_sends_unpaced_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    limiter = OutboundLimiter("redis://127.0.0.1:1/0", max_wait=0)
    with caplog.at_level(logging.WARNING, logger="channels.outbound"):
        await limiter.acquire([(THREE, ("telegram", "chat", "42"))])
    assert "sending unpaced" in caplog.text
