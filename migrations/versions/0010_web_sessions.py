"""Web sign-in: server-side sessions, MFA recovery codes, password reset tokens, operators.

`web_sessions` and `password_reset_tokens` are found by a token's hash before anyone's org is
known (the cookie, the emailed link), as Slack installations are (0006): they carry no org, no
RLS, and the app role loses access; the web app reads them through the worker login
(`Database.system()`). A session row names its user only; the org comes from the user row,
joined on every lookup, so a deactivated user or a moved org takes effect at once.
`recovery_codes` are used after the password, when the org is known: a tenant table (RLS).
`users.is_operator` marks whoever runs the installation (the /admin pages); not an org role.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.base
from core.config import get_settings

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICATE = "org_id = (SELECT app_current_org())"
SYSTEM_TABLES = ("web_sessions", "password_reset_tokens")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("is_operator", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("mfa_pending", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", core.base.UTCDateTime(timezone=True), nullable=False),
        _user_fk("web_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])
    op.create_table(
        "recovery_codes",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", core.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_recovery_codes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        _user_fk("recovery_codes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_org_id"), "recovery_codes", ["org_id"])
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])
    op.create_table(
        "password_reset_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.base.UTCDateTime(timezone=True), nullable=True),
        _user_fk("password_reset_tokens"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_password_reset_tokens")),
    )
    op.create_index(
        op.f("ix_password_reset_tokens_user_id"), "password_reset_tokens", ["user_id"]
    )
    if _is_postgres():
        app_role = get_settings().database_app_role
        for table in SYSTEM_TABLES:
            op.execute(f"REVOKE ALL ON {table} FROM {app_role}")
        op.execute("ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE recovery_codes FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON recovery_codes "
            f"USING ({PREDICATE}) WITH CHECK ({PREDICATE})"
        )


def downgrade() -> None:
    op.drop_table("password_reset_tokens")
    op.drop_table("recovery_codes")
    op.drop_table("web_sessions")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("is_operator")
