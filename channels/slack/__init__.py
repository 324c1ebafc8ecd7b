"""Slack: slack-bolt's AsyncApp at POST /slack/events, one workspace or installed to many."""

# The bot scopes the code needs, and nothing more (deploy/slack-manifest.yml must match):
# app mentions and DMs in, messages and card edits out, the slash command, chart uploads,
# and users.info with the confirmed email for orgs that link people by verified email.
SCOPES = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "files:write",
    "im:history",
    "users:read",
    "users:read.email",
)

# Doctor reports Slack as ok once its settings are complete and valid (channels/catalog.py).
CHANNEL_READY = True
