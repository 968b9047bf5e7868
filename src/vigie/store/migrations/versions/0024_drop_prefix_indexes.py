"""drop the two indexes that only repeat the leading column of a unique key of their table

`alarm_events (case_ref)` is the first column of `uq_alarm_events_case_ref_event_key`, and
`zones (placement_id)` of `uq_zones_placement_id`: both databases seek a unique key by its first
column as they would the single-column index, so those were written by every alarm event and
zone and read by nothing the unique keys do not serve (a page per alarm commit on SQLite:
issue 13's write churn).

On PostgreSQL they are dropped CONCURRENTLY, outside the migration's transaction, as 0023.

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {
    "alarm_events": ("ix_alarm_events_case_ref", "case_ref"),
    "zones": ("ix_zones_placement_id", "placement_id"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for index, _ in DROPPED.values():
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
        return
    for table, (index, _) in DROPPED.items():
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for table, (index, column) in DROPPED.items():
        op.create_index(index, table, [column])
