"""The webhook notifications WhatsApp sends, as far as AdPilot reads them (pydantic, strict ids).

One notification may carry several entries and changes; a change of field `messages` carries
`messages` (what people wrote or tapped) or `statuses` (how our messages fared). Unknown fields
are ignored, so Meta adding one breaks nothing; a known field of the wrong type is malformed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Text(_Model):
    body: StrictStr


class ButtonReply(_Model):
    id: StrictStr
    title: StrictStr = ""


class Interactive(_Model):
    type: StrictStr
    button_reply: ButtonReply | None = None


class TemplateButton(_Model):
    """A tap on a template's quick-reply button (a different shape from reply buttons)."""

    payload: StrictStr | None = None
    text: StrictStr = ""


class Context(_Model):
    """The message a reply or a button tap refers to (for a tap: the message with the button)."""

    id: StrictStr | None = None


class InboundMessage(_Model):
    id: StrictStr = Field(min_length=1, max_length=200)
    # Absent for people who use a username only (Meta's business-scoped ids, from 2026).
    sender: StrictStr | None = Field(default=None, alias="from")
    timestamp: StrictStr | None = None
    type: StrictStr
    text: Text | None = None
    interactive: Interactive | None = None
    button: TemplateButton | None = None
    context: Context | None = None


class Profile(_Model):
    name: StrictStr | None = None


class Contact(_Model):
    wa_id: StrictStr | None = None
    profile: Profile | None = None


class StatusError(_Model):
    code: StrictInt
    title: StrictStr = ""


class Status(_Model):
    id: StrictStr = Field(min_length=1, max_length=200)
    status: StrictStr
    timestamp: StrictStr | None = None
    recipient_id: StrictStr | None = None
    errors: list[StatusError] = Field(default_factory=list)


class Metadata(_Model):
    phone_number_id: StrictStr


class MessagesValue(_Model):
    metadata: Metadata | None = None
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[InboundMessage] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)

    def display_name(self, wa_id: str | None) -> str | None:
        for contact in self.contacts:
            if contact.wa_id == wa_id and contact.profile is not None:
                return contact.profile.name
        return None


class Change(_Model):
    field: StrictStr
    value: dict[str, Any]


class Entry(_Model):
    id: StrictStr
    changes: list[Change] = Field(default_factory=list)


class Notification(_Model):
    object: StrictStr
    entry: list[Entry]

    def messages_values(self) -> list[MessagesValue]:
        """Every `messages` change's value, validated (ValidationError when malformed)."""
        return [
            MessagesValue.model_validate(change.value)
            for entry in self.entry
            for change in entry.changes
            if change.field == "messages"
        ]
