"""Per-conversation LLM history, stored as pydantic-ai's own message JSON."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class Conversation(UUIDPk, Timestamped, Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("org_id", "channel", "workspace", "external_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128), default="")
    external_id: Mapped[str] = mapped_column(String(200))
    history: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
