"""PostgreSQL: `device_latest` filled to half, so that a compaction's rewrite of a row stays
in its page (a HOT update: no new key entry, no new page)

Every compaction rewrites each device's row. With full pages each new version went to another
page with a new entry in the key, and the table and its key grew by their own size each minute
until a vacuum (`vigie.store.storage`). Pages written from now on are filled to half; the full
ones empty as their rows move. SQLite keeps the table WITHOUT ROWID in its key: nothing to do.

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

from alembic import op

from vigie.store.storage import REWRITTEN_EACH_MINUTE, resetting, setting

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(setting("device_latest", REWRITTEN_EACH_MINUTE))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(resetting("device_latest", REWRITTEN_EACH_MINUTE))
