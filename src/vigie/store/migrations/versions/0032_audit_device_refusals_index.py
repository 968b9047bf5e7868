"""audit_log: the gateway's refusals of devices indexed by time, and nothing else

The supervision page lists the devices the gateway refused lately (a spoof of a protected
person's phone, a withdrawn bracelet speaking again). The audit log holds every access of every
account, so finding those few entries by scanning it grew with the centre's use; a partial
index holds an entry for each refusal only (the other appends pay nothing for it).

On PostgreSQL it is built CONCURRENTLY (`vigie.store.index_builds`): the table's writers go on
during the build.

Revision ID: 0032
Revises: 0031
"""

from collections.abc import Sequence

import sqlalchemy as sa

from vigie.store import index_builds

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = sa.text("action = 'device_refused'")


def upgrade() -> None:
    index_builds.create_index(
        "ix_audit_log_device_refused",
        "audit_log",
        ["at"],
        postgresql_where=REFUSED,
        sqlite_where=REFUSED,
    )


def downgrade() -> None:
    index_builds.drop_index("ix_audit_log_device_refused", "audit_log")
