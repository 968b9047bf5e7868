"""drop observations' (type, t) index: no read uses it, and every reading wrote an entry to it

Since 0022 every per-device read seeks `(device, type, t)`; no query of the centre names a type
and a time without a device (the retention purge filters time and coordinates, and scans), so
`(type, t)` was written by every reading and read by none (issue 13's write churn).

On PostgreSQL it is dropped CONCURRENTLY, outside the migration's transaction, as 0022 built
its index: ingest goes on meanwhile.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_observations_type_t"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        return
    op.drop_index(INDEX, table_name="observations")


def downgrade() -> None:
    op.create_index(INDEX, "observations", ["type", "t"])
