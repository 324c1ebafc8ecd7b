"""Outbound chat messages and how far each got: accepted, sent, delivered, read, or failed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk, utcnow


class OutboundMessage(UUIDPk, Timestamped, Base):
    """One message a channel sent, keyed by the platform's message id (WhatsApp's wamid).

    Platforms report delivery later and out of order (a status callback per step); `status`
    only ever moves forward. A `failed` row keeps the platform's error code and title, so the
    notification outbox can tell a closed 24-hour window (131047) from an unreachable number.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "message_id"),
        Index(None, "org_id", "status"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
