"""Daily summaries: each org remembers the local date of its last summary.

A column on organizations (already a tenant table with RLS), not a table: the summary job
claims an org's day with one conditional UPDATE, which row-locks the org, so two workers
racing for the same day serialise there and only one sees its update succeed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(sa.Column("last_summary_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("last_summary_on")
