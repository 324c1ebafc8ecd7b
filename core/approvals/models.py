"""Pending actions: a proposed change that waits for an authorised human (or a guardrail)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class ActionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"


class PendingAction(UUIDPk, Timestamped, Base):
    __tablename__ = "pending_actions"
    __table_args__ = (UniqueConstraint("org_id", "short_code"), Index(None, "org_id", "status"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # What a person types or a button carries: short, unambiguous, opaque.
    short_code: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))
    arguments: Mapped[dict[str, Any]] = mapped_column()
    arguments_hash: Mapped[str] = mapped_column(String(64))
    before_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("rules.id", ondelete="SET NULL"), nullable=True
    )
    origin_channel: Mapped[str] = mapped_column(String(32), default="system")
    origin_conversation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    required_role: Mapped[str] = mapped_column(String(16), default="manager")
    status: Mapped[ActionStatus] = mapped_column(
        Enum(
            ActionStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=ActionStatus.PENDING,
    )
    expires_at: Mapped[datetime]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_via: Mapped[str | None] = mapped_column(String(32), nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The action that would reverse this one once executed (kind + arguments).
    inverse: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    undo_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pending_actions.id", ondelete="SET NULL"), nullable=True
    )


class CardMessage(UUIDPk, Timestamped, Base):
    """One place an approval card was shown, so a decision updates every copy of it.

    A card asked for on Telegram and approved on Slack is one action with two messages; when
    it is decided (by anyone, on any channel, by a rule or by expiry) every row here is the
    address of a message to edit. `shown_status` is the action status the message last showed.
    """

    __tablename__ = "card_messages"
    __table_args__ = (
        UniqueConstraint("channel", "workspace", "conversation_id", "message_id"),
        Index(None, "org_id", "action_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pending_actions.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128), default="")
    conversation_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(200))
    shown_status: Mapped[str] = mapped_column(String(16), default="pending")
