"""devices: taken out of service (when, why, by whom)

A bracelet broken, lost, stolen, sent back to its maker or in repair stayed registered as if in
service: a case could take it, a secret could be issued to it, and the gateway accepted what it
sent. `vigie.cases.withdrawal` sets these columns; clearing them puts the device back.

Revision ID: 0031
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("withdrawn_at", sa.DateTime(timezone=True)),
    ("withdrawn_reason", sa.String(length=20)),
    ("withdrawn_note", sa.Text()),
    ("withdrawn_by", sa.String(length=80)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("devices", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("devices", name)
