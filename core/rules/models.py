"""Automation rules and the alerts they raise."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class Rule(UUIDPk, Timestamped, Base):
    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # The validated RuleSpec (scope, conditions, guards, action, limits) as JSON.
    spec: Mapped[dict[str, Any]] = mapped_column()
    mode: Mapped[str] = mapped_column(String(16), default="notify")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    last_evaluated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Whoever last changed or switched on the rule: with created_by, who its cards count as
    # requested by (nobody approves their own money-moving card, even through a rule).
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class Alert(UUIDPk, Timestamped, Base):
    __tablename__ = "alerts"
    __table_args__ = (Index(None, "org_id", "created_at"), Index(None, "rule_id", "scope_key"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("rules.id", ondelete="SET NULL"), nullable=True
    )
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True
    )
    # What the rule fired on: a campaign id, or the name of a blended scope.
    scope_key: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    message: Mapped[str] = mapped_column(Text)
    observed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pending_action_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pending_actions.id", ondelete="SET NULL"), nullable=True
    )
    action_taken: Mapped[str | None] = mapped_column(String(32), nullable=True)
