"""observations.imported_from: readings another centre received, brought by `vigie import`

Detection runs only what this centre received: an imported case's past, whose bracelet may be
worn by a live case here now, is history; run against that case's zones it raised alarms for
a past track (hours old in tests/export/test_import_beside_live.py, months in a transfer). The
column is NULL for every reading received here: a bit of the row's null map on PostgreSQL (no
bytes), a byte of the record's header on SQLite.

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("observations", sa.Column("imported_from", sa.String(length=80), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose its triggers.
    op.drop_column("observations", "imported_from")
