"""alarms.held_by: who holds an alarm now, apart from who took it first; alarm_actions.to_user_id

`acknowledged_by` was both: a take again (`vigie.alarms.returned`) moved it to whoever answered,
and the incident report then said that operator had taken the alarm at the first take's time.
It is the first take again; `held_by` is the holder (her position on a BAR alarm, the queue's
holder), moved by a take again or a hand-over (`vigie.alarms.handing`), whose new holder is the
action's `to_user_id`. An alarm taken again before this revision gets its first taker back from
the audit log's first "acknowledge" of it.

Revision ID: 0043
Revises: 0042
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("alarms", "held_by"), ("alarm_actions", "to_user_id"))


def upgrade() -> None:
    # SQLite alters no constraint: the reference is given inline, as its ADD COLUMN allows.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in COLUMNS:
        name = f"fk_{table}_{column}_users"
        if sqlite:
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
                f"CONSTRAINT {name} REFERENCES users (id)"
            )
        else:
            op.add_column(table, sa.Column(column, sa.Integer()))
            op.create_foreign_key(name, table, "users", [column], ["id"])
    op.execute("UPDATE alarms SET held_by = acknowledged_by WHERE acknowledged_by IS NOT NULL")
    first_taker = (
        "SELECT users.id FROM audit_log JOIN users ON users.username = audit_log.actor "
        "WHERE audit_log.action = 'acknowledge' AND audit_log.target = 'alarm:' || alarms.id "
        "ORDER BY audit_log.id LIMIT 1"
    )
    op.execute(
        f"UPDATE alarms SET acknowledged_by = ({first_taker}) "
        "WHERE EXISTS (SELECT 1 FROM alarm_actions WHERE alarm_actions.alarm_id = alarms.id "
        f"AND alarm_actions.action = 'acknowledge_again') AND EXISTS ({first_taker})"
    )


def downgrade() -> None:
    op.execute("UPDATE alarms SET acknowledged_by = held_by WHERE held_by IS NOT NULL")
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
