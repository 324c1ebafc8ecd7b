"""WhatsApp: when each chat account last wrote (the 24-hour window), and outbound delivery status.

`channel_identities.last_inbound_at` is when the person last wrote on that channel: WhatsApp
takes free-form messages only within 24 hours of it. `outbound_messages` keeps each sent
message's platform id and how far it got (status callbacks), so a failed delivery is visible
to the notification outbox. A tenant table like the others: RLS forced, the policy reads the
signed binding (0004); the app and worker roles get their grants from 0002's default privileges.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICATE = "org_id = (SELECT app_current_org())"


def upgrade() -> None:
    with op.batch_alter_table("channel_identities") as batch_op:
        batch_op.add_column(
            sa.Column("last_inbound_at", core.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "outbound_messages",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.String(length=200), nullable=True),
        sa.Column("updated_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_outbound_messages_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
        sa.UniqueConstraint(
            "channel", "message_id", name=op.f("uq_outbound_messages_channel_message_id")
        ),
    )
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbound_messages_org_id"), ["org_id", "status"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbound_messages ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE outbound_messages FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON outbound_messages "
            f"USING ({PREDICATE}) WITH CHECK ({PREDICATE})"
        )


def downgrade() -> None:
    op.drop_table("outbound_messages")
    with op.batch_alter_table("channel_identities") as batch_op:
        batch_op.drop_column("last_inbound_at")
