"""PostgreSQL: the append-only observation tables frozen by the vacuum that follows their inserts

Rows of `observations` and `observation_spans` never change once written. With the server's
defaults, the insert-triggered autovacuum only marks their pages all-visible; every page is then
written again, with its full image in the WAL, by the anti-wraparound vacuum that freezes it
weeks later (every 200 million transactions), long after it left the buffers. Frozen by a vacuum
every 100,000 inserts, while its pages are still dirty in memory, a reading costs about the
same now and 16-18 bytes later instead of 424-426 (`bench/store_churn.py --later`;
`vigie.store.storage`). SQLite has no vacuum of this kind: nothing to do there.

On a centre with history, the first such vacuum after the upgrade freezes every stored row not
yet frozen: the anti-wraparound vacuum's work, done once now, throttled as autovacuum is.
`docs/production-postgresql.md` says how to choose its hour.

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

from alembic import op

from vigie.store.storage import APPEND_ONLY, FREEZE_ON_INSERT, resetting, setting

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(setting(table, FREEZE_ON_INSERT))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(resetting(table, FREEZE_ON_INSERT))
