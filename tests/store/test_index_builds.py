"""Migrations that index a live centre's tables on PostgreSQL: the tables' writers go on while
an index builds (`vigie.store.index_builds`). A plain CREATE INDEX queues for a SHARE lock
behind the writers under way, and every later writer queues behind it: on `audit_log`, every
ingest batch's audit entry, so ingest would stop for the build."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from tests.conftest import fresh_database
from vigie.store.schema import alembic_config, upgrade

# (revision before, the revision that adds the index, its table, the index)
BUILDS = [
    ("0031", "0032", "audit_log", "ix_audit_log_device_refused"),
    ("0033", "0034", "audit_log", "ix_audit_log_purge_marks"),
    ("0034", "0035", "placements", "ix_placements_status_end_date"),
]


@pytest.fixture
def empty_pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database with no schema, to migrate step by step."""
    with fresh_database(request, "postgresql", tmp_path, migrated=False) as url:
        yield url


def waiting_build(conn: Connection) -> bool:
    """True while a CREATE INDEX waits for a lock (the writer's transaction under way)."""
    found = conn.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE 'CREATE INDEX%'"
        )
    )
    return bool(found.scalar())


@pytest.mark.parametrize(("before", "revision", "table", "index"), BUILDS)
def test_writers_go_on_while_a_migration_indexes_their_table(
    empty_pg_url: str, before: str, revision: str, table: str, index: str
) -> None:
    upgrade(empty_pg_url, before)
    engine = create_engine(empty_pg_url)
    failures: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(empty_pg_url, revision)
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    with engine.connect() as writer, engine.connect() as watcher:
        watcher.execution_options(isolation_level="AUTOCOMMIT")
        # A writer's transaction under way when the migration starts (an ingest batch).
        writer.execute(text(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE"))
        build = threading.Thread(target=migrate)
        build.start()
        deadline = time.monotonic() + 60
        while not waiting_build(watcher) and build.is_alive():
            assert time.monotonic() < deadline, "the build never waited for the writer"
            time.sleep(0.05)
        assert not failures, failures
        # A writer that comes while the build waits is not queued behind it.
        with engine.connect() as later:
            later.execute(text("SET lock_timeout = '5s'"))
            try:
                later.execute(text(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE"))
            except OperationalError as exc:
                pytest.fail(f"a writer of {table} waited for the index build: {exc.orig}")
            finally:
                later.rollback()
        writer.rollback()  # the first writer ends: the build goes on
    build.join(60)
    assert not build.is_alive()
    assert not failures, failures
    found = {i["name"] for i in inspect(engine).get_indexes(table)}
    assert index in found
    with engine.connect() as conn:
        valid = conn.execute(
            text("SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:name AS regclass)"),
            {"name": index},
        ).scalar()
    assert valid is True
    command.downgrade(alembic_config(empty_pg_url), before)  # dropped CONCURRENTLY too
    assert index not in {i["name"] for i in inspect(engine).get_indexes(table)}
    engine.dispose()
