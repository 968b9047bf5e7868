"""engine_state: how far each partition has seen the stream, and the gaps it met

Cluster mode: a worker resumes a partition at its cursor + 1, and JetStream, whose stream keeps
messages `VIGIE_STREAM_MAX_AGE_H`, starts at its first message when it no longer holds that far
back (a backup restored older than that, a partition unwatched that long): the readings between
were lost, and nothing said so. `stream_seen` is how far the partition is known to hold nothing
unconsumed (past its cursor while it is quiet), so that a worker can tell a gap from a quiet
partition; `stream_gaps` counts the gaps met (health, metrics).

Revision ID: 0038
Revises: 0037
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "engine_state",
        sa.Column("stream_seen", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "engine_state", sa.Column("stream_gaps", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("engine_state") as batch:  # SQLite: the table made again
        batch.drop_column("stream_gaps")
        batch.drop_column("stream_seen")
