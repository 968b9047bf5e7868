"""alarms.raised_again_at: a taken alarm whose condition came back, to take again

A condition that ended and began again while its alarm was taken folded into that alarm and
sounded nowhere: the console sounds and escalation counts open alarms only. Such a return now
marks the alarm to be taken again (`vigie.alarms.returned`), and escalation flags it to the
supervisor if nobody does within its delay (`raised_again_escalated_at`).

Revision ID: 0042
Revises: 0041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alarms", sa.Column("raised_again_at", sa.DateTime(timezone=True)))
    op.add_column("alarms", sa.Column("raised_again_escalated_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_alarms_raised_again_at",
        "alarms",
        ["raised_again_at"],
        postgresql_where=sa.text("raised_again_at IS NOT NULL"),
        sqlite_where=sa.text("raised_again_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_alarms_raised_again_at", table_name="alarms")
    op.drop_column("alarms", "raised_again_escalated_at")
    op.drop_column("alarms", "raised_again_at")
