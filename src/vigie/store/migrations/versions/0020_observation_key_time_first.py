"""observations' unique key on PostgreSQL as (dedup_key, device): the same constraint, half the
writes (issue 13)

A device-first key puts each new reading on the leaf page of its device, so at France's size
every reading dirties a page of its own (`bench/store_churn.py`: 4.4 KB written per reading with
the checkpoint counted, 2.0 KB with this key). The gateways' keys carry the reading's time
(`seq:` + milliseconds * 8), so the key turned round appends at one end. The index is built
CONCURRENTLY, outside the migration's transaction: ingest goes on while the largest table is
indexed. `ON CONFLICT (device, dedup_key)` finds it all the same (PostgreSQL infers a unique
index from its set of columns). SQLite keeps its key: changing it rebuilds the table, whose
append-only trigger and cascading children a rebuild inside a transaction would lose, and the
embedded store is a small centre's. (Migration 0021 turns it: the table rebuilt as SQLite
documents, foreign keys off outside the migration's transaction.)

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        # An earlier attempt that failed midway leaves an invalid index of this name.
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS uq_observations_key")
        op.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY uq_observations_key "
            "ON observations (dedup_key, device)"
        )
    op.execute("ALTER TABLE observations DROP CONSTRAINT uq_observations_device")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE observations ADD CONSTRAINT uq_observations_device UNIQUE (device, dedup_key)"
    )
    op.execute("DROP INDEX uq_observations_key")
