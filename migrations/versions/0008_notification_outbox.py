"""Notification outbox: what kind each row is, its lease, its de-duplication key, its sent id.

A delivery worker claims a row with one conditional UPDATE (pending -> sending) that stamps a
fresh `lease_token` and `lease_until`; only the holder of the token may mark it sent, so a row
re-claimed after its lease ran out is never marked (or sent again) by the first holder.
`held` marks alerts kept back by quiet hours: they go out as one digest afterwards.
`secret` is a destination's credential (a Slack incoming-webhook URL), encrypted at rest.
The tables already have RLS (0002, 0004); only columns and an index are added.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="alerts")
        )
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_token", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", core.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("message_id", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_dedupe"),
            ["org_id", "destination_id", "dedupe_key", "sent_at"],
            unique=False,
        )
    with op.batch_alter_table("destinations") as batch_op:
        batch_op.add_column(sa.Column("secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("destinations") as batch_op:
        batch_op.drop_column("secret")
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_dedupe"))
        for column in ("held", "message_id", "lease_until", "lease_token", "dedupe_key", "kind"):
            batch_op.drop_column(column)
