"""The alert-destination and delivery-policy forms: each address checked in its channel's terms.

Parsing returns the neutral core input or a field → message map, so the page can re-render the
form with what the person typed and a sentence per field. A webhook URL is never echoed back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time

from channels.phone_numbers import InvalidPhoneNumber, to_e164
from channels.slack_webhook.channel import InvalidWebhookUrl, check_webhook_url, webhook_label
from core.config import Settings
from core.errors import ValidationFailed
from core.notify.destinations import MAX_DIGEST_THRESHOLD, DestinationIn, PolicyIn
from core.notify.models import Destination
from core.notify.service import FALLBACK, KINDS
from core.users.service import normalise_email

# What a person picks, in the order the form lists them.
DESTINATION_KINDS: dict[str, str] = {
    "slack": "Slack channel",
    "telegram": "Telegram chat",
    "whatsapp": "WhatsApp number",
    "signal": "Signal number or group",
    "email": "Email address",
    "slack_webhook": "Slack incoming webhook",
}
ALERT_KINDS: dict[str, str] = {
    "alerts": "Rule alerts",
    "approvals": "Approval cards",
    "summaries": "Daily summaries",
    "auth_errors": "Ad-account connection problems",
}
assert set(ALERT_KINDS) == set(KINDS)
TAKES = {"off": "Off", "on": "On", "fallback": "Only as a fallback"}

_SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{6,20}")
_SLACK_TEAM = re.compile(r"T[A-Z0-9]{6,20}")
# Telegram's chat ids are integers (groups and channels negative); the Bot API posts by id.
_TELEGRAM_CHAT = re.compile(r"-?\d{1,20}")
_SIGNAL_GROUP = re.compile(r"group\.[A-Za-z0-9+/=]{16,120}")
MAX_FALLBACK_POSITION = 99


@dataclass
class DestinationForm:
    """What the form holds (as typed) and its errors by field name."""

    kind: str = "slack"
    address: str = ""
    workspace: str = ""
    name: str = ""
    takes: dict[str, str] = field(default_factory=lambda: {"alerts": "on"})
    enabled: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, destination: Destination) -> DestinationForm:
        """An existing destination as the edit form shows it (a webhook URL stays hidden)."""
        takes = {
            kind: ("fallback" if value == FALLBACK else "on")
            for kind, value in destination.kinds.items()
            if value
        }
        return cls(
            kind=destination.channel,
            address="" if destination.channel == "slack_webhook" else destination.conversation_id,
            workspace=destination.workspace,
            name=destination.name or "",
            takes=takes,
            enabled=destination.enabled,
        )


def _field(form: Mapping[str, str], name: str, limit: int = 500) -> str:
    return str(form.get(name, "")).strip()[:limit]


def read_destination_form(form: Mapping[str, str]) -> DestinationForm:
    takes = {kind: _field(form, f"takes_{kind}", 16) or "off" for kind in ALERT_KINDS}
    return DestinationForm(
        kind=_field(form, "kind", 32),
        address=_field(form, "address", 500),
        workspace=_field(form, "workspace", 128),
        name=_field(form, "name", 300),
        takes={kind: value for kind, value in takes.items() if value != "off"},
        enabled=bool(form.get("enabled")),
    )


def _slack(raw: str) -> str:
    if not _SLACK_CHANNEL.fullmatch(raw):
        raise ValueError(
            "A Slack channel ID looks like C0123ABCD (channel details → About, at the "
            "bottom); invite the AdPilot app to the channel."
        )
    return raw


def _telegram(raw: str) -> str:
    if not _TELEGRAM_CHAT.fullmatch(raw):
        raise ValueError("A Telegram chat id is a number, e.g. -1001234567890 for a group.")
    return raw


def _phone(raw: str) -> str:
    try:
        return to_e164(raw)
    except InvalidPhoneNumber as exc:
        raise ValueError(f"Not a phone number: {exc}.") from exc


def _signal(raw: str) -> str:
    if not raw.startswith("group."):
        return _phone(raw)
    if not _SIGNAL_GROUP.fullmatch(raw):
        raise ValueError("A Signal group id looks like group.<base64 id>.")
    return raw


def _email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except ValidationFailed as exc:
        raise ValueError("Not an email address, e.g. alerts@example.com.") from exc


_CHECKS: dict[str, Callable[[str], str]] = {
    "slack": _slack,
    "telegram": _telegram,
    "whatsapp": _phone,
    "signal": _signal,
    "email": _email,
}


def _address(
    data: DestinationForm, settings: Settings, *, editing: Destination | None
) -> tuple[str, str | None]:
    """(conversation id, secret) of the destination; ValueError with the field's message."""
    if data.kind == "slack_webhook":
        if not data.address and editing is not None and editing.channel == "slack_webhook":
            return editing.conversation_id, None  # keep the stored URL
        try:
            url = check_webhook_url(data.address, base=settings.slack_webhook_base_url)
        except InvalidWebhookUrl as exc:
            raise ValueError(str(exc)) from exc
        return webhook_label(url), url
    if not data.address:
        raise ValueError("Say where the messages go.")
    return _CHECKS[data.kind](data.address), None


