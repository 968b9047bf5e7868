"""placements: the end of a measure (when, why, on whose decision, recorded by whom)

Until now a placement stayed `active` for good: its end date passed and its devices stayed
assigned, so the bracelet taken off at the end raised a tamper and a loss of signal, nobody
could give it to another case, and the person was still tracked with no court order behind it.
`vigie.cases.ending` sets these columns with the status `ended`.

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("ended_at", sa.DateTime(timezone=True)),
    ("end_reason", sa.String(length=20)),
    ("end_ref", sa.String(length=80)),
    ("end_note", sa.Text()),
    ("ended_by", sa.String(length=80)),
)


def upgrade() -> None:
    # Plain ADD COLUMN: on SQLite a batch copy of the table would lose its watermark triggers.
    for name, type_ in COLUMNS:
        op.add_column("placements", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("placements", name)
