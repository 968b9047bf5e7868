"""observation spans and each device's newest readings, in place of the per-device index

`ix_observations_device_type_t` took one entry a reading in a device-ordered tree: a random
page write per reading, most of what a reading wrote (issue 13's write churn; 13 KB a reading
on SQLite with a month of history). Per-device reads now find readings by `observation_spans`
(a compaction's ids by minute of their time, device and type, keyed time first) and
`device_latest` (`vigie.store.spans`). This spans every stored reading, in batches of ids (in
the database, as a compaction does), sets the watermark past them, then drops the index
(CONCURRENTLY on PostgreSQL, as 0023).

Run with the centre stopped, as every migration (`vigie db upgrade`): the watermark is the
last id it spanned.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from vigie.store import spans
from vigie.store.models import Observation
from vigie.store.types import UTCDateTime

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_observations_device_type_t"
BATCH = 100_000


def upgrade() -> None:
    op.create_table(
        "observation_spans",
        sa.Column("minute", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("ids", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "device", "type", "first_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "device_latest",
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("t", UTCDateTime(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device", "type"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "span_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    session = Session(bind=op.get_bind())
    last = session.scalar(sa.select(sa.func.max(Observation.id))) or 0
    for mark in range(0, last, BATCH):
        spans.write(session, mark, min(last, mark + BATCH))
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        return
    op.drop_index(INDEX, table_name="observations")


def downgrade() -> None:
    op.create_index(INDEX, "observations", ["device", "type", "t"])
    op.drop_table("span_watermark")
    op.drop_table("device_latest")
    op.drop_table("observation_spans")
