"""Campaign metrics: one row per campaign, platform and time bucket (the natural key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Micros


class CampaignMetric(Base):
    __tablename__ = "campaign_metrics"
    __table_args__ = (
        # One composite key instead of two: a metric row belongs to its campaign's org (the
        # RLS column cannot disagree with the campaign), and ingest pays one FK check a row.
        ForeignKeyConstraint(
            ["campaign_id", "org_id"], ["campaigns.id", "campaigns.org_id"], ondelete="CASCADE"
        ),
        Index(None, "org_id", "recorded_at"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Start of the bucket (a day in the ad account's timezone, or an hour), stored in UTC.
    recorded_at: Mapped[datetime] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    spend: Mapped[Decimal] = mapped_column("spend_micros", Micros(), default=Decimal(0))
    conversions: Mapped[Decimal] = mapped_column("conversions_micros", Micros(), default=Decimal(0))
    conversion_value: Mapped[Decimal] = mapped_column(
        "conversion_value_micros", Micros(), default=Decimal(0)
    )
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
