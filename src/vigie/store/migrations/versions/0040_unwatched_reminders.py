"""unwatched_placements: when its alarm was last raised, so that it is raised again

An `unmonitored` alarm an operator closed while the case stayed incomplete was not raised again
until the case changed: a measure could then go unwatched for days with nothing in the queue.
The pipeline now raises it again `VIGIE_UNMONITORED_REMIND_S` after its last raise while the case
stays so (`vigie.alarms.unmonitored`); `raised_at` replaces the flag `raised` (null: not raised
yet). A row raised before this revision counts from its `since`.

Revision ID: 0040
Revises: 0039
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "unwatched_placements", sa.Column("raised_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE unwatched_placements SET raised_at = since WHERE raised")
    op.drop_column("unwatched_placements", "raised")


def downgrade() -> None:
    op.add_column(
        "unwatched_placements",
        sa.Column("raised", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute("UPDATE unwatched_placements SET raised = (raised_at IS NOT NULL)")
    op.drop_column("unwatched_placements", "raised_at")
