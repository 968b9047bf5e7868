"""PostgreSQL's autovacuum freezes the append-only tables' rows soon after their inserts
(migration 0026): their pages are not written again weeks later by the anti-wraparound vacuum."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from tests.conftest import fresh_database
from vigie.store.vacuum import APPEND_ONLY, FREEZE_ON_INSERT, INSERTS_A_VACUUM


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, "postgresql", tmp_path) as url:
        yield url


def reloptions(conn: Connection, table: str) -> dict[str, str]:
    found = conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = :t"), {"t": table})
    return dict(option.split("=", 1) for option in found or [])


def test_the_append_only_tables_carry_the_settings_and_the_downgrade_takes_them_off(
    pg_url: str,
) -> None:
    engine = create_engine(pg_url)
    migration = importlib.import_module("vigie.store.migrations.versions.0026_freeze_on_insert")
    try:
        with engine.connect() as conn:
            for table in APPEND_ONLY:
                assert reloptions(conn, table) == FREEZE_ON_INSERT
            assert reloptions(conn, "device_latest") == {}  # rewritten every minute: not it
        with engine.begin() as conn:
            from alembic.migration import MigrationContext
            from alembic.operations import Operations

            with Operations.context(MigrationContext.configure(conn)):
                migration.downgrade()
            assert all(reloptions(conn, table) == {} for table in APPEND_ONLY)
    finally:
        engine.dispose()


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
