"""unwatched_placements: active placements whose current revision detection refused

A placement detection cannot apply (a home detention's home unit not assigned yet, a BAR measure
with neither her device nor a protected place) was watched by nothing, and said so only in the
server's log and the audit. The pipeline now keeps each such placement here, from the time of
the revision it refused, and raises an `unmonitored` alarm once it stays so past a grace
(`vigie.alarms.unmonitored`).

Revision ID: 0039
Revises: 0038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unwatched_placements",
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=40), nullable=False),
        sa.Column("partition", sa.Integer(), server_default="0", nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("raised", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_unwatched_placements_placement_id_placements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("placement_id", name=op.f("pk_unwatched_placements")),
        sa.UniqueConstraint("case_ref", name=op.f("uq_unwatched_placements_case_ref")),
    )
    op.create_index(
        op.f("ix_unwatched_placements_partition"), "unwatched_placements", ["partition"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_unwatched_placements_partition"), table_name="unwatched_placements")
    op.drop_table("unwatched_placements")
