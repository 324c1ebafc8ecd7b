"""Organizations: the tenant, its plan and its AI quota counter."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class PlanTier(enum.StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    AGENCY = "agency"


class Organization(UUIDPk, Timestamped, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    plan: Mapped[PlanTier] = mapped_column(
        Enum(
            PlanTier, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        ),
        default=PlanTier.FREE,
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Per-org policy: approval expiry, two-person threshold, budget guardrails.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ai_generations_used: Mapped[int] = mapped_column(Integer, default=0)
    ai_period_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The org's local date of its last daily summary: the summary job's once-a-day claim.
    last_summary_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subscription_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # `created` of the newest Stripe event applied: an older event arriving late changes nothing.
    stripe_event_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
