"""Slack installations belong to a workspace, not an org; OAuth install state lives in its own table.

A Slack workspace can hold people of several orgs (an agency and its clients), and bolt looks a
team's bot token up before anyone is identified, so the installation row carries no org and no
RLS: it is read by the worker login only, like processed_events, and the app role loses access.
Linking people to orgs stays per person (link codes, or verified email where an org allows it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.base
from core.config import get_settings

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICATE = "org_id = (SELECT app_current_org())"


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgres():
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON slack_installations")
        op.execute("ALTER TABLE slack_installations NO FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE slack_installations DISABLE ROW LEVEL SECURITY")
    # Rows written before this revision were bound to an org by hand; they carry a valid token.
    with op.batch_alter_table("slack_installations") as batch_op:
        batch_op.drop_index("ix_slack_installations_org_id")
        batch_op.drop_constraint("fk_slack_installations_org_id_organizations", type_="foreignkey")
        batch_op.drop_column("org_id")
        batch_op.add_column(sa.Column("app_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("bot_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("bot_scopes", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("bot_refresh_token_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "bot_token_expires_at", core.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "is_enterprise_install", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("updated_at", core.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "slack_oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_slack_oauth_states")),
    )
    op.create_index(
        op.f("ix_slack_oauth_states_expires_at"), "slack_oauth_states", ["expires_at"]
    )
    if _is_postgres():
        app_role = get_settings().database_app_role
        op.execute(f"REVOKE ALL ON slack_installations FROM {app_role}")
        op.execute(f"REVOKE ALL ON slack_oauth_states FROM {app_role}")


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_oauth_states_expires_at"), table_name="slack_oauth_states")
    op.drop_table("slack_oauth_states")
    # An installation has no org to go back to: downgrading forgets installations.
    op.execute("DELETE FROM slack_installations")
    with op.batch_alter_table("slack_installations") as batch_op:
        for column in (
            "updated_at",
            "is_enterprise_install",
            "bot_token_expires_at",
            "bot_refresh_token_encrypted",
            "bot_scopes",
            "bot_id",
            "app_id",
        ):
            batch_op.drop_column(column)
        batch_op.add_column(sa.Column("org_id", sa.Uuid(), nullable=False))
        batch_op.create_foreign_key(
            "fk_slack_installations_org_id_organizations",
            "organizations",
            ["org_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_slack_installations_org_id", ["org_id"], unique=False)
    if _is_postgres():
        app_role = get_settings().database_app_role
        op.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON slack_installations TO {app_role}"
        )
        op.execute("ALTER TABLE slack_installations ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE slack_installations FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON slack_installations "
            f"USING ({PREDICATE}) WITH CHECK ({PREDICATE})"
        )
