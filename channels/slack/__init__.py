"""Slack: slack-bolt's AsyncApp at POST /slack/events (single-workspace bot token today).

OAuth multi-workspace install, identity by verified email and the app manifest come next.
"""

# The bot scopes the code needs, and nothing more (deploy/slack-manifest.yml must match):
# app mentions and DMs in, messages and card edits out, the slash command, chart uploads.
SCOPES = ("app_mentions:read", "chat:write", "commands", "files:write", "im:history")

# Doctor reports Slack as ok once its settings are complete and valid (channels/catalog.py).
CHANNEL_READY = True
