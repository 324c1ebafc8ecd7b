"""Slack: Block Kit rendering today; the bolt app, OAuth install and webhooks arrive next.

No CHANNEL_READY marker yet, so `adpilot doctor` keeps reporting Slack as not in this build.
"""
