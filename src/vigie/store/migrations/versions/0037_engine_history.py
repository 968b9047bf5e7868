"""engine_history: the BAR devices' recent fixes, stored as they come, out of the checkpoint

The detection checkpoint (every 5 s) held every BAR device's last two hours of fixes as JSON.
At France's size that grew with the hours to hundreds of thousands of fixes: 200 ms and more
of JSON at each checkpoint after five minutes at 2,400 obs/s, every alarm of that moment
waiting, and megabytes written each time. The checkpoint now leaves them out; each one stores
the fixes added since the last, and now and then the whole history as a new base.

A checkpoint stored before keeps its history inside and is restored as it was; the first
checkpoint after writes a base.

Revision ID: 0037
Revises: 0036
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engine_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition", sa.Integer(), server_default="0", nullable=False),
        sa.Column("base", sa.Boolean(), nullable=False),
        sa.Column("fixes", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_history")),
    )
    op.create_index(
        op.f("ix_engine_history_partition"), "engine_history", ["partition"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_engine_history_partition"), table_name="engine_history")
    op.drop_table("engine_history")
