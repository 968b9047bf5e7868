"""`vigie db restore` in cluster mode: PostgreSQL lost after a night's backup, the stream still
holding what the devices sent since. The restored database holds each partition's cursor as of
the backup; a worker started on it must take the rest back from the stream, so that nothing the
centre accepted after the backup is lost and the alarms read as if nothing had happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.cluster.conftest import WORKER_PARTITIONS, Loop, _wipe
from tests.cluster.test_exact_restart import _events, _processed, _rows, _said, _worker
from tests.cluster.test_worker import _init, _publish
from tests.conftest import fresh_database
from tests.gateway.conftest import seed
from vigie.cli import app
from vigie.cluster.local import LocalCluster
from vigie.cluster.processes import Process, stop_all
from vigie.settings import settings
from vigie.store import Database, open_database
from vigie.store.backup import backup as write_backup
from vigie.store.models import Observation

pytestmark = pytest.mark.processes


def _until(what: str, done: Callable[[], bool], workers: list[Process]) -> None:
    deadline = time.monotonic() + 60
    while not done():
        if time.monotonic() > deadline:
            for process in workers:
                print(f"--- {process.name}\n{process.log.read_text()[-3000:]}")
            raise AssertionError(what)
        time.sleep(0.1)


def _observations(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Observation)) or 0)


def test_a_restored_database_takes_back_from_the_stream_what_came_after_its_backup(
    cluster: LocalCluster,
    loop: Loop,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_PARTITIONS", str(WORKER_PARTITIONS))
    monkeypatch.setenv("VIGIE_AUDIT_KEY", "an audit key kept in the vault, never in the database")
    monkeypatch.setenv("VIGIE_AUDIT_ANCHOR_FILE", str(tmp_path / "anchors.jsonl"))
    settings.cache_clear()
    rows = _rows()
    half = len(rows) // 2
    loop.run(_wipe(cluster.urls))
    loop.run(_init(cluster.urls))
    (tmp_path / "live").mkdir()
    (tmp_path / "restored").mkdir()
    workers: list[Process] = []
    try:
        with fresh_database(request, "postgresql", tmp_path / "live") as live_url:
            live = open_database(live_url)
            try:
                seed(live)
                _publish(cluster, loop, rows[:half])
                workers.append(_worker(cluster, live_url, "worker-a", tmp_path / "live"))
                _until("the first half stepped", lambda: _processed(live) == half, workers)
                backup = write_backup(live_url, tmp_path / "nightly.backup").path
                _publish(cluster, loop, rows[half:])
                _until("the second half stepped", lambda: _processed(live) == len(rows), workers)
                lived = _events(live)
            finally:
                stop_all(workers)
                live.dispose()
        # The database is lost; a new one gets last night's backup, the stream is as it was.
        with fresh_database(request, "postgresql", tmp_path / "restored", migrated=False) as url:
            monkeypatch.setenv("VIGIE_DATABASE_URL", url)
            settings.cache_clear()
            restored = CliRunner().invoke(app, ["db", "restore", str(backup)])
            assert restored.exit_code == 0, restored.output
            copy = open_database(url)
            try:
                assert _processed(copy) == half
                assert _observations(copy) == half
                workers = [_worker(cluster, url, "worker-b", tmp_path / "restored")]
                _until("the rest taken back", lambda: _processed(copy) == len(rows), workers)
                time.sleep(1)  # anything stepped twice has time to show
                assert _processed(copy) == len(rows)
                assert _observations(copy) == len(rows)
                again = _events(copy)
            finally:
                stop_all(workers)
                copy.dispose()
    finally:
        settings.cache_clear()
    assert len(lived) >= 40
    assert len({e[-1] for e in again}) == len(again)  # none raised twice
    assert [_said(e) for e in again] == [_said(e) for e in lived]
