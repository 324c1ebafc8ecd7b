"""POST /telegram/webhook: verify the secret, de-duplicate, ack at once, then run the turn.

The route only checks `X-Telegram-Bot-Api-Secret-Token` (constant time, before the body is
parsed), records the update id, and acks; the update is processed after the response by
python-telegram-bot's Application (updater None: no polling, no second web server) — on a task
of this process, or, with ADPILOT_CHAT_TURNS=queue, by `adpilot worker` (`process_turn`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from telegram import CallbackQuery, Update
from telegram import Message as TelegramMessage
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.engine import Bot as ChatBot
from channels.base import ChannelAddress, ChannelError, ChatChannel
from channels.card_updates import decide_on_card, deliver, redraw_if_decided
from channels.outbound import OutboundLimiter
from channels.telegram.channel import TelegramChannel, call
from channels.telegram.render import parse_callback
from channels.turns import ChatTurn, queued_turns
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
UPDATE = "update"


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


def command_text(text: str, bot_username: str | None = None) -> str | None:
    """`/pause@AdPilotBot "Summer"` -> `pause "Summer"`; `/start` -> `help`.

    None for a command addressed to another bot in a group (`/pause@OtherBot`).
    """
    if not text.startswith("/"):
        return text
    word, _, rest = text[1:].partition(" ")
    word, _, addressee = word.partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
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
        self.application.add_error_handler(self._on_error)
        # The numeric id before the token's colon is public (it is the bot's user id).
        self.bot_id = self.application.bot.token.split(":", 1)[0]
        self._tasks: set[asyncio.Task[None]] = set()
        self.queue = queued_turns(settings)
        self.channel = TelegramChannel(
            self.application.bot,
            OutboundLimiter(settings.redis_url),
            observe=metrics.outbound_observer(CHANNEL),
        )

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/telegram/webhook", self.receive, methods=["POST"])
        return router

    async def receive(self, request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            client = request.client.host if request.client else "unknown"
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="forged").inc()
            await self.limiter.check(UNVERIFIED_PER_IP, CHANNEL, client)
            log.warning("telegram webhook with a missing or wrong secret token from %s", client)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            payload = json.loads(await request.body())
        except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, absurd ints or depth
            payload = None
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="malformed").inc()
            detail = "An update must be a JSON object with an integer update_id."
            return JSONResponse({"error": "bad_request", "detail": detail}, status_code=400)
        async with self.database.system() as session:
            # Update ids are per bot (and restart after a long pause): key them by the bot too.
            event_id = f"{self.bot_id}:{update_id}"
            first = await first_delivery(session=session, channel=CHANNEL, event_id=event_id)
        if not first:
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="duplicate").inc()
            return JSONResponse({"ok": True, "duplicate": True})
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome="accepted").inc()
        if self.queue is not None:
            turn = ChatTurn(CHANNEL, UPDATE, event_id, {"update": json.dumps(payload)})
            if not await self.queue.submit_all([turn], database=self.database):
                return JSONResponse({"error": "unavailable"}, status_code=503)  # Telegram retries
            return JSONResponse({"ok": True})
        # Acked now; the turn runs on its own task, so the response (and the connection) is
        # not held while the bot thinks.
        task = asyncio.create_task(self.process(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"ok": True})

    async def drain(self) -> None:
        """Wait for the updates in flight (shutdown, and tests that look at the outcome)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        if self.queue is not None:
            await self.queue.close()

    async def process_turn(self, turn: ChatTurn) -> None:
        """The worker's side of a queued update."""
        payload = json.loads(turn.fields["update"])
        if isinstance(payload, dict):
            await self.process(payload)

    async def process(self, payload: dict[str, Any]) -> None:
        """Run one update through PTB's Application (after the webhook was acked)."""
        try:
            await self.application.initialize()  # a no-op once done
            await self.application.process_update(Update.de_json(payload, self.application.bot))
        except Exception:
            self._failed(payload.get("update_id"))

    def _failed(self, update_id: object) -> None:
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome="failed").inc()
        log.exception("telegram update %s failed", update_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # PTB catches handler errors itself; this is where they surface, with the update id.
        update_id = update.update_id if isinstance(update, Update) else None
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome="failed").inc()
        log.error("telegram update %s failed", update_id, exc_info=context.error)

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
        text = command_text(message.text or "", self.application.bot.username)
        if text is None:
            return
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
            org_id = None
        else:
            reply = await self.chat_bot.handle_text(context, text)
            org_id = context.org_id
        await deliver(
            database=self.database,
            channel=self.channel,
            org_id=org_id,
            address=address,
            reply=reply,
        )

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
        sender = query.from_user
        if parsed is None or sender is None or query.message is None:
            await self._answer(query)
            return
        if not await self._source_allowed(str(sender.id)):
            await self._answer(query)
            return
        code, approve = parsed
        chat = str(query.message.chat.id)
        context = await self.chat_bot.identify(
            channel=CHANNEL, workspace="", external_user_id=str(sender.id), conversation_id=chat
        )
        if context is None:
            await self._answer(query, "Link your AdPilot account first: send link CODE.", True)
            return
        reply = await decide_on_card(
            database=self.database,
            chat_bot=self.chat_bot,
            context=context,
            address=ChannelAddress(CHANNEL, "", chat),
            message_id=str(query.message.message_id),
            code=code,
            approve=approve,
        )
        await self._answer(query, reply.text[:200], reply.is_error)
        await redraw_if_decided(
            database=self.database, channels=self.channels, org_id=context.org_id, reply=reply
        )
