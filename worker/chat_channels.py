"""The chat channels the worker posts and redraws cards through, one per configured channel.

The worker has no webhooks: it only talks outward (redrawing a card that expired, and soon
alerts). Each channel is built the way its webhook builds it, from the same settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChatChannel, PostedMessage
from channels.catalog import channel_ready
from channels.outbound import OutboundLimiter
from core.config import Settings
from core.db import Database

if TYPE_CHECKING:
    from telegram import Bot


async def outbound_channels(
    settings: Settings, database: Database, stack: AsyncExitStack
) -> dict[str, ChatChannel]:
    """Configured channels by name; their clients close with `stack`."""
    channels: dict[str, ChatChannel] = {}
    if channel_ready(settings, "slack"):
        from channels.slack.conversation import build_channel

        channels["slack"], _ = build_channel(settings, database)
    if channel_ready(settings, "telegram"):
        from channels.telegram.channel import TelegramChannel
        from channels.telegram.webhook import build_application

        application = build_application(settings)
        # Initialised on first use (getMe), as the webhook does; shut down with the worker.
        stack.push_async_callback(_shutdown_if_started(application.bot))
        channels["telegram"] = LazyTelegram(
            TelegramChannel(application.bot, OutboundLimiter(settings.redis_url)),
            application.bot.initialize,
        )
    if channel_ready(settings, "whatsapp"):
        from channels.whatsapp.channel import WhatsAppChannel
        from channels.whatsapp.graph import GraphClient

        assert settings.whatsapp_phone_number_id is not None
        assert settings.whatsapp_access_token is not None
        graph = GraphClient(
            base_url=settings.whatsapp_api_url,
            phone_number_id=settings.whatsapp_phone_number_id,
            access_token=settings.whatsapp_access_token.get_secret_value(),
            timeout=settings.http_timeout_seconds,
        )
        stack.push_async_callback(graph.aclose)
        channels["whatsapp"] = WhatsAppChannel(graph, database, OutboundLimiter(settings.redis_url))
    if channel_ready(settings, "signal"):
        from channels.signal_messenger.channel import SignalChannel

        assert settings.signal_api_url is not None
        assert settings.signal_number is not None
        http = httpx.AsyncClient(
            base_url=settings.signal_api_url,
            timeout=httpx.Timeout(settings.http_timeout_seconds, connect=10.0),
        )
        stack.push_async_callback(http.aclose)
        channels["signal"] = SignalChannel(
            http=http, number=settings.signal_number, limiter=OutboundLimiter(settings.redis_url)
        )
    channels.update(notification_channels(settings, stack))
    return channels


def notification_channels(settings: Settings, stack: AsyncExitStack) -> dict[str, ChatChannel]:
    """Post-only destinations of the outbox: email (Resend) and Slack incoming webhooks."""
    from channels.email.channel import EmailChannel
    from channels.email.resend import ResendClient, resend_http
    from channels.email.transactional import email_ready
    from channels.slack_webhook.channel import SlackWebhookChannel

    channels: dict[str, ChatChannel] = {}
    if email_ready(settings):
        assert settings.resend_api_key is not None
        assert settings.email_from is not None
        resend = resend_http(settings.resend_api_url, settings.http_timeout_seconds)
        stack.push_async_callback(resend.aclose)
        channels["email"] = EmailChannel(
            ResendClient(
                resend,
                api_key=settings.resend_api_key.get_secret_value(),
                sender=settings.email_from,
            )
        )
    # Always available: the URL is each destination's own.
    webhooks = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout_seconds, connect=10.0))
    stack.push_async_callback(webhooks.aclose)
    channels["slack_webhook"] = SlackWebhookChannel(
        webhooks, base=settings.slack_webhook_base_url, limiter=OutboundLimiter(settings.redis_url)
    )
    return channels


class LazyTelegram:
    """PTB's Bot must be initialised (a getMe call) before use; here on first use, so a
    Telegram outage never stops the worker from starting."""

    name = "telegram"

    def __init__(self, channel: ChatChannel, initialize: Callable[[], Awaitable[None]]) -> None:
        self.channel = channel
        self._initialize = initialize

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        await self._initialize()  # a no-op once done
        return await self.channel.post(address, reply)

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        await self._initialize()
        await self.channel.edit_card(address, message_id, card)


def _shutdown_if_started(bot: Bot) -> Callable[[], Awaitable[None]]:
    async def shutdown() -> None:
        await bot.shutdown()  # returns at once when the bot never started

    return shutdown
