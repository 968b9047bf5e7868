"""quarantined observations: what detection will not run, and why (issue 11)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 06:30:00

Observations already stored that detection cannot run (an unknown tamper `what`, a time far
ahead of or behind its receipt) are quarantined by the pipeline's first step after this
upgrade: nothing is deleted, and the observations table stays append-only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quarantined_observations",
        sa.Column(
            "observation_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("clock_fault", sa.Boolean(), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name=op.f("fk_quarantined_observations_observation_id_observations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("observation_id", name=op.f("pk_quarantined_observations")),
    )


def downgrade() -> None:
    op.drop_table("quarantined_observations")
