"""Card messages: every place an approval card was shown, so a decision updates each copy.

A tenant table like the others: RLS forced, the policy reads the signed binding (0004).
The app and worker roles get their grants from 0002's default privileges.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICATE = "org_id = (SELECT app_current_org())"


def upgrade() -> None:
    op.create_table(
        "card_messages",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("shown_status", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["pending_actions.id"],
            name=op.f("fk_card_messages_action_id_pending_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_card_messages_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_messages")),
        sa.UniqueConstraint(
            "channel",
            "workspace",
            "conversation_id",
            "message_id",
            name=op.f("uq_card_messages_channel_workspace_conversation_id_message_id"),
        ),
    )
    with op.batch_alter_table("card_messages") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_messages_org_id"), ["org_id", "action_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE card_messages ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE card_messages FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON card_messages "
            f"USING ({PREDICATE}) WITH CHECK ({PREDICATE})"
        )


def downgrade() -> None:
    op.drop_table("card_messages")
