"""Slack incoming webhooks: a lightweight destination, one channel per URL, post-only."""
