"""Slack: slack-bolt's AsyncApp at POST /slack/events (single-workspace bot token today).

OAuth multi-workspace install, identity by verified email and the app manifest come next.
"""

# Doctor reports Slack as ok once its settings are complete and valid (channels/catalog.py).
CHANNEL_READY = True
