"""One frame of signal-cli-rest-api's receive websocket as a neutral inbound message, or a skip.

In json-rpc mode each frame is `{"envelope": {...}, "account": "+49…"}` (signal-cli's
JsonMessageEnvelope), an `{"error": "..."}` the API writes when signal-cli reports one, or an
envelope with an `exception` when a message could not be decrypted. Only data messages from
someone else become a `SignalMessage`; everything else is a `Skipped` with a reason that says
why, and nothing here ever raises on what the socket sends.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.phone_numbers import InvalidPhoneNumber, to_e164

# Signal puts U+FFFC in the text where a mention is drawn; the mention itself is metadata.
MENTION_PLACEHOLDER = "\ufffc"
GROUP_PREFIX = "group."
_GROUP_ID_BYTES = 32  # a Signal v2 group id (libsignal's GroupIdentifier)

Content = Literal["text", "sticker", "attachment", "other"]


class _Model(BaseModel):
    """Field names are signal-cli's own (camelCase), so the shapes read like its JSON."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _GroupInfo(_Model):
    groupId: str
    type: str = "DELIVER"


class _Mention(_Model):
    number: str | None = None
    uuid: str | None = None


class _DataMessage(_Model):
    timestamp: int = Field(strict=True)
    message: str | None = None
    groupInfo: _GroupInfo | None = None
    mentions: list[_Mention] | None = None
    reaction: dict[str, Any] | None = None
    sticker: dict[str, Any] | None = None
    attachments: list[dict[str, Any]] | None = None
    remoteDelete: dict[str, Any] | None = None
    isExpirationUpdate: bool | None = None


class _Envelope(_Model):
    source: str | None = None
    sourceNumber: str | None = None
    sourceUuid: str | None = None
    sourceName: str | None = None
    timestamp: int = Field(strict=True)
    dataMessage: _DataMessage | None = None
    editMessage: dict[str, Any] | None = None
    storyMessage: dict[str, Any] | None = None
    syncMessage: dict[str, Any] | None = None
    callMessage: dict[str, Any] | None = None
    receiptMessage: dict[str, Any] | None = None
    typingMessage: dict[str, Any] | None = None


class _Frame(_Model):
    envelope: _Envelope
    account: str
    exception: dict[str, Any] | None = None


@dataclass(frozen=True)
class SignalMessage:
    """A data message from someone else: who, where, when, and its text (mentions removed)."""

    source_number: str | None  # E.164, when Signal shared it with the bot
    source_uuid: str | None
    source_name: str | None
    timestamp: int
    text: str
    group: str | None  # the recipient for replies, `group.<base64(internal id)>`
    mentions_bot: bool
    content: Content

    @property
    def sender(self) -> str:
        """The stable key of the sender: the account's UUID, else its number."""
        return self.source_uuid or self.source_number or ""

    @property
    def conversation_id(self) -> str:
        """Where a reply goes: the group, else the person (by number, else by UUID)."""
        return self.group or self.source_number or self.source_uuid or ""


@dataclass(frozen=True)
class Skipped:
    """A frame that is not a message for the bot; `malformed` ones are logged."""

    outcome: Literal["malformed", "ignored"]
    reason: str


def group_recipient(group_id: str) -> str | None:
    """signal-cli's group id (base64 of 32 bytes) as the API names the group for sending."""
    try:
        raw = base64.b64decode(group_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _GROUP_ID_BYTES:
        return None
    return GROUP_PREFIX + base64.b64encode(group_id.encode("ascii")).decode("ascii")


def _number(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return to_e164(raw)
    except InvalidPhoneNumber:
        return None


def _decode(frame: str | bytes) -> _Frame | Skipped:
    try:
        payload = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, bad UTF-8, absurd nesting or numbers
        return Skipped("malformed", "not JSON")
    if isinstance(payload, dict) and set(payload) == {"error"}:
        return Skipped("malformed", "an error reported by signal-cli-rest-api")
    try:
        return _Frame.model_validate(payload)
    except ValidationError:
        return Skipped("malformed", "JSON of an unknown shape")


def _not_a_data_message(envelope: _Envelope) -> str | None:
    kinds = {
        "sync message": envelope.syncMessage,
        "receipt": envelope.receiptMessage,
        "typing indicator": envelope.typingMessage,
        "edit": envelope.editMessage,
        "story": envelope.storyMessage,
        "call": envelope.callMessage,
    }
    for kind, part in kinds.items():
        if part is not None:
            return kind
    return None if envelope.dataMessage is not None else "envelope without a message"


def _content(data: _DataMessage) -> Content | Skipped:
    """What the message carries, or why it is not for the bot at all."""
    if data.groupInfo is not None and data.groupInfo.type != "DELIVER":
        return Skipped("ignored", "group update")
    if data.remoteDelete is not None:
        return Skipped("ignored", "remote delete")
    if data.isExpirationUpdate:
        return Skipped("ignored", "disappearing-messages timer change")
    if data.reaction is not None:
        # A 👍 on a message is chat etiquette, not a request; answering it would be noise.
        return Skipped("ignored", "reaction")
    if (data.message or "").replace(MENTION_PLACEHOLDER, "").strip():
        return "text"
    if data.sticker is not None:
        return "sticker"
    if data.attachments:
        return "attachment"
    return "other"


def parse_frame(frame: str | bytes, *, own_number: str) -> SignalMessage | Skipped:
    """The message a frame carries for the bot, or why there is none."""
    decoded = _decode(frame)
    if isinstance(decoded, Skipped):
        return decoded
    envelope = decoded.envelope
    if decoded.account != own_number:
        return Skipped("malformed", "a frame for another account")
    if decoded.exception is not None:
        return Skipped("ignored", "a message signal-cli could not decrypt")
    number = _number(envelope.sourceNumber or envelope.source)
    if number == own_number:
        return Skipped("ignored", "the bot's own message")
    if not (number or envelope.sourceUuid):
        return Skipped("ignored", "no sender")
    other = _not_a_data_message(envelope)
    if other is not None or envelope.dataMessage is None:
        return Skipped("ignored", other or "envelope without a message")
    data = envelope.dataMessage
    content = _content(data)
    if isinstance(content, Skipped):
        return content
    group = None
    if data.groupInfo is not None:
        group = group_recipient(data.groupInfo.groupId)
        if group is None:
            return Skipped("malformed", "a group id of an unknown shape")
    mentions = data.mentions or []
    return SignalMessage(
        source_number=number,
        source_uuid=envelope.sourceUuid,
        source_name=envelope.sourceName,
        timestamp=envelope.timestamp,
        text=(data.message or "").replace(MENTION_PLACEHOLDER, "").strip(),
        group=group,
        mentions_bot=any(_number(mention.number) == own_number for mention in mentions),
        content=content,
    )
