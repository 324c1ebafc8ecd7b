"""POST /telegram/webhook: verify the secret, de-duplicate, ack at once, then run the turn.

The route only checks `X-Telegram-Bot-Api-Secret-Token` (constant time, before the body is
parsed), records the update id, and acks; the update is processed after the response by
python-telegram-bot's Application (updater None: no polling, no second web server).
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from telegram import CallbackQuery, Update
from telegram import Message as TelegramMessage
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.engine import Bot as ChatBot
from bot.replies import Reply
from channels.base import ChannelAddress, ChannelError, ChatChannel
from channels.card_updates import post_reply, refresh_copies
from channels.outbound import OutboundLimiter
from channels.telegram.channel import TelegramChannel, call
from channels.telegram.render import parse_callback
from core.config import Settings
from core.db import Database
from core.events.service import first_delivery
from web_min.observability import AppMetrics
from web_min.rate_limit import (
    UNVERIFIED_PER_IP,
    WEBHOOK_PER_SOURCE,
    RateLimiter,
    TooManyRequests,
)

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
CHANNEL = "telegram"


def build_application(settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    assert settings.telegram_bot_token is not None
    return (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{settings.telegram_api_url.rstrip('/')}/bot")
        .base_file_url(f"{settings.telegram_api_url.rstrip('/')}/file/bot")
        .updater(None)
        .build()
    )


def command_text(text: str) -> str:
    """`/pause@AdPilotBot "Summer"` -> `pause "Summer"`; `/start` -> `help`."""
    if not text.startswith("/"):
        return text
    word, _, rest = text[1:].partition(" ")
    word = word.split("@", 1)[0]
    return "help" if word == "start" else f"{word} {rest}".strip()


class TelegramWebhook:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        chat_bot: ChatBot,
        limiter: RateLimiter,
        metrics: AppMetrics,
        channels: Mapping[str, ChatChannel],
    ) -> None:
        assert settings.telegram_webhook_secret is not None
        self.secret = settings.telegram_webhook_secret.get_secret_value().encode()
        self.database = database
        self.chat_bot = chat_bot
        self.limiter = limiter
        self.metrics = metrics
        self.channels = channels
        self.application = build_application(settings)
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.channel = TelegramChannel(self.application.bot, OutboundLimiter(settings.redis_url))

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/telegram/webhook", self.receive, methods=["POST"])
        return router

    async def receive(self, request: Request, background: BackgroundTasks) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            client = request.client.host if request.client else "unknown"
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="forged").inc()
            await self.limiter.check(UNVERIFIED_PER_IP, CHANNEL, client)
            log.warning("telegram webhook with a missing or wrong secret token from %s", client)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            payload = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        if not isinstance(update_id, int):
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="malformed").inc()
            detail = "An update must be a JSON object with an integer update_id."
            return JSONResponse({"error": "bad_request", "detail": detail}, status_code=400)
        async with self.database.system() as session:
            first = await first_delivery(session=session, channel=CHANNEL, event_id=str(update_id))
        if not first:
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="duplicate").inc()
            return JSONResponse({"ok": True, "duplicate": True})
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome="accepted").inc()
        background.add_task(self.process, payload)
        return JSONResponse({"ok": True})

    async def process(self, payload: dict[str, Any]) -> None:
        """Run one update through PTB's Application (after the webhook was acked)."""
        try:
            await self.application.initialize()  # a no-op once done
            await self.application.process_update(Update.de_json(payload, self.application.bot))
        except Exception:
            log.exception("telegram update %s failed", payload.get("update_id"))

    async def _on_update(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_button(update.callback_query)
        elif update.message is not None and update.message.text is not None:
            await self._on_message(update.message)

    async def _source_allowed(self, source: str) -> bool:
        try:
            await self.limiter.check(WEBHOOK_PER_SOURCE, CHANNEL, source)
        except TooManyRequests:
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="rate_limited").inc()
            return False
        return True

    async def _on_message(self, message: TelegramMessage) -> None:
        sender = message.from_user
        if sender is None or sender.is_bot or not await self._source_allowed(str(sender.id)):
            return
        address = ChannelAddress(CHANNEL, "", str(message.chat.id))
        text = command_text(message.text or "")
        context = await self.chat_bot.identify(
            channel=CHANNEL,
            workspace="",
            external_user_id=str(sender.id),
            conversation_id=address.conversation_id,
        )
        if context is None:
            reply = await self.chat_bot.handle_unlinked(
                channel=CHANNEL,
                workspace="",
                external_user_id=str(sender.id),
                text=text,
                display_name=sender.full_name,
            )
            await self._send(address, reply, org_id=None)
            return
        reply = await self.chat_bot.handle_text(context, text)
        await self._send(address, reply, org_id=context.org_id)

    async def _send(
        self, address: ChannelAddress, reply: Reply, *, org_id: uuid.UUID | None
    ) -> None:
        try:
            if org_id is None:
                await self.channel.post(address, reply)
            else:
                await post_reply(
                    database=self.database,
                    channel=self.channel,
                    org_id=org_id,
                    address=address,
                    reply=reply,
                )
        except ChannelError as exc:
            log.warning("telegram reply to chat %s failed: %s", address.conversation_id, exc)

    async def _answer(
        self, query: CallbackQuery, text: str | None = None, alert: bool = False
    ) -> None:
        """Answer a tap (clients show a spinner until then); a failed answer is only logged."""
        try:
            await call(query.answer(text, show_alert=alert))
        except ChannelError as exc:
            log.warning("telegram callback answer failed: %s", exc)

    async def _on_button(self, query: CallbackQuery) -> None:
        parsed = parse_callback(query.data)
        if parsed is None or not await self._source_allowed(str(query.from_user.id)):
            await self._answer(query)
            return
        code, approve = parsed
        chat = query.message.chat.id if query.message is not None else query.from_user.id
        context = await self.chat_bot.identify(
            channel=CHANNEL,
            workspace="",
            external_user_id=str(query.from_user.id),
            conversation_id=str(chat),
        )
        if context is None:
            await self._answer(query, "Link your AdPilot account first: send link CODE.", True)
            return
        reply = await self.chat_bot.handle_decision(context, code, approve)
        await self._answer(query, reply.text[:200], reply.is_error)
        if reply.card is not None and not reply.is_error:
            # Decided: every copy of the card, on every channel, shows who did it.
            await refresh_copies(
                database=self.database,
                channels=self.channels,
                org_id=context.org_id,
                action_id=uuid.UUID(reply.card.action_id),
            )