def parse_destination(
    data: DestinationForm, settings: Settings, *, editing: Destination | None = None
) -> DestinationIn | None:
    """The core input, or None with `data.errors` filled in."""
    data.errors = {}
    if data.kind not in DESTINATION_KINDS:
        data.errors["kind"] = "Choose where the alerts go."
        return None
    conversation_id, secret = "", None
    try:
        conversation_id, secret = _address(data, settings, editing=editing)
    except ValueError as exc:
        data.errors["address"] = str(exc)
    workspace = ""
    if data.kind == "slack":
        workspace = data.workspace
        multi = settings.slack_client_id is not None and settings.slack_bot_token is None
        if workspace and not _SLACK_TEAM.fullmatch(workspace):
            data.errors["workspace"] = "A Slack workspace (team) ID looks like T0123ABCD."
        elif multi and not workspace:
            data.errors["workspace"] = (
                "This server serves several Slack workspaces: give the workspace's team ID."
            )
    if len(data.name) > 200:
        data.errors["name"] = "The name may have 200 characters at most."
    if any(value not in ("on", "fallback") for value in data.takes.values()):
        data.errors["takes"] = "Choose on, off or only as a fallback for each kind."
    elif not data.takes:
        data.errors["takes"] = "Pick at least one kind of message for this destination."
    if data.errors:
        return None
    return DestinationIn(
        channel=data.kind,
        conversation_id=conversation_id,
        workspace=workspace,
        name=data.name or None,
        kinds={kind: True if value == "on" else FALLBACK for kind, value in data.takes.items()},
        secret=secret,
        enabled=data.enabled,
    )


@dataclass
class PolicyForm:
    quiet_start: str = ""
    quiet_end: str = ""
    digest_threshold: str = ""
    positions: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read_policy_form(form: Mapping[str, str], destination_ids: Sequence[uuid.UUID]) -> PolicyForm:
    return PolicyForm(
        quiet_start=_field(form, "quiet_start", 16),
        quiet_end=_field(form, "quiet_end", 16),
        digest_threshold=_field(form, "digest_threshold", 16),
        positions={str(item): _field(form, f"order_{item}", 8) for item in destination_ids},
    )


def _clock(value: str) -> time | None:
    """HH:MM (what <input type=time> sends); ValueError for anything else."""
    if not value:
        return None
    if not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ValueError(value)
    return time.fromisoformat(value)


def parse_policy(data: PolicyForm) -> PolicyIn | None:
    """The core input, or None with `data.errors` filled in."""
    data.errors = {}
    start = end = None
    try:
        start, end = _clock(data.quiet_start), _clock(data.quiet_end)
    except ValueError:
        data.errors["quiet"] = "Quiet hours are times like 22:00 and 07:00."
    if "quiet" not in data.errors and (start is None) != (end is None):
        data.errors["quiet"] = "Give quiet hours both a start and an end, or neither."
    elif "quiet" not in data.errors and start is not None and start == end:
        data.errors["quiet"] = "Quiet hours must start and end at different times."
    threshold = 0
    try:
        threshold = int(data.digest_threshold)
        if not 0 <= threshold <= MAX_DIGEST_THRESHOLD:
            raise ValueError(threshold)
    except ValueError:
        data.errors["digest_threshold"] = (
            f"The digest threshold is a whole number from 0 (off) to {MAX_DIGEST_THRESHOLD}."
        )
    ranked: list[tuple[int, int, uuid.UUID]] = []
    for index, (key, raw) in enumerate(data.positions.items()):
        try:
            position = int(raw)
            if not 1 <= position <= MAX_FALLBACK_POSITION:
                raise ValueError(position)
        except ValueError:
            data.errors["fallback"] = (
                f"Each fallback position is a whole number from 1 to {MAX_FALLBACK_POSITION}."
            )
            continue
        ranked.append((position, index, uuid.UUID(key)))
    if data.errors:
        return None
    return PolicyIn(
        quiet_start=start,
        quiet_end=end,
        digest_threshold=threshold,
        fallback_order=[item for _, _, item in sorted(ranked)],
    )
