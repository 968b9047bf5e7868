"""device commands: the stored outbound queue per device, with replies

Revision ID: 0008
Revises: 0005 (the head of this branch; the lead re-chains)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column(
            "args",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("protocol", sa.String(length=20), nullable=True),
        sa.Column("sent_text", sa.Text(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_device_commands_alarm_id_alarms")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_commands_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_commands")),
    )
    op.create_index(
        "ix_device_commands_state_device", "device_commands", ["state", "device_id"], unique=False
    )
    op.create_index(
        op.f("ix_device_commands_alarm_id"), "device_commands", ["alarm_id"], unique=False
    )
    op.create_index(
        op.f("ix_device_commands_device_id"), "device_commands", ["device_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_commands_device_id"), table_name="device_commands")
    op.drop_index(op.f("ix_device_commands_alarm_id"), table_name="device_commands")
    op.drop_index("ix_device_commands_state_device", table_name="device_commands")
    op.drop_table("device_commands")
