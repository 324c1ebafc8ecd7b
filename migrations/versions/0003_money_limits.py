"""Money limits: a rule remembers who last changed it (the requester of the cards it raises).

A rule's card counts its author as the requester, so the two-person rule cannot be stepped
round by writing (or editing) a rule and approving its cards; `created_by` alone misses an
editor who rewrote someone else's rule. Batch mode recreates the table on SQLite (which
cannot add a foreign key in place); PostgreSQL gets a plain ALTER, so RLS is untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rules") as batch:
        batch.add_column(sa.Column("updated_by", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_rules_updated_by_users", "users", ["updated_by"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("rules") as batch:
        batch.drop_constraint("fk_rules_updated_by_users", type_="foreignkey")
        batch.drop_column("updated_by")
