"""console_presence: each open console by the token it runs on

An operator who logged out of one console, another of his still open (a second screen), had
his held alarms released at once: on a BAR alert, the protected person's position went from
the screen he was working it on. Presence was kept per account (`users.console_seen_at`); it
is now also kept per console, so that a logout releases only when no other console of the
account is open (`vigie.alarms.holder_gone`).

Revision ID: 0045
Revises: 0044
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vigie.store.types import UTCDateTime

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_presence",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_key", sa.String(length=32), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_console_presence_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_console_presence")),
    )
    op.create_index(op.f("ix_console_presence_user_id"), "console_presence", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_console_presence_user_id"), table_name="console_presence")
    op.drop_table("console_presence")
