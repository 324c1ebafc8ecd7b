"""AI usage records behind the plan quotas, and the Stripe event ids already taken."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk, utcnow


class AIUsage(UUIDPk, Timestamped, Base):
    __tablename__ = "ai_usage"
    __table_args__ = (Index(None, "org_id", "created_at"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)


class StripeEvent(Base):
    """A Stripe event id we took: the insert-first claim that makes a redelivery a no-op.

    Carries no org (a webhook is verified and claimed before any org is known), so it is a system
    table read and written through the worker login only, like processed_events.
    """

    __tablename__ = "stripe_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    # The event's own `created` (Stripe's clock), for support questions about ordering.
    created: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
