"""The chat channels AdPilot knows: their settings, how to check them, and where their code lives.

`adpilot doctor` reads this to say the truth about a channel: ok only when its settings are
complete and well-formed *and* this build carries the channel's code (a module that exposes
`CHANNEL_READY = True`). A channel module that lands later flips its row to ok without doctor
changing; until then configured credentials are reported as unusable, not as ready.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from core.config import Settings

log = logging.getLogger(__name__)

Getter = Callable[[Settings], SecretStr | str | None]
ShapeCheck = Callable[[str], bool]

_TELEGRAM_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# Telegram allows 1-256 characters; fewer than 16 could be guessed through the webhook.
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
_SLACK_SIGNING_SECRET = re.compile(r"[0-9a-f]{32}")
_SLACK_CLIENT_ID = re.compile(r"\d{5,20}\.\d{5,20}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_DIGITS = re.compile(r"\d{5,20}")


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _any(value: str) -> bool:
    return bool(value.strip())


@dataclass(frozen=True)
class ChannelSetting:
    """One environment variable a channel needs, with the shape a real value has."""

    env: str
    get: Getter
    looks_valid: ShapeCheck
    shape: str

    def value(self, settings: Settings) -> str | None:
        raw = self.get(settings)
        text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        return text if text else None


@dataclass(frozen=True)
class ChannelMode:
    """One complete way to run a channel (Slack: one bot token, or OAuth install to many)."""

    label: str
    settings: tuple[ChannelSetting, ...]


@dataclass(frozen=True)
class ChannelSpec:
    """`settings` are always needed; of `modes`, one must be complete (the first one wins)."""

    name: str
    module: str
    settings: tuple[ChannelSetting, ...]
    modes: tuple[ChannelMode, ...] = ()

    def all_settings(self) -> tuple[ChannelSetting, ...]:
        return self.settings + tuple(s for mode in self.modes for s in mode.settings)


@dataclass(frozen=True)
class ChannelStatus:
    """What doctor shows: `off` (not configured), `missing` (half configured), `down`, `ok`."""

    name: str
    state: Literal["ok", "missing", "down", "off"]
    detail: str


CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec(
        "slack",
        "channels.slack",
        (
            ChannelSetting(
                "ADPILOT_SLACK_SIGNING_SECRET",
                lambda s: s.slack_signing_secret,
                lambda v: bool(_SLACK_SIGNING_SECRET.fullmatch(v)),
                "the app's signing secret, 32 hex characters",
            ),
        ),
        (
            ChannelMode(
                "one workspace",
                (
                    ChannelSetting(
                        "ADPILOT_SLACK_BOT_TOKEN",
                        lambda s: s.slack_bot_token,
                        lambda v: v.startswith("xoxb-"),
                        "a bot token starting with xoxb-",
                    ),
                ),
            ),
            ChannelMode(
                "install to many workspaces",
                (
                    ChannelSetting(
                        "ADPILOT_SLACK_CLIENT_ID",
                        lambda s: s.slack_client_id,
                        lambda v: bool(_SLACK_CLIENT_ID.fullmatch(v)),
                        "the app's client id, digits and a dot",
                    ),
                    ChannelSetting(
                        "ADPILOT_SLACK_CLIENT_SECRET",
                        lambda s: s.slack_client_secret,
                        lambda v: bool(_SLACK_SIGNING_SECRET.fullmatch(v)),
                        "the app's client secret, 32 hex characters",
                    ),
                ),
            ),
        ),
    ),
    ChannelSpec(
        "telegram",
        "channels.telegram",
        (
            ChannelSetting(
                "ADPILOT_TELEGRAM_BOT_TOKEN",
                lambda s: s.telegram_bot_token,
                lambda v: bool(_TELEGRAM_TOKEN.fullmatch(v)),
                "a BotFather token like 123456789:AA…",
            ),
            ChannelSetting(
                "ADPILOT_TELEGRAM_WEBHOOK_SECRET",
                lambda s: s.telegram_webhook_secret,
                lambda v: bool(_TELEGRAM_SECRET.fullmatch(v)),
                "16–256 characters of A-Z a-z 0-9 _ - (e.g. `openssl rand -hex 24`)",
            ),
        ),
    ),
    ChannelSpec(
        "whatsapp",
        "channels.whatsapp",
        (
            ChannelSetting(
                "ADPILOT_WHATSAPP_ACCESS_TOKEN", lambda s: s.whatsapp_access_token, _any, "a token"
            ),
            ChannelSetting(
                "ADPILOT_WHATSAPP_APP_SECRET", lambda s: s.whatsapp_app_secret, _any, "a secret"
            ),
            ChannelSetting(
                "ADPILOT_WHATSAPP_PHONE_NUMBER_ID",
                lambda s: s.whatsapp_phone_number_id,
                lambda v: bool(_DIGITS.fullmatch(v)),
                "the numeric phone number id from the WhatsApp Manager",
            ),
            ChannelSetting(
                "ADPILOT_WHATSAPP_VERIFY_TOKEN", lambda s: s.whatsapp_verify_token, _any, "a token"
            ),
        ),
    ),
    ChannelSpec(
        "signal",
        "channels.signal_messenger",
        (
            ChannelSetting(
                "ADPILOT_SIGNAL_API_URL",
                lambda s: s.signal_api_url,
                _http_url,
                "the signal-cli-rest-api base URL, http(s)://host:port",
            ),
            ChannelSetting(
                "ADPILOT_SIGNAL_NUMBER",
                lambda s: s.signal_number,
                lambda v: bool(_E164.fullmatch(v)),
                "the bot's number in E.164, e.g. +4915112345678",
            ),
        ),
    ),
)


def has_code(module: str) -> bool:
    """Whether this build carries a working implementation of the channel."""
    try:
        if importlib.util.find_spec(module) is None:
            return False
        loaded = importlib.import_module(module)
    except ImportError:
        return False
    return getattr(loaded, "CHANNEL_READY", False) is True


def channel_status(spec: ChannelSpec, settings: Settings) -> ChannelStatus:
    """Off, half-configured, malformed, configured without code, or ready — never a guess."""
    values = {setting.env: setting.value(settings) for setting in spec.all_settings()}
    if all(value is None for value in values.values()):
        return ChannelStatus(spec.name, "off", "not configured")
    unset = [s.env for s in spec.settings if values[s.env] is None]
    if unset:
        return ChannelStatus(spec.name, "missing", "also set " + ", ".join(unset))
    chosen = next(
        (mode for mode in spec.modes if all(values[s.env] is not None for s in mode.settings)),
        None,
    )
    if spec.modes and chosen is None:
        options = " or ".join(
            f"{' and '.join(s.env for s in mode.settings)} ({mode.label})" for mode in spec.modes
        )
        return ChannelStatus(spec.name, "missing", f"also set {options}")
    in_force = spec.settings + (chosen.settings if chosen is not None else ())
    malformed = [
        f"{setting.env} is not {setting.shape}"
        for setting in in_force
        if not setting.looks_valid(values[setting.env] or "")
    ]
    if malformed:
        return ChannelStatus(spec.name, "down", "; ".join(malformed))
    if not has_code(spec.module):
        return ChannelStatus(
            spec.name,
            "down",
            f"settings are complete, but this version of AdPilot has no {spec.name} channel yet",
        )
    detail = "settings complete and valid"
    if chosen is not None and len(spec.modes) > 1:
        detail += f" ({chosen.label})"
    return ChannelStatus(spec.name, "ok", detail)


def channel_ready(settings: Settings, name: str) -> bool:
    """Whether the HTTP app should serve the channel: its doctor row would say ok."""
    spec = next(channel for channel in CHANNELS if channel.name == name)
    status = channel_status(spec, settings)
    if status.state in {"missing", "down"}:
        log.warning("channel %s is not served: %s", name, status.detail)
    return status.state == "ok"
