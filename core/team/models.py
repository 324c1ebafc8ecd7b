"""Invitations: a one-time link that lets a new person join an org with a chosen role."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk
from core.users.models import Role


class Invite(UUIDPk, Timestamped, Base):
    __tablename__ = "invites"
    __table_args__ = (UniqueConstraint("token_hash"), Index(None, "org_id", "created_at"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    # Only a hash is stored: a leaked table cannot be used to join an org.
    token_hash: Mapped[str] = mapped_column(String(128))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The user the invite became, once accepted.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
