"""An API process of the cluster: no detection of its own, the bell rung by the workers over
NATS, and blindness (a partition with no worker past the lease and a takeover) a 503 naming
the partitions, for the console's banner, and the centre's own alarm in the operators' queue:
one per blind partition however many API processes watch, cleared when a worker takes the
partition, raised again into the same alarm if it is lost before anyone closed it (design
scale-ha.md §2.8)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.cluster.conftest import Loop, cluster_settings
from tests.cluster.test_worker import (
    LEASE_S,
    PARTITIONS,
    _fix,
    _init,
    _publish,
    _wait,
    _worker,
)
from tests.conftest import Centre
from tests.gateway.conftest import ZONE
from vigie.alarms.obligations import CENTRE_REF
from vigie.api import create_app
from vigie.cluster.local import LocalCluster
from vigie.store import Database
from vigie.store.models import Alarm, AlarmEventRow

pytestmark = pytest.mark.processes


def _centre_alarms(db: Database) -> list[Alarm]:
    with db.session() as session:
        found = list(session.scalars(select(Alarm).where(Alarm.case_ref == CENTRE_REF)))
        session.expunge_all()
        return found


def _centre_events(db: Database) -> dict[str, list[str]]:
    with db.session() as session:
        rows = session.execute(
            select(AlarmEventRow.device, AlarmEventRow.state)
            .where(AlarmEventRow.case_ref == CENTRE_REF)
            .order_by(AlarmEventRow.id)
        ).all()
    out: dict[str, list[str]] = {}
    for device, state in rows:
        out.setdefault(device, []).append(state)
    return out


def test_blind_until_a_worker_owns_every_partition_then_rung_by_its_commits(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database, tmp_path: Path
) -> None:
    loop.run(_init(cluster.urls))
    config = cluster_settings(
        cluster,
        database_url=seeded_pg.engine.url.render_as_string(hide_password=False),
        partitions=PARTITIONS,
        lease_s=LEASE_S,
        renew_s=1.0,
    )
    worker: subprocess.Popen[bytes] | None = None
    # Two API processes watch the same cluster (each its own watch, bell and NATS links).
    with TestClient(create_app(config)) as client, TestClient(create_app(config)) as other:
        app = client.app
        assert app.state.pipeline is None  # type: ignore[attr-defined]  # detection: workers'

        def health() -> tuple[int, dict[str, object]]:
            answer = client.get("/api/health")
            return answer.status_code, answer.json()

        _wait(lambda: health()[0] == 503, LEASE_S + 10, "blind without workers")
        _code, body = health()
        cluster_state = body["cluster"]
        assert isinstance(cluster_state, dict)
        assert cluster_state["unwatched"] == list(range(PARTITIONS))
        assert cluster_state["blind_since"] is not None
        assert body["status"] == "stalled"
        _wait(lambda: other.get("/api/health").status_code == 503, 10, "the other sees it")
        # The centre's alarm: one per partition, one `raised` each, whoever saw it first.
        _wait(lambda: len(_centre_alarms(seeded_pg)) == PARTITIONS, 15, "the centre's alarms")
        time.sleep(2.5)  # both processes have synced again meanwhile
        alarms = _centre_alarms(seeded_pg)
        assert sorted(a.device for a in alarms) == [f"partition-{p}" for p in range(PARTITIONS)]
        assert {(a.status, a.priority, a.cleared_at) for a in alarms} == {("open", 1, None)}
        assert _centre_events(seeded_pg) == {
            f"partition-{p}": ["raised"] for p in range(PARTITIONS)
        }
        operator = Centre(client, seeded_pg).headers("operator")
        queue = client.get("/api/alarms", headers=operator).json()
        assert [a["kind"] for a in queue] == ["unwatched"] * PARTITIONS
        cases = sum(a["detail"]["cases"] for a in queue)
        assert cases >= 1 and {a["case"] for a in queue} == {CENTRE_REF}

        try:
            worker = _worker(cluster, seeded_pg, "worker-a", tmp_path / "a.log")
            _wait(lambda: health()[0] == 200, 30, "watched once a worker holds every partition")
            # The leases are followed as they change; the workers' presence at the next poll.
            _wait(lambda: health()[1]["cluster"]["workers"] == ["worker-a"], 5, "presence")  # type: ignore[index]
            _code, body = health()
            assert body["cluster"] == {
                "partitions": PARTITIONS,
                "owned": PARTITIONS,
                "workers": ["worker-a"],
                "unwatched": [],
                "blind_since": None,
                "stream_gaps": 0,  # a new stream: nothing dropped unread
            }

            bell = app.state.bell  # type: ignore[attr-defined]
            rung = bell.generation
            _publish(cluster, loop, [_fix(5, (ZONE[0] + 0.01, ZONE[1]), 1), _fix(4, ZONE, 2)])
            _wait(lambda: bell.generation > rung, 30, "the API's bell rung by the worker")
            # Watched again: each centre alarm cleared once, left open for an operator to close.
            _wait(lambda: all(a.cleared_at for a in _centre_alarms(seeded_pg)), 10, "cleared")
            time.sleep(2.5)
            assert _centre_events(seeded_pg) == {
                f"partition-{p}": ["raised", "cleared"] for p in range(PARTITIONS)
            }
            queue = client.get("/api/alarms", headers=operator).json()
            assert [a["kind"] for a in queue if not a["centre"]] == ["zone_entry"]
            assert [a["status"] for a in queue if a["centre"]] == ["open"] * PARTITIONS

            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            killed = time.monotonic()
            _wait(lambda: health()[0] == 503, LEASE_S + 15, "blind again once the worker died")
            print(f"worker killed to /api/health 503: {time.monotonic() - killed:.2f} s")
            assert health()[1]["cluster"]["unwatched"] == list(range(PARTITIONS))  # type: ignore[index]
            # Blind again before anyone closed them: the same alarms, raised again.
            _wait(lambda: not any(a.cleared_at for a in _centre_alarms(seeded_pg)), 10, "raised")
            print(f"worker killed to the centre's alarms raised: {time.monotonic() - killed:.2f} s")
            assert len(_centre_alarms(seeded_pg)) == PARTITIONS
            time.sleep(2.5)
            assert _centre_events(seeded_pg) == {
                f"partition-{p}": ["raised", "cleared", "raised"] for p in range(PARTITIONS)
            }
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait(10)
