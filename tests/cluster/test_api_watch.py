"""An API process of the cluster: no detection of its own, the bell rung by the workers over
NATS, and blindness (a partition with no worker past the lease and a takeover) a 503 naming
the partitions, for the console's banner (design scale-ha.md §2.8)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.cluster.conftest import Loop
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
from vigie.api import create_app
from vigie.cluster.local import LocalCluster
from vigie.settings import Settings
from vigie.store import Database

pytestmark = pytest.mark.processes


def test_blind_until_a_worker_owns_every_partition_then_rung_by_its_commits(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database, tmp_path: Path
) -> None:
    loop.run(_init(cluster.urls))
    config = Settings(
        mode="cluster",
        database_url=seeded_pg.engine.url.render_as_string(hide_password=False),
        nats_urls=cluster.urls_setting,
        partitions=PARTITIONS,
        lease_s=LEASE_S,
        renew_s=1.0,
    )
    worker: subprocess.Popen[bytes] | None = None
    with TestClient(create_app(config)) as client:
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

        try:
            worker = _worker(cluster, seeded_pg, "worker-a", tmp_path / "a.log")
            _wait(lambda: health()[0] == 200, 30, "watched once a worker holds every partition")
            _code, body = health()
            assert body["cluster"] == {
                "partitions": PARTITIONS,
                "owned": PARTITIONS,
                "workers": ["worker-a"],
                "unwatched": [],
                "blind_since": None,
            }

            bell = app.state.bell  # type: ignore[attr-defined]
            rung = bell.generation
            _publish(cluster, loop, [_fix(5, (ZONE[0] + 0.01, ZONE[1]), 1), _fix(4, ZONE, 2)])
            _wait(lambda: bell.generation > rung, 30, "the API's bell rung by the worker")
            alarms = client.get(
                "/api/alarms", headers=Centre(client, seeded_pg).headers("operator")
            )
            assert [a["kind"] for a in alarms.json()] == ["zone_entry"]

            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            killed = time.monotonic()
            _wait(lambda: health()[0] == 503, LEASE_S + 15, "blind again once the worker died")
            print(f"worker killed to /api/health 503: {time.monotonic() - killed:.2f} s")
            assert health()[1]["cluster"]["unwatched"] == list(range(PARTITIONS))  # type: ignore[index]
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait(10)
