"""devices: a counter of changes to the MQTT logins, set by trigger, so a gateway reads one row
a second instead of every device's secret

The gateway keeps its MQTT broker's password file to the store's devices (a withdrawn device's
session closed within a second, `vigie.gateway.broker_logins`). It read every device's hash
once a second to see whether anything changed: 18-40 ms a second at 10,000 devices on SQLite,
for a change that comes a few times a day. Every insert and delete of a device, and every
change of its id or secret, now adds one to `logins_changed`; the gateway reads that row, and
the logins only when it moved (and once a minute all the same).

On PostgreSQL the counter's row stays locked until the change commits, so a reader that sees
the new value sees the change with it.

Revision ID: 0036
Revises: 0035
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE logins_changed SET value = value + 1 WHERE id = 1"
EVENTS = (("insert", "INSERT"), ("delete", "DELETE"), ("update", "UPDATE OF id, secret_hash"))
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER devices_logins_{event} AFTER {clause} ON devices BEGIN {BUMP}; END"
    for event, clause in EVENTS
]
POSTGRES_STATEMENTS = [
    "CREATE FUNCTION vigie_logins_changed() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN {BUMP}; RETURN NULL; END $$",
    "CREATE TRIGGER devices_logins AFTER INSERT OR DELETE OR UPDATE OF id, secret_hash "
    "ON devices FOR EACH STATEMENT EXECUTE FUNCTION vigie_logins_changed()",
]


def upgrade() -> None:
    op.create_table(
        "logins_changed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logins_changed")),
    )
    op.execute("INSERT INTO logins_changed (id, value) VALUES (1, 0)")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRES_STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event, _ in EVENTS:
            op.execute(f"DROP TRIGGER devices_logins_{event}")
    else:
        op.execute("DROP TRIGGER devices_logins ON devices")
        op.execute("DROP FUNCTION vigie_logins_changed()")
    op.drop_table("logins_changed")
