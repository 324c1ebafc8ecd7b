"""Where an org's alerts go, and the outbox of notifications on their way there."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class Destination(UUIDPk, Timestamped, Base):
    __tablename__ = "destinations"
    __table_args__ = (Index(None, "org_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128), default="")
    conversation_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Which kinds of message go here: alerts, approvals, summaries.
    kinds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # A credential the destination itself is (a Slack incoming-webhook URL), encrypted.
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)


class Notification(UUIDPk, Timestamped, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "org_id"),
        Index("ix_notifications_dedupe", "org_id", "destination_id", "dedupe_key", "sent_at"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    destination_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("destinations.id", ondelete="SET NULL"), nullable=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # alerts, approvals, summaries or auth_errors: which destinations take it, how it is sent.
    kind: Mapped[str] = mapped_column(String(16), default="alerts", server_default="alerts")
    # Identical alerts (same rule, same campaign) share a key; one goes out per window.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Set by the claim (pending -> sending); only the holder of the token may mark it sent.
    lease_token: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # The platform's id of the message that carried it (its own, or a digest's).
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Kept back by quiet hours: goes out in a digest once they end.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
