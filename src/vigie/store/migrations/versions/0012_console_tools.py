"""console tools: alert suspensions for a known absence; the shift handover log and its reads

Revision ID: 0012
Revises: 0007 (the head of this branch; the lead re-chains)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_alert_suspensions_placement_id_placements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_suspensions")),
    )
    op.create_index(
        op.f("ix_alert_suspensions_case_ref"), "alert_suspensions", ["case_ref"], unique=False
    )
    op.create_index(
        op.f("ix_alert_suspensions_placement_id"),
        "alert_suspensions",
        ["placement_id"],
        unique=False,
    )
    op.create_table(
        "handover_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_handover_notes_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_notes")),
    )
    op.create_index(
        op.f("ix_handover_notes_author_id"), "handover_notes", ["author_id"], unique=False
    )
    op.create_index(
        op.f("ix_handover_notes_created_at"), "handover_notes", ["created_at"], unique=False
    )
    op.create_table(
        "handover_reads",
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["handover_notes.id"],
            name=op.f("fk_handover_reads_note_id_handover_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_handover_reads_user_id_users")
        ),
        sa.PrimaryKeyConstraint("note_id", "user_id", name=op.f("pk_handover_reads")),
    )


def downgrade() -> None:
    op.drop_table("handover_reads")
    op.drop_index(op.f("ix_handover_notes_created_at"), table_name="handover_notes")
    op.drop_index(op.f("ix_handover_notes_author_id"), table_name="handover_notes")
    op.drop_table("handover_notes")
    op.drop_index(op.f("ix_alert_suspensions_placement_id"), table_name="alert_suspensions")
    op.drop_index(op.f("ix_alert_suspensions_case_ref"), table_name="alert_suspensions")
    op.drop_table("alert_suspensions")
