"""devices.uncertain_since indexed: every detection step reads which devices are marked

Revision ID: 0018
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_devices_uncertain_since"), "devices", ["uncertain_since"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_devices_uncertain_since"), table_name="devices")
