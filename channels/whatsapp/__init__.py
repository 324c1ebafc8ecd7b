"""WhatsApp: the official Cloud API (Meta's Graph API over httpx), its webhook in the HTTP app."""

# Doctor reports WhatsApp as ok once its settings are complete and valid (channels/catalog.py).
CHANNEL_READY = True
