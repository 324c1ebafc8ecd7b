"""Users, their chat identities and the one-time codes that link the two."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.base import Base, Timestamped, UUIDPk


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    USER = "user"


class User(UUIDPk, Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"), Index(None, "org_id"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=Role.USER,
    )
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(512), nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last accepted TOTP time step: a code at or before it is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Runs the installation (the /admin pages): `adpilot operator grant`, not an org role.
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)


class ChannelIdentity(UUIDPk, Timestamped, Base):
    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "workspace", "external_user_id"),
        Index(None, "org_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128), default="")
    external_user_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # When this person last wrote to us on the channel: WhatsApp only lets free-form messages
    # through within 24 hours of it (outside, a pre-approved template has to go instead).
    last_inbound_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LinkCode(UUIDPk, Timestamped, Base):
    __tablename__ = "link_codes"
    __table_args__ = (UniqueConstraint("code_hash"), Index(None, "org_id"))

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Only a hash is stored: a leaked table cannot be used to link a stranger's chat account.
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
