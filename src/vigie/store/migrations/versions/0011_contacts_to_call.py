"""contacts to call: a contact's phone, the police station (name and phone) of a case

Revision ID: 0011
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
    with op.batch_alter_table("placements") as batch:
        batch.add_column(sa.Column("police_station", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("police_phone", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("placements") as batch:
        batch.drop_column("police_phone")
        batch.drop_column("police_station")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("phone")
