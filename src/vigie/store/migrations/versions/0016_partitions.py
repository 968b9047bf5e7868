"""partitions: detection cut by case into fenced partitions (design/scale-ha.md §2.4, §2.6)

engine_state gains partition (unique; the embedded row is partition 0), term and processed;
alarms, placements, engine_steps and engine_placements gain partition; engine_steps the ids of
the observations a step ran when its cursor is a stream sequence; alarm_events an event key,
unique per case. Two partial unique indexes make invariants the code kept alone into
constraints, for several processes: one open episode per (case, kind, device), one active
assignment per device. Stored rows breaking them (none can, unless by a bug) are named and the
upgrade stops, rather than closing an alarm or an assignment behind the operators' back.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

OPEN_DUPLICATES = (
    "SELECT case_ref, kind, device, count(*) FROM alarms WHERE status <> 'closed' "
    "GROUP BY case_ref, kind, device HAVING count(*) > 1"
)
ACTIVE_DUPLICATES = (
    "SELECT device_id, count(*) FROM device_assignments WHERE until IS NULL "
    "GROUP BY device_id HAVING count(*) > 1"
)


def _refuse_duplicates() -> None:
    bind = op.get_bind()
    episodes = bind.execute(sa.text(OPEN_DUPLICATES)).all()
    assignments = bind.execute(sa.text(ACTIVE_DUPLICATES)).all()
    problems = [
        f"{n} open alarms of case {case} kind {kind} device {device}"
        for case, kind, device, n in episodes
    ] + [f"{n} active assignments of device {device}" for device, n in assignments]
    if problems:
        raise RuntimeError(
            "migration 0016 cannot make these unique; close the extra alarms or end the extra "
            "assignments, then upgrade again: " + "; ".join(problems)
        )


def _partition(table: str, *, unique: bool = False) -> None:
    op.add_column(table, sa.Column("partition", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(f"ix_{table}_partition", table, ["partition"], unique=unique)


def upgrade() -> None:
    _refuse_duplicates()
    _partition("engine_state", unique=True)  # the embedded row (id 1) is partition 0
    op.add_column(
        "engine_state", sa.Column("term", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column(
        "engine_state",
        sa.Column("processed", sa.BigInteger(), nullable=False, server_default="0"),
    )
    for table in ("alarms", "placements", "engine_steps", "engine_placements"):
        _partition(table)
    op.add_column("engine_steps", sa.Column("rows", _JSON, nullable=True))
    op.add_column("alarm_events", sa.Column("event_key", sa.String(length=32), nullable=True))
    op.create_index(
        "uq_alarm_events_case_ref_event_key",
        "alarm_events",
        ["case_ref", "event_key"],
        unique=True,
    )
    op.create_index(
        "uq_alarms_open_episode",
        "alarms",
        ["case_ref", "kind", "device"],
        unique=True,
        postgresql_where=sa.text("status <> 'closed'"),
        sqlite_where=sa.text("status <> 'closed'"),
    )
    op.create_index(
        "uq_device_assignments_active",
        "device_assignments",
        ["device_id"],
        unique=True,
        postgresql_where=sa.text("until IS NULL"),
        sqlite_where=sa.text("until IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_device_assignments_active", table_name="device_assignments")
    op.drop_index("uq_alarms_open_episode", table_name="alarms")
    op.drop_index("uq_alarm_events_case_ref_event_key", table_name="alarm_events")
    op.drop_column("alarm_events", "event_key")
    op.drop_column("engine_steps", "rows")
    for table in ("engine_placements", "engine_steps", "placements", "alarms", "engine_state"):
        op.drop_index(f"ix_{table}_partition", table_name=table)
        op.drop_column(table, "partition")
    op.drop_column("engine_state", "processed")
    op.drop_column("engine_state", "term")
