"""Web sessions, MFA recovery codes and password reset tokens: only hashes of their secrets.

`web_sessions` and `password_reset_tokens` are looked up by a token before anyone's org is
known, like Slack installations: no org column, no RLS, read through the worker login only
(migration 0010). Recovery codes are used after the password, when the org is known: a tenant
table under RLS.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk, utcnow


class WebSession(UUIDPk, Timestamped, Base):
    """One signed-in browser. The cookie holds the token; the row holds its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index(None, "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # No org_id: the user row is the one source of the org (and of is_active), joined per request.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_secret: Mapped[str] = mapped_column(String(64))
    # Password accepted, second factor not yet: the session reaches only the MFA step.
    mfa_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The absolute end, however active the session is.
    expires_at: Mapped[datetime]


class RecoveryCode(UUIDPk, Timestamped, Base):
    """A one-time code that stands in for a TOTP code when the authenticator is lost."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index(None, "org_id"), Index(None, "user_id"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PasswordResetToken(Base):
    """A one-time, short-lived password reset link's token, as its SHA-256."""

    __tablename__ = "password_reset_tokens"
    __table_args__ = (Index(None, "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
