"""observations' per-device index as (device, type, t), where it was (device, id)

Every per-device read asks for a device's readings of a type by time: its track, its newest fix,
its newest battery report, when it last spoke. On `(device, id)` each of those read the device's
whole history (a month of fixes every 30 s is 86,000 rows a device), and the console's wearers
and supervision pages did it for every active device: at France's size, minutes a page. On
`(device, type, t)` each is a seek and the rows it returns. Still one entry a reading, but wider
(the time, as text on SQLite): more pages written per reading, measured in the README (issue
13's write churn). The export, which read a device's rows in stored order by id, now collects
their ids from this index and reads the rows by primary key.

On PostgreSQL the index is built CONCURRENTLY, outside the migration's transaction, as 0020's:
ingest goes on while the largest table is indexed.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = "ix_observations_device_type_t"
OLD = "ix_observations_device_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            # An earlier attempt that failed midway leaves an invalid index of this name.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NEW}")
            op.execute(f"CREATE INDEX CONCURRENTLY {NEW} ON observations (device, type, t)")
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD}")
        return
    op.create_index(NEW, "observations", ["device", "type", "t"])
    op.drop_index(OLD, table_name="observations")


def downgrade() -> None:
    op.create_index(OLD, "observations", ["device", "id"])
    op.drop_index(NEW, table_name="observations")
