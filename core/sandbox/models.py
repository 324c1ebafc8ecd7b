"""State of the simulated ad platform, kept in the app database so a pause sticks."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped


class SandboxAccount(Timestamped, Base):
    __tablename__ = "sandbox_accounts"

    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    seed: Mapped[int] = mapped_column(Integer, default=0)


class SandboxCampaign(Timestamped, Base):
    __tablename__ = "sandbox_campaigns"

    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_external_id: Mapped[str] = mapped_column(
        ForeignKey("sandbox_accounts.external_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    objective: Mapped[str | None] = mapped_column(String(64), nullable=True)
    daily_budget: Mapped[Decimal | None] = mapped_column("daily_budget_micros", nullable=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    # How the simulation treats the campaign: steady, volatile or failing.
    profile: Mapped[str] = mapped_column(String(16), default="steady", server_default="steady")
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SandboxRevision(Base):
    """A campaign's (status, budget) from `effective_at` on: metrics replay this history."""

    __tablename__ = "sandbox_campaign_revisions"
    __table_args__ = (Index(None, "campaign_external_id", "effective_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    campaign_external_id: Mapped[str] = mapped_column(
        ForeignKey("sandbox_campaigns.external_id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    daily_budget: Mapped[Decimal | None] = mapped_column("daily_budget_micros", nullable=True)
    effective_at: Mapped[datetime]
