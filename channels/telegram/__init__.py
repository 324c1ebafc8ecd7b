"""Telegram: python-telegram-bot in webhook mode inside the HTTP app (no polling, no 2nd server)."""

# Doctor reports Telegram as ok once its settings are complete and valid (channels/catalog.py).
CHANNEL_READY = True
