"""alarms.imported_from: alarms another centre raised, brought with their case by `vigie import`

They are that centre's record. Left unmarked, one still open at the source came into this
centre's queue and its escalation (tests/export/test_imported_alarms.py: all three open alarms
of an imported BAR case escalated a day later), and an operator here could take a BAR alert
of a case nobody here watches, which would show him the protected person's positions. NULL for
every alarm raised here.

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alarms", sa.Column("imported_from", sa.String(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column("alarms", "imported_from")
