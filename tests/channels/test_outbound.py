"""Outbound pacing: per-chat and per-bot windows, shared through Redis, refusing past max_wait."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from limits import parse
from redis.asyncio import Redis

from channels.base import ChannelError
from channels.outbound import MARGIN_SECONDS, OutboundLimiter, Rule, Window, earliest, rules
from channels.telegram.channel import PER_BOT, PER_GROUP, PER_PRIVATE_CHAT, TelegramChannel

THREE = parse("3 per 10 seconds")


async def test_a_full_window_refuses_with_the_wait_once_max_wait_is_zero() -> None:
    limiter = OutboundLimiter(None, max_wait=0)
    for _ in range(3):
        await limiter.acquire([(THREE, ("telegram", "chat", "42"))])
    with pytest.raises(ChannelError) as refused:
        await limiter.acquire([(THREE, ("telegram", "chat", "42"))])
    assert refused.value.retry_after is not None
    # A window's length plus the margin kept for the stamp-to-arrival delay.
    assert 10 < refused.value.retry_after <= 10 + MARGIN_SECONDS
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


def _schedule(rule: Rule, sends: int) -> list[float]:
    """The send times `rule` gives `sends` calls made at the same instant (0)."""
    reserved: list[float] = []  # newest first, as the stores keep them
    for _ in range(sends):
        reserved.insert(0, earliest(0.0, rule, reserved))
    return reserved[::-1]


def test_a_per_second_cap_is_spread_evenly_with_a_margin_over_the_platforms_window() -> None:
    [rule] = rules([(PER_BOT, ("telegram", "bot"))], margin=0.04)
    times = _schedule(rule, 91)
    gaps = {round(later - earlier, 9) for earlier, later in itertools.pairwise(times)}
    assert gaps == {round(1.04 / 30, 9)}  # no bursts: one send every 34.7 ms
    # Any 31 sends span more than Telegram's second by the margin: a send arriving up to 40 ms
    # late (or its 30th predecessor early) still finds room in the platform's window.
    assert min(times[n + 30] - times[n] for n in range(len(times) - 30)) >= 1.04 - 1e-9


def test_a_longer_window_keeps_its_burst_and_waits_the_margin_after_it() -> None:
    [rule] = rules([(PER_PRIVATE_CHAT, ("telegram", "chat", "42"))], margin=0.04)
    assert _schedule(rule, 7) == pytest.approx([0, 0, 0, 3.04, 3.04, 3.04, 6.08])


async def test_redis_reserves_one_time_in_every_window_spaced_along_the_bot(
    redis_url: str,
) -> None:
    # Two a second: calls made well within the half-second spacing all queue behind each other.
    bot_item = parse("2/second")
    limiter = OutboundLimiter(redis_url, max_wait=10)
    windows: list[list[Window]] = [
        [(PER_PRIVATE_CHAT, ("telegram", "chat", str(chat))), (bot_item, ("test", "bot"))]
        for chat in (501, 502, 503, 504)
    ]
    waits = [await limiter.reserve(window) for window in windows]
    assert waits == sorted(waits)
    chat_rules = [rules(window, margin=MARGIN_SECONDS)[0] for window in windows]
    bot_rule = rules(windows[0], margin=MARGIN_SECONDS)[1]
    client = Redis.from_url(redis_url)
    try:
        bot = [float(at) for at in await client.lrange(bot_rule.key, 0, -1)][::-1]
        chats = [float((await client.lrange(rule.key, 0, -1))[0]) for rule in chat_rules]
    finally:
        await client.aclose()
    # Each send's one time is in its chat's window and the bot's (which keeps its newest 2),
    # and the bot's spreads them.
    assert bot == chats[-2:]
    assert bot_rule.spacing == pytest.approx((1 + MARGIN_SECONDS) / 2)
    assert all(
        later - earlier == pytest.approx(bot_rule.spacing, abs=1e-5)
        for earlier, later in itertools.pairwise(chats)
    )
