"""observations' unique key on SQLite as (dedup_key, device), as on PostgreSQL since 0020 (issue 13)

SQLite writes every page a commit dirtied, whole, to its WAL, and again at the checkpoint. With
the key device first, each new reading lands on its device's leaf page: a page per reading per
commit (`bench/store_churn.py`, 16,000 devices: 22.6 KB written per reading; 13.0 KB with the
key turned round, the gateways' keys carrying the reading's time). The constraint is part of the
table, so the table is rebuilt, in SQLite's documented way (https://sqlite.org/lang_altertable.html,
"other kinds of table schema changes"): foreign keys off outside any transaction, so that dropping
the old table cascades to no quarantined reading; then in one transaction a copy with the same
ids, the table's other indexes and its append-only trigger made again, and the foreign keys
checked before the commit. Every stored reading is copied, once: about 5 s a million readings
(measured on a 452 MB file), and free disk about the table's size (the copy stands beside it
until the commit; the old table's pages are then free space in the file, which new readings
fill). PostgreSQL: nothing (0020).

Revision ID: 0021
Revises: 0020
"""

import re
from collections.abc import Callable, Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEVICE_FIRST = re.compile(
    r",\s*CONSTRAINT\s+uq_observations_device\s+UNIQUE\s*\(\s*device\s*,\s*dedup_key\s*\)",
    re.IGNORECASE,
)
TIME_FIRST = "CREATE UNIQUE INDEX uq_observations_key ON observations (dedup_key, device)"


class SchemaNotAsExpected(RuntimeError):
    """The observation table is not the one this migration turns: nothing was changed."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(_without_constraint, add=[TIME_FIRST])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(_with_constraint, drop="uq_observations_key")


def _without_constraint(table_sql: str) -> str:
    turned, found = DEVICE_FIRST.subn("", table_sql)
    if found != 1:
        raise SchemaNotAsExpected("observations has no (device, dedup_key) constraint to turn")
    return turned


def _with_constraint(table_sql: str) -> str:
    body = table_sql.rstrip()
    if DEVICE_FIRST.search(body) or not body.endswith(")"):
        raise SchemaNotAsExpected("observations already has its (device, dedup_key) constraint")
    return (
        body[:-1].rstrip() + ",\n\tCONSTRAINT uq_observations_device UNIQUE (device, dedup_key)\n)"
    )


def _rebuild(turn: Callable[[str], str], add: Sequence[str] = (), drop: str | None = None) -> None:
    """Make the observation table again from its own definition as `turn` changes it, with the
    same rows and ids, the same indexes (but `drop`, and with `add`) and the same triggers."""
    with op.get_context().autocommit_block():
        conn = op.get_bind()
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction
        try:
            if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
                # Dropping the old table would then delete every quarantined reading.
                raise SchemaNotAsExpected("SQLite's foreign keys could not be turned off")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                _copy(conn, turn, add, drop)
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _copy(
    conn: Connection, turn: Callable[[str], str], add: Sequence[str], drop: str | None
) -> None:
    rows = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'observations'"
    ).all()
    table_sql = next(sql for kind, name, sql in rows if kind == "table")
    before = _orphans(conn)
    # The indexes and triggers go with the old table; the automatic index is the constraint's.
    again = [sql for kind, name, sql in rows if kind != "table" and sql and name != drop]
    new_sql, named = re.subn(
        r"^CREATE TABLE\s+\"?observations\"?", "CREATE TABLE observations_rebuilt", turn(table_sql)
    )
    if named != 1:
        raise SchemaNotAsExpected(f"unexpected observation table definition: {table_sql[:80]}")
    conn.exec_driver_sql(new_sql)
    conn.exec_driver_sql("INSERT INTO observations_rebuilt SELECT * FROM observations")
    conn.exec_driver_sql("DROP TABLE observations")
    conn.exec_driver_sql("ALTER TABLE observations_rebuilt RENAME TO observations")
    for sql in [*again, *add]:
        conn.exec_driver_sql(sql)
    broken = _orphans(conn) - before
    if broken:
        raise SchemaNotAsExpected(f"foreign keys broken by the rebuild: {sorted(broken)[:5]}")


def _orphans(conn: Connection) -> set[tuple[object, ...]]:
    """Rows of the tables referring to observations whose reading is missing (a file may hold
    some from before: only those the rebuild would add stop it)."""
    children = conn.exec_driver_sql(
        "SELECT DISTINCT m.name FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f"
        " WHERE m.type = 'table' AND f.\"table\" = 'observations'"
    ).scalars()
    return {
        tuple(row)
        for child in list(children)
        for row in conn.exec_driver_sql(f'PRAGMA foreign_key_check("{child}")')
    }
