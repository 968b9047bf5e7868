"""P7 of the design (scale-ha.md §5.3): exact restart. A partition's stream pre-filled, stepped
in deterministic batches (`VIGIE_STEP_BATCH`) by a worker killed with -9 halfway and taken over
by another, gives byte for byte the alarm events of an uninterrupted run: a takeover restores
the committed engine and resumes at the committed cursor, so nothing is re-derived
differently, lost or raised twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.cluster.conftest import WORKER_PARTITIONS, Loop, _wipe
from tests.cluster.test_worker import LEASE_S, _fix, _init, _publish
from tests.conftest import fresh_database
from tests.gateway.conftest import ZONE, seed
from vigie.cluster.local import LocalCluster
from vigie.cluster.processes import Process, spawn, stop_all, vigie_command
from vigie.store import Database, open_database
from vigie.store.models import AlarmEventRow, EngineState

pytestmark = pytest.mark.processes
BATCH = 5
OUTSIDE = (ZONE[0] + 0.01, ZONE[1])  # 1.1 km north of the zone: a walk, not a jump


def _rows() -> list[dict[str, Any]]:
    """C1's wearer going in and out of its zone, one fix a minute for 4 hours ago to now:
    an entry and an exit every 10 fixes."""
    count = 240
    return [_fix(count - i, ZONE if (i // 5) % 2 else OUTSIDE, i + 1) for i in range(count)]


def _worker(cluster: LocalCluster, url: str, name: str, folder: Path) -> Process:
    env = os.environ | {
        "VIGIE_MODE": "cluster",
        "VIGIE_DATABASE_URL": url,
        "VIGIE_NATS_URLS": cluster.urls_setting,
        "VIGIE_PARTITIONS": str(WORKER_PARTITIONS),
        "VIGIE_LEASE_S": str(LEASE_S),
        "VIGIE_RENEW_S": "1",
        "VIGIE_STEP_BATCH": str(BATCH),
        "VIGIE_ESCALATION_AFTER_S": "3600",
    }
    argv = vigie_command("cluster", "worker", "--name", name)
    return spawn("worker", name, argv, env, folder)


def _processed(db: Database) -> int:
    with db.reading() as session:
        return sum(session.scalars(select(EngineState.processed)))


def _events(db: Database) -> list[tuple[Any, ...]]:
    with db.reading() as session:
        rows = session.scalars(select(AlarmEventRow).order_by(AlarmEventRow.id))
        return [(e.case_ref, e.kind, e.state, e.t, e.device, e.detail, e.event_key) for e in rows]


def _run(
    cluster: LocalCluster,
    loop: Loop,
    url: str,
    folder: Path,
    rows: list[dict[str, Any]],
    kill: bool,
) -> list[tuple[Any, ...]]:
    """Pre-fill a fresh stream with `rows`, then step them all: by one worker, or by one
    killed with -9 halfway and another taking over. The alarm events, in order."""
    loop.run(_wipe(cluster.urls))
    loop.run(_init(cluster.urls))
    _publish(cluster, loop, rows)
    db = open_database(url)
    folder.mkdir()
    workers = [_worker(cluster, url, "worker-a", folder)]
    try:
        if kill:
            deadline = time.monotonic() + 60
            while _processed(db) < len(rows) // 2:
                assert time.monotonic() < deadline, "worker A consumed half the stream"
                time.sleep(0.02)
            workers[0].popen.send_signal(signal.SIGKILL)
            workers[0].popen.wait(10)
            assert _processed(db) < len(rows), "killed before the end of the stream"
            workers.append(_worker(cluster, url, "worker-b", folder))
        deadline = time.monotonic() + 60
        while _processed(db) < len(rows):
            assert time.monotonic() < deadline, "the whole stream consumed"
            time.sleep(0.1)
        time.sleep(1)  # anything stepped twice has time to show
        assert _processed(db) == len(rows)
        return _events(db)
    except AssertionError:
        for process in workers:
            print(f"--- {process.name}\n{process.log.read_text()[-3000:]}")
        raise
    finally:
        stop_all(workers)
        db.dispose()


def test_a_worker_killed_halfway_leaves_the_alarm_events_of_an_uninterrupted_run(
    cluster: LocalCluster,
    loop: Loop,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_PARTITIONS", str(WORKER_PARTITIONS))
    from vigie.settings import settings

    settings.cache_clear()
    rows = _rows()
    runs = []
    for kill in (False, True):
        with fresh_database(request, "postgresql", tmp_path) as url:
            db = open_database(url)
            seed(db)
            db.dispose()
            runs.append(_run(cluster, loop, url, tmp_path / f"run-{kill}", rows, kill))
    settings.cache_clear()
    uninterrupted, restarted = runs
    for events in runs:  # no event twice within a run (its key: the whole engine event)
        assert len({e[-1] for e in events}) == len(events)
    assert len(uninterrupted) >= 40  # 24 entries into the zone, each raised then cleared
    # What each event says, in order. The keys differ between the two runs, not within one:
    # they hash the engine's whole event, whose `detected_at` (a late reading's episode, as
    # every one is in catch-up) is the wall clock of the step that saw it. For the same reason
    # a clock-driven episode (the bracelet silent for hours before its first fix, then heard)
    # is compared by what it is, not by its time: that is the step's wall clock in either run.
    assert [_said(e) for e in restarted] == [_said(e) for e in uninterrupted]


def _said(event: tuple[Any, ...]) -> tuple[Any, ...]:
    case, kind, state, t, device, detail, _key = event
    if kind == "signal_lost":
        return case, kind, state, device
    return case, kind, state, t, device, detail
