"""placements: indexed by status and end date, holding what the supervision page reads of them

The supervision page reads every active placement twice (its devices' open assignments, and
those watched past their end date), and a centre keeps its ended placements for years: at
France's size 16,000 active among 125,000, each row carrying its legal decision (about 3 KB).
Without an index PostgreSQL read the whole table for each (31,000 pages, 70-85 ms of the page,
`bench/supervision.py`); this one gives the active placements, and with the columns those reads
take (PostgreSQL's INCLUDE), from the index alone once the table is vacuumed. SQLite ignores the
INCLUDE and keeps its plan (a seek by id per open assignment).

On PostgreSQL it is built CONCURRENTLY (`vigie.store.index_builds`): the table's writers go on
during the build.

Revision ID: 0035
Revises: 0034
"""

from collections.abc import Sequence

from vigie.store import index_builds

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    index_builds.create_index(
        "ix_placements_status_end_date",
        "placements",
        ["status", "end_date"],
        postgresql_include=["id", "case_ref", "measure"],
    )


def downgrade() -> None:
    index_builds.drop_index("ix_placements_status_end_date", "placements")
