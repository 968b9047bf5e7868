"""audit_log: the marks of the retention purges indexed by id, and nothing else

`vigie db purge-locations`, `/api/health` and the supervision page ask whether the last purge
started ended (`vigie.store.purges`): the newest of its marks (started, ended, failed) in the
audit log. The log holds every access of every account and the marks are rare, so finding the
newest one by reading the log from its end read everything since the last purge (the whole log
where none ever ran); a partial index holds an entry for each mark only (the other appends pay
nothing for it), and its last entry is the answer.

On PostgreSQL it is built CONCURRENTLY (`vigie.store.index_builds`): the table's writers go on
during the build.

Revision ID: 0034
Revises: 0033
"""

from collections.abc import Sequence

import sqlalchemy as sa

from vigie.store import index_builds

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKS = sa.text(
    "action IN ('purge_locations_started', 'purge_locations', 'purge_locations_failed')"
)


def upgrade() -> None:
    index_builds.create_index(
        "ix_audit_log_purge_marks",
        "audit_log",
        ["id"],
        postgresql_where=MARKS,
        sqlite_where=MARKS,
    )


def downgrade() -> None:
    index_builds.drop_index("ix_audit_log_purge_marks", "audit_log")
