"""reports: a measure's summary as well as an alarm's incident report; the summaries owed

When a measure ends, its summary goes to the case's judge, prosecutor and SPIP through the
outbox, as incident reports do. A report is now of an alarm or of a placement (one each), and
`summaries_owed` holds the measures ended here whose summary is not yet queued
(`vigie.alarms.summaries_owed`). Measures ended before this migration owe none.

Revision ID: 0033
Revises: 0032
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_THING = "(alarm_id IS NULL) <> (placement_id IS NULL)"


def upgrade() -> None:
    # On SQLite a copy of the table (env.py turns foreign keys off for it, and checks them after).
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("alarm_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("placement_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_reports_placement_id_placements"), "placements", ["placement_id"], ["id"]
        )
        batch.create_unique_constraint(op.f("uq_reports_placement_id"), ["placement_id"])
        batch.create_check_constraint(op.f("ck_reports_of_one_thing"), ONE_THING)
    op.create_table(
        "summaries_owed",
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_summaries_owed_placement_id_placements"),
        ),
        sa.PrimaryKeyConstraint("placement_id", name=op.f("pk_summaries_owed")),
    )


def downgrade() -> None:
    # The summaries sent and owed go with it (a report of a placement has no place before it);
    # the incident reports and their deliveries stay.
    op.drop_table("summaries_owed")
    op.execute(
        "DELETE FROM outbox WHERE report_id IN (SELECT id FROM reports WHERE alarm_id IS NULL)"
    )
    op.execute("DELETE FROM reports WHERE alarm_id IS NULL")
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint(op.f("ck_reports_of_one_thing"), type_="check")
        batch.drop_constraint(op.f("uq_reports_placement_id"), type_="unique")
        batch.drop_constraint(op.f("fk_reports_placement_id_placements"), type_="foreignkey")
        batch.drop_column("placement_id")
        batch.alter_column("alarm_id", existing_type=sa.Integer(), nullable=False)
