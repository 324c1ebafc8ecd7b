"""TelegramChannel: the ChatChannel for Telegram, on python-telegram-bot's Bot (httpx)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from limits import parse
from telegram import Bot, Message
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, Failure, OutboundObserver, PostedMessage
from channels.outbound import OutboundLimiter, Window
from channels.telegram.render import MAX_CAPTION, card_keyboard, card_text, reply_texts

T = TypeVar("T")

# Telegram's flood limits: 30 messages/s per bot; about 1/s per chat (short bursts tolerated);
# 20/min per group. A 429 past these still says how long to wait (retry_after).
PER_BOT = parse("30/second")
PER_PRIVATE_CHAT = parse("3 per 3 seconds")
PER_GROUP = parse("20/minute")
# A wait Telegram asks for up to this long is slept here; a longer one goes back to the caller.
MAX_INLINE_WAIT_SECONDS = 10.0


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _typed(exc: TelegramError) -> ChannelError:
    """A Bot API failure as a ChannelError saying what the caller can do about it."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():
            # PTB warns that retry_after becomes a timedelta; _seconds reads either form.
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            wait = _seconds(exc.retry_after)
        return ChannelError("Telegram asked us to slow down", retry_after=wait)
    if isinstance(exc, InvalidToken):
        return ChannelError("Telegram refused the bot token", failure=Failure.TOKEN_REVOKED)
    if isinstance(exc, Forbidden):
        return ChannelError(
            f"blocked or removed from the chat: {exc.message}", failure=Failure.BLOCKED
        )
    if isinstance(exc, BadRequest):
        gone = "chat not found" in exc.message.lower()
        failure = Failure.CHAT_NOT_FOUND if gone else Failure.REFUSED
        return ChannelError(f"refused: {exc.message}", failure=failure)
    if isinstance(exc, NetworkError):  # TimedOut is a NetworkError
        return ChannelError(f"unreachable: {exc.message}", failure=Failure.UNREACHABLE)
    return ChannelError(exc.message)


async def call(request: Awaitable[T], observe: OutboundObserver | None = None) -> T:
    """One Bot API call with its failures as typed ChannelErrors (the caller decides)."""
    try:
        result = await request
    except TelegramError as exc:
        error = _typed(exc)
        if observe is not None:
            observe(error.failure.value)
        raise error from exc
    if observe is not None:
        observe("ok")
    return result


class TelegramChannel:
    name = "telegram"

    def __init__(
        self,
        bot: Bot,
        limiter: OutboundLimiter | None = None,
        observe: OutboundObserver | None = None,
    ) -> None:
        self.bot = bot
        self.limiter = limiter
        self.observe = observe

    @staticmethod
    def windows(chat_id: int) -> list[Window]:
        chat_window = PER_GROUP if chat_id < 0 else PER_PRIVATE_CHAT
        # Narrowest first: a full chat window then costs no slot of the bot-wide one.
        return [(chat_window, ("telegram", "chat", str(chat_id))), (PER_BOT, ("telegram", "bot"))]

    async def _deliver(self, chat_id: int, request: Callable[[], Awaitable[T]]) -> T:
        """One paced call; a 429 with a short retry_after is waited out and tried once more."""
        for attempt in (1, 2):
            if self.limiter is not None:
                await self.limiter.acquire(self.windows(chat_id))
            try:
                return await call(request(), self.observe)
            except ChannelError as exc:
                wait = exc.retry_after
                if attempt == 2 or wait is None or wait > MAX_INLINE_WAIT_SECONDS:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_text(self, chat_id: int, text: str) -> Message:
        return await self._deliver(
            chat_id, lambda: self.bot.send_message(chat_id=chat_id, text=text)
        )

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        chat_id = int(address.conversation_id)
        posted: list[PostedMessage] = []
        for chunk in reply_texts(reply):
            sent = await self._send_text(chat_id, chunk)
            posted.append(PostedMessage(str(sent.message_id)))
        if reply.chart is not None:
            png, caption = reply.chart.png, reply.chart.alt_text[:MAX_CAPTION]
            photo = await self._deliver(
                chat_id,
                lambda: self.bot.send_photo(chat_id=chat_id, photo=png, caption=caption),
            )
            posted.append(PostedMessage(str(photo.message_id)))
        if reply.card is not None:
            text, keyboard = card_text(reply.card), card_keyboard(reply.card)
            card = await self._deliver(
                chat_id,
                lambda: self.bot.send_message(chat_id=chat_id, text=text, reply_markup=keyboard),
            )
            posted.append(PostedMessage(str(card.message_id), shows_card=True))
        return posted

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        chat_id = int(address.conversation_id)
        text, keyboard = card_text(card), card_keyboard(card)
        try:
            await self._deliver(
                chat_id,
                lambda: self.bot.edit_message_text(
                    chat_id=chat_id, message_id=int(message_id), text=text, reply_markup=keyboard
                ),
            )
        except ChannelError as exc:
            # Telegram refuses an edit to the very same content; the copy is up to date.
            if "not modified" not in str(exc):
                raise
