"""Ad-account connect: an OAuth state is bound to the web session, and holds the grant until
the user picks accounts.

`oauth_states` is already a tenant table (RLS, 0002/0004); two nullable columns: the SHA-256 of
the web session that started the handshake, and the exchanged tokens plus the listed accounts
(Fernet-encrypted JSON) between the callback and the account pick.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_states") as batch_op:
        batch_op.add_column(sa.Column("session_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("grant_encrypted", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_states") as batch_op:
        batch_op.drop_column("grant_encrypted")
        batch_op.drop_column("session_hash")
