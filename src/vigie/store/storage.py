"""PostgreSQL's storage parameters for the tables written most: how each is vacuumed and filled.

**Append-only tables** (`APPEND_ONLY`), whose rows never change once written. The
insert-triggered autovacuum (PostgreSQL 13 and later) comes, by default, every fifth of the
table's size and freezes nothing younger than 50 million transactions. Each page of an
append-only table is then written three times over its life: at insert, when that vacuum marks
it all-visible, and when the anti-wraparound vacuum freezes it (with a full-page image in the
WAL, since it is the page's first change after a checkpoint). Vacuumed every `INSERTS_A_VACUUM`
rows with every row frozen, a page is frozen while it is still dirty in the buffers. Measured
(`bench/store_churn.py --later`, the schema, 720,000 readings, two runs each): about as many
bytes a reading at insert (1,067 and 1,078 against 1,058 and 1,083), and 16-18 bytes a reading
left to freeze later against 424-426.
"""

from __future__ import annotations

# At 2,400 readings a second, 100,000 inserts come every 42 s and the autovacuum launcher looks
# at a database once a minute (its default naptime): a vacuum of `observations` about once a
# minute, well inside the 5-minute checkpoint interval, so most pages are frozen before their
# first write.
INSERTS_A_VACUUM = 100_000

# Storage parameters (`ALTER TABLE ... SET`) of each append-only table: migration 0026, and the
# models' `postgresql_with` for a schema made from them.
FREEZE_ON_INSERT = {
    "autovacuum_freeze_min_age": "0",
    "autovacuum_vacuum_insert_threshold": str(INSERTS_A_VACUUM),
    "autovacuum_vacuum_insert_scale_factor": "0",
}

APPEND_ONLY = ("observations", "observation_spans")

# `device_latest`: each device's row rewritten by every compaction (each minute). A page filled
# to half keeps room for the new versions beside the old, so each is a HOT update: no new entry
# in its key, no new page; the old versions are pruned in place. Filled whole (the default),
# each compaction moved every row to a new page with a new key entry, and the table grew by
# itself each minute until a vacuum (migration 0027).
REWRITTEN_EACH_MINUTE = {"fillfactor": "50"}


def setting(table: str, parameters: dict[str, str]) -> str:
    """The statement that gives `table` these storage parameters (a migration's upgrade)."""
    return f"ALTER TABLE {table} SET ({', '.join(f'{k} = {v}' for k, v in parameters.items())})"


def resetting(table: str, parameters: dict[str, str]) -> str:
    """The statement that takes them off again (a downgrade; the benches' "before")."""
    return f"ALTER TABLE {table} RESET ({', '.join(parameters)})"
