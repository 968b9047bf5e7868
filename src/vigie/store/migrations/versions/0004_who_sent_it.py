"""who sent it: observation source and sequence conflicts, device gateway secrets

Revision ID: 0004
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("observations", sa.Column("source", sa.String(length=80), nullable=True))
    op.add_column("observations", sa.Column("conflict_of", sa.BigInteger(), nullable=True))
    op.add_column("devices", sa.Column("secret_hash", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose its triggers.
    op.drop_column("devices", "secret_hash")
    op.drop_column("observations", "conflict_of")
    op.drop_column("observations", "source")
