"""TelegramChannel: the ChatChannel for Telegram, on python-telegram-bot's Bot (httpx)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, PostedMessage
from channels.telegram.render import MAX_CAPTION, card_keyboard, card_text, reply_texts

T = TypeVar("T")


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def call(request: Awaitable[T]) -> T:
    """One Bot API call with its failures as ChannelError (the caller decides what to do)."""
    try:
        return await request
    except RetryAfter as exc:
        raise ChannelError(
            "Telegram asked us to slow down", retry_after=_seconds(exc.retry_after)
        ) from exc
    except Forbidden as exc:
        raise ChannelError(f"blocked or removed from the chat: {exc.message}") from exc
    except BadRequest as exc:
        raise ChannelError(f"refused: {exc.message}") from exc
    except NetworkError as exc:  # TimedOut is a NetworkError
        raise ChannelError(f"unreachable: {exc.message}") from exc
    except TelegramError as exc:
        raise ChannelError(exc.message) from exc


class TelegramChannel:
    name = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        chat_id = int(address.conversation_id)
        posted: list[PostedMessage] = []
        for text in reply_texts(reply):
            sent: Message = await call(self.bot.send_message(chat_id=chat_id, text=text))
            posted.append(PostedMessage(str(sent.message_id)))
        if reply.chart is not None:
            photo = await call(
                self.bot.send_photo(
                    chat_id=chat_id,
                    photo=reply.chart.png,
                    caption=reply.chart.alt_text[:MAX_CAPTION],
                )
            )
            posted.append(PostedMessage(str(photo.message_id)))
        if reply.card is not None:
            card = await call(
                self.bot.send_message(
                    chat_id=chat_id,
                    text=card_text(reply.card),
                    reply_markup=card_keyboard(reply.card),
                )
            )
            posted.append(PostedMessage(str(card.message_id), shows_card=True))
        return posted

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        try:
            await call(
                self.bot.edit_message_text(
                    chat_id=int(address.conversation_id),
                    message_id=int(message_id),
                    text=card_text(card),
                    reply_markup=card_keyboard(card),
                )
            )
        except ChannelError as exc:
            # Telegram refuses an edit to the very same content; the copy is up to date.
            if "not modified" not in str(exc):
                raise
