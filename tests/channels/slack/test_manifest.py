"""deploy/slack-manifest.yml asks for exactly the scopes the code uses and points at our route."""

from __future__ import annotations

from pathlib import Path

import yaml

from channels.slack import SCOPES

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-manifest.yml"


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(SCOPES)


def test_commands_events_and_interactivity_share_the_one_route() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    settings = manifest["settings"]
    urls = {
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        *(command["url"] for command in manifest["features"]["slash_commands"]),
    }
    assert len(urls) == 1
    assert urls.pop().endswith("/slack/events")
    assert [command["command"] for command in manifest["features"]["slash_commands"]] == [
        "/adpilot"
    ]
    # The events the app listens to, and the scope each one needs.
    # app_uninstalled and tokens_revoked need no scope; they make us forget a workspace's token.
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
        "app_uninstalled",
        "tokens_revoked",
    }
    assert {"app_mentions:read", "im:history"} <= set(SCOPES)


def test_the_oauth_redirect_is_our_callback_route() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    (redirect,) = manifest["oauth_config"]["redirect_urls"]
    assert redirect.endswith("/slack/oauth_redirect")
