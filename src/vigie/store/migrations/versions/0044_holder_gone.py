"""users.console_seen_at and alarms.raised_again_why: a taken alarm whose holder has gone

A taken alarm stayed in its holder's name after he logged out, was disabled or his console
fell silent: nobody was told, and on a BAR alert nobody on duty could locate her. Such an alarm
now comes back to the queue (`vigie.alarms.holder_gone`): `raised_again_why` says why it is to
take again (NULL: its situation came back); `console_seen_at` is when the user's console last
showed it was open (its alarm stream).

Revision ID: 0044
Revises: 0043
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("console_seen_at", sa.DateTime(timezone=True)))
    op.add_column("alarms", sa.Column("raised_again_why", sa.String(20)))


def downgrade() -> None:
    op.drop_column("alarms", "raised_again_why")
    op.drop_column("users", "console_seen_at")
