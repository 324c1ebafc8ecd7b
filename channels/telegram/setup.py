"""Registering our webhook with Telegram (`adpilot telegram set-webhook --url URL`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from telegram import Bot

from channels.telegram.channel import call
from core.config import Settings
from core.errors import ValidationFailed

# Telegram delivers webhooks over HTTPS to these ports only.
WEBHOOK_PORTS = {443, 80, 88, 8443}
ALLOWED_UPDATES = ["message", "callback_query"]


def webhook_url(url: str) -> str:
    """The public URL of POST /telegram/webhook, checked against Telegram's rules."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValidationFailed("The webhook URL must be https://host[:port]/telegram/webhook.")
    if (parts.port or 443) not in WEBHOOK_PORTS:
        raise ValidationFailed("Telegram only delivers to ports 443, 80, 88 and 8443.")
    if not parts.path.rstrip("/").endswith("/telegram/webhook"):
        raise ValidationFailed("The webhook URL must end with /telegram/webhook.")
    return url


async def set_webhook(settings: Settings, url: str) -> None:
    """Point Telegram at our route, with the secret token it must echo on every update."""
    if settings.telegram_bot_token is None or settings.telegram_webhook_secret is None:
        raise ValidationFailed(
            "Set ADPILOT_TELEGRAM_BOT_TOKEN and ADPILOT_TELEGRAM_WEBHOOK_SECRET first."
        )
    base = settings.telegram_api_url.rstrip("/")
    bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=f"{base}/bot")
    async with bot:
        await call(
            bot.set_webhook(
                url=webhook_url(url),
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        )
