"""Connected ad accounts (with encrypted tokens) and pending OAuth handshakes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class AdAccount(UUIDPk, Timestamped, Base):
    __tablename__ = "ad_accounts"
    __table_args__ = (UniqueConstraint("org_id", "platform", "external_id"), Index(None, "org_id"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    access_token_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sync_status: Mapped[str] = mapped_column(String(16), default="never")
    last_synced_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class OAuthState(Timestamped, Base):
    __tablename__ = "oauth_states"
    __table_args__ = (Index(None, "org_id"),)

    # SHA-256 of the random state sent to the provider.
    state_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the web session that started it: a callback in another browser is refused.
    session_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_verifier_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    redirect_after: Mapped[str | None] = mapped_column(String(500), nullable=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # After the callback: the exchanged tokens and the listed accounts (encrypted JSON), held
    # until the user picks which accounts to manage; cleared by that pick (single use).
    grant_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
