"""alarms.ongoing_when_closed: an alarm closed while its condition went on

An operator could close an alarm whose condition went on (the wearer still in the exclusion
zone, still within the alert distance of her): detection raises a condition once, when it
begins, so nothing more came while it lasted. Such an alarm is now marked at its close and
raised again if detection has not seen the condition end by its delay (`vigie.alarms.ongoing`).
Alarms closed before this revision are not marked: their conditions' ends went untold.

Revision ID: 0041
Revises: 0040
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alarms",
        sa.Column("ongoing_when_closed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        "ix_alarms_ongoing_when_closed",
        "alarms",
        ["closed_at"],
        postgresql_where=sa.text("ongoing_when_closed"),
        sqlite_where=sa.text("ongoing_when_closed"),
    )


def downgrade() -> None:
    op.drop_index("ix_alarms_ongoing_when_closed", table_name="alarms")
    op.drop_column("alarms", "ongoing_when_closed")
