"""Stripe billing: the event ids already taken, and each org's newest applied event time.

`stripe_events` is the webhook's insert-first claim on an event id: a redelivered event finds its
id taken and changes nothing. A webhook is verified and claimed before any org is known, so the
table carries no org and no RLS; the worker login reads and writes it (like processed_events and
slack_installations) and the app role keeps no grant. `organizations.stripe_event_at` holds the
`created` time of the newest Stripe event applied to the org, so an older event that Stripe
delivers late is recognised and changes nothing (organizations already has RLS).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.base
from core.config import get_settings

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("created", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", core.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_stripe_events")),
    )
    op.create_index(op.f("ix_stripe_events_received_at"), "stripe_events", ["received_at"])
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(
            sa.Column("stripe_event_at", core.base.UTCDateTime(timezone=True), nullable=True)
        )
    if _is_postgres():
        # The default privileges of 0002 granted the app role DML on the new table.
        op.execute(f"REVOKE ALL ON stripe_events FROM {get_settings().database_app_role}")


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("stripe_event_at")
    op.drop_index(op.f("ix_stripe_events_received_at"), table_name="stripe_events")
    op.drop_table("stripe_events")
