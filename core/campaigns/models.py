"""Campaigns, unified across platforms."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Campaign(UUIDPk, Timestamped, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("ad_account_id", "external_id"),
        # Target of campaign_metrics' composite foreign key (campaign, org).
        UniqueConstraint("id", "org_id"),
        Index(None, "org_id", "platform"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    ad_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ad_accounts.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[CampaignStatus] = mapped_column(
        Enum(
            CampaignStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=CampaignStatus.DRAFT,
    )
    objective: Mapped[str | None] = mapped_column(String(64), nullable=True)
    daily_budget: Mapped[Decimal | None] = mapped_column("daily_budget_micros", nullable=True)
    lifetime_budget: Mapped[Decimal | None] = mapped_column("lifetime_budget_micros", nullable=True)
    # The budget a rule's cumulative cap is measured against ("never above 2x the baseline").
    baseline_daily_budget: Mapped[Decimal | None] = mapped_column(
        "baseline_daily_budget_micros", nullable=True
    )
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
