"""The channel catalog: doctor's channel rows say ok only for complete, valid settings with code."""

from __future__ import annotations

import dataclasses

import pytest

from channels.catalog import CHANNELS, ChannelSpec, channel_status, has_code
from core.config import Settings, reset_settings_cache

TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SLACK_SECRET = "8f742231b10e8888abcd99aaabbb85a5"


def spec(name: str) -> ChannelSpec:
    return next(channel for channel in CHANNELS if channel.name == name)


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    return Settings()


def test_every_channel_is_off_without_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch)
    states = {channel.name: channel_status(channel, settings).state for channel in CHANNELS}
    assert states == {"slack": "off", "telegram": "off", "whatsapp": "off", "signal": "off"}


def test_half_configured_channel_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, ADPILOT_TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN)
    status = channel_status(spec("telegram"), settings)
    assert (status.state, status.detail) == ("missing", "also set ADPILOT_TELEGRAM_WEBHOOK_SECRET")


def test_malformed_values_are_down_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_TELEGRAM_BOT_TOKEN="not-a-token-secret-value",
        ADPILOT_TELEGRAM_WEBHOOK_SECRET="has spaces!",
    )
    status = channel_status(spec("telegram"), settings)
    assert status.state == "down"
    assert "ADPILOT_TELEGRAM_BOT_TOKEN is not a BotFather token" in status.detail
    assert "ADPILOT_TELEGRAM_WEBHOOK_SECRET is not 16–256 characters" in status.detail
    assert "not-a-token-secret-value" not in status.detail


def test_valid_settings_without_channel_code_are_not_reported_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every channel has its code now; a build without one (a module that is absent) still
    # must not be reported ok.
    settings = settings_with(
        monkeypatch,
        ADPILOT_SIGNAL_API_URL="http://127.0.0.1:8080",
        ADPILOT_SIGNAL_NUMBER="+4915112345678",
    )
    unbuilt = dataclasses.replace(spec("signal"), module="channels.not_in_this_build")
    status = channel_status(unbuilt, settings)
    assert status.state == "down"
    assert status.detail == (
        "settings are complete, but this version of AdPilot has no signal channel yet"
    )


def test_slack_with_valid_settings_is_ok_now_that_its_channel_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_SLACK_BOT_TOKEN="xoxb-1-2-abc",
        ADPILOT_SLACK_SIGNING_SECRET=SLACK_SECRET,
    )
    assert channel_status(spec("slack"), settings).state == "ok"


def test_telegram_with_valid_settings_is_ok_now_that_its_channel_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        ADPILOT_TELEGRAM_WEBHOOK_SECRET="s3cret_token-1234",
    )
    assert channel_status(spec("telegram"), settings).state == "ok"


def test_whatsapp_with_valid_settings_is_ok_now_that_its_channel_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_WHATSAPP_ACCESS_TOKEN="EAAG-token",
        ADPILOT_WHATSAPP_APP_SECRET="app-secret",
        ADPILOT_WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        ADPILOT_WHATSAPP_VERIFY_TOKEN="verify-me",
    )
    assert channel_status(spec("whatsapp"), settings).state == "ok"


def test_signal_with_valid_settings_is_ok_now_that_its_channel_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_SIGNAL_API_URL="http://signal-cli:8080",
        ADPILOT_SIGNAL_NUMBER="+4915112345678",
    )
    assert channel_status(spec("signal"), settings).state == "ok"


@pytest.mark.parametrize(
    ("env", "detail"),
    [
        ({"ADPILOT_SIGNAL_NUMBER": "+4915112345678"}, "also set ADPILOT_SIGNAL_API_URL"),
        ({"ADPILOT_SIGNAL_API_URL": "http://signal-cli:8080"}, "also set ADPILOT_SIGNAL_NUMBER"),
    ],
)
def test_signal_with_one_of_its_two_settings_names_the_other(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], detail: str
) -> None:
    status = channel_status(spec("signal"), settings_with(monkeypatch, **env))
    assert (status.state, status.detail) == ("missing", detail)


def test_a_signal_number_not_in_e164_or_a_url_without_scheme_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_SIGNAL_API_URL="signal-cli:8080",
        ADPILOT_SIGNAL_NUMBER="015112345678",
    )
    status = channel_status(spec("signal"), settings)
    assert status.state == "down"
    assert "ADPILOT_SIGNAL_API_URL is not the signal-cli-rest-api base URL" in status.detail
    assert "ADPILOT_SIGNAL_NUMBER is not the bot's number in E.164" in status.detail
    assert "015112345678" not in status.detail


def test_valid_settings_with_ready_code_are_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_SIGNAL_API_URL="http://127.0.0.1:8080",
        ADPILOT_SIGNAL_NUMBER="+4915112345678",
    )
    ready = dataclasses.replace(spec("signal"), module="tests.channels.stub_channels.ready")
    assert channel_status(ready, settings).state == "ok"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("tests.channels.stub_channels.ready", True),
        ("tests.channels.stub_channels.unfinished", False),
        ("tests.channels.stub_channels.absent", False),
        ("channels.slack", True),
        ("channels.telegram", True),
        ("channels.whatsapp", True),
        ("channels.signal_messenger", True),
    ],
)
def test_has_code_needs_a_module_that_declares_itself_ready(module: str, expected: bool) -> None:
    assert has_code(module) is expected


def test_slack_installed_to_many_workspaces_is_ok_with_client_id_and_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_with(
        monkeypatch,
        ADPILOT_SLACK_CLIENT_ID="1234567890.9876543210",
        ADPILOT_SLACK_CLIENT_SECRET="0123456789abcdef0123456789abcdef",
        ADPILOT_SLACK_SIGNING_SECRET=SLACK_SECRET,
    )
    status = channel_status(spec("slack"), settings)
    assert (status.state, status.detail) == (
        "ok",
        "settings complete and valid (install to many workspaces)",
    )


@pytest.mark.parametrize(
    ("env", "state", "detail"),
    [
        (
            {"ADPILOT_SLACK_SIGNING_SECRET": SLACK_SECRET},
            "missing",
            "also set ADPILOT_SLACK_BOT_TOKEN (one workspace) or ADPILOT_SLACK_CLIENT_ID and "
            "ADPILOT_SLACK_CLIENT_SECRET (install to many workspaces)",
        ),
        (
            {"ADPILOT_SLACK_SIGNING_SECRET": SLACK_SECRET, "ADPILOT_SLACK_CLIENT_ID": "1.2"},
            "missing",
            "also set ADPILOT_SLACK_BOT_TOKEN (one workspace) or ADPILOT_SLACK_CLIENT_ID and "
            "ADPILOT_SLACK_CLIENT_SECRET (install to many workspaces)",
        ),
        (
            {"ADPILOT_SLACK_CLIENT_ID": "1234567890.9876543210"},
            "missing",
            "also set ADPILOT_SLACK_SIGNING_SECRET",
        ),
        (
            {
                "ADPILOT_SLACK_SIGNING_SECRET": SLACK_SECRET,
                "ADPILOT_SLACK_CLIENT_ID": "my-app",
                "ADPILOT_SLACK_CLIENT_SECRET": "0123456789abcdef0123456789abcdef",
            },
            "down",
            "ADPILOT_SLACK_CLIENT_ID is not the app's client id, digits and a dot",
        ),
    ],
)
def test_half_configured_slack_says_which_settings_complete_a_mode(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], state: str, detail: str
) -> None:
    status = channel_status(spec("slack"), settings_with(monkeypatch, **env))
    assert (status.state, status.detail) == (state, detail)
