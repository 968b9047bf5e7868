"""PostgreSQL's storage parameters: the append-only tables' rows frozen by the vacuum after their
inserts (migration 0026), not written again weeks later by the anti-wraparound vacuum; and
`device_latest` rewritten in place by every compaction (0027)."""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime, timedelta

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection, create_engine, text

from tests.store.test_device_reads import devices, fix
from vigie.store import observations as log
from vigie.store import open_database, spans
from vigie.store.storage import (
    APPEND_ONLY,
    FREEZE_ON_INSERT,
    INSERTS_A_VACUUM,
    REWRITTEN_EACH_MINUTE,
)


def reloptions(conn: Connection, table: str) -> dict[str, str]:
    found = conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = :t"), {"t": table})
    return dict(option.split("=", 1) for option in found or [])


def test_the_tables_carry_their_settings_and_the_downgrades_take_them_off(pg_url: str) -> None:
    engine = create_engine(pg_url)
    versions = "vigie.store.migrations.versions"
    try:
        with engine.connect() as conn:
            for table in APPEND_ONLY:
                assert reloptions(conn, table) == FREEZE_ON_INSERT
            assert reloptions(conn, "device_latest") == REWRITTEN_EACH_MINUTE
        with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            importlib.import_module(f"{versions}.0027_device_latest_fillfactor").downgrade()
            importlib.import_module(f"{versions}.0026_freeze_on_insert").downgrade()
            assert all(reloptions(conn, table) == {} for table in (*APPEND_ONLY, "device_latest"))
    finally:
        engine.dispose()


def test_compactions_rewrite_each_device_s_newest_in_place(pg_url: str) -> None:
    """Filled whole, each compaction's rewrite moved every row to a new page with a new key
    entry: the table grew by its size each time, until a vacuum."""
    db = open_database(pg_url)
    names = [f"H{n:04d}" for n in range(3_000)]
    start = datetime(2026, 5, 1, tzinfo=UTC)

    def sizes() -> tuple[int, int]:
        with db.reading() as session:
            found = session.execute(
                text(
                    "SELECT pg_relation_size('device_latest'), pg_relation_size('pk_device_latest')"
                )
            ).one()
        return int(found[0]), int(found[1])

    try:
        with db.session() as session:
            devices(session, names)
        made = []
        for minute in range(4):
            with db.session() as session:
                at = start + timedelta(minutes=minute)
                log.append(session, [fix(name, at, 48.0 + minute / 100) for name in names])
            spans.compact_all(db)
            made.append(sizes())
        # Three rewrites of every row, in their pages (pruned of the versions before): measured,
        # 45 pages then 47; filled whole, 23, 45, 67 and 89, the key 14 then 25.
        (table, key), (table_after, key_after) = made[0], made[-1]
        assert table_after <= table * 1.1 and key_after <= key * 1.1, made
        with db.reading() as session:
            newest = session.execute(text("SELECT min(t), count(*) FROM device_latest")).one()
        assert newest == (start + timedelta(minutes=3), len(names))
    finally:
        db.dispose()


def test_autovacuum_freezes_readings_stored_a_moment_before(pg_url: str) -> None:
    """With the server's defaults, this vacuum would leave the rows unfrozen (they are far
    younger than 50 million transactions) and the table's oldest unfrozen id at their insert."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    writer = create_engine(pg_url)
    try:
        with admin.connect() as conn:
            conn.execute(text("ALTER SYSTEM SET autovacuum_naptime = '1s'"))
            conn.execute(text("SELECT pg_reload_conf()"))
            with writer.begin() as insert:
                inserted = int(insert.scalar(text("SELECT pg_current_xact_id()::text::bigint")))
                insert.execute(
                    text(
                        "INSERT INTO observations (device, seq, dedup_key, t, received_at, type,"
                        " payload, source) SELECT 'T1', g, 'seq:' || g, now(), now(), 'battery',"
                        " '{}', 'test' FROM generate_series(1, :n) AS g"
                    ),
                    {"n": INSERTS_A_VACUUM + 500},
                )
            count = text(
                "SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'observations'"
            )
            deadline = time.monotonic() + 60
            while conn.scalar(count) == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
                conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            assert conn.scalar(count) >= 1, "no autovacuum of observations within 60 s"
            frozen_past = int(
                conn.scalar(
                    text(
                        "SELECT relfrozenxid::text::bigint FROM pg_class"
                        " WHERE relname = 'observations'"
                    )
                )
            )
            assert frozen_past > inserted  # every row of that transaction is frozen
    finally:
        with admin.connect() as conn:
            conn.execute(text("ALTER SYSTEM RESET autovacuum_naptime"))
            conn.execute(text("SELECT pg_reload_conf()"))
        admin.dispose()
        writer.dispose()
