"""The API in cluster mode: posted observations published and answered after the stream's ack;
the device directory written after assignments and kept in line with PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.cluster.conftest import PARTITIONS, Loop, cluster_settings, init, subjects
from tests.conftest import Centre
from tests.gateway.conftest import HOME_UNIT, IMEI, PHONE, obs, seed
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_of, subject_for, unassigned_partition
from vigie.store import Database
from vigie.store.models import Observation, Placement

pytestmark = pytest.mark.processes


@pytest.fixture
def cluster_centre(
    cluster: LocalCluster, loop: Loop, pg_url: str, pg: Database
) -> Iterator[Centre]:
    from vigie.api import create_app

    seed(pg)
    loop.run(init(cluster.urls))
    settings = cluster_settings(cluster, database_url=pg_url, publish_deadline_s=2.0)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.pipeline is None  # type: ignore[attr-defined]
        yield Centre(client, pg)


def _mirror(cluster: LocalCluster, loop: Loop) -> Any:
    from vigie.cluster.ingest import ClusterIngest

    return loop.run(ClusterIngest.open(cluster_settings(cluster), "test-gateway"))


def _until(condition: Any, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within the delay"
        time.sleep(0.05)


def test_posted_observations_published_then_answered(
    cluster: LocalCluster, loop: Loop, cluster_centre: Centre
) -> None:
    headers = cluster_centre.headers("integration")
    batch = [obs(IMEI, 3, "battery", level=0.4), obs(PHONE, 2, "battery", level=0.9)]
    first = cluster_centre.client.post(
        "/api/observations", json={"observations": batch}, headers=headers
    )
    assert first.status_code == 200, first.text
    assert first.json() == {
        "accepted": 2,
        "duplicates": 0,
        "ids": [],
        "conflicts": [],
        "unfollowed": [],
    }
    again = cluster_centre.client.post(
        "/api/observations", json={"observations": batch}, headers=headers
    )
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 2
    # Each device in its case's partition; nothing archived by the API itself.
    assert loop.run(subjects(cluster.urls)) == {
        subject_for(partition_of("C1", PARTITIONS), IMEI): 1,
        subject_for(partition_of("C2", PARTITIONS), PHONE): 1,
    }
    with cluster_centre.db.session() as session:
        assert session.query(Observation).count() == 0
    # Without a quorum: 503 naming the device, nothing claimed stored.
    cluster.stop_node(0, signal.SIGKILL)
    cluster.stop_node(1, signal.SIGKILL)
    late = [obs(IMEI, 1, "battery", level=0.3)]
    refused = cluster_centre.client.post(
        "/api/observations", json={"observations": late}, headers=headers
    )
    assert refused.status_code == 503 and refused.json()["error"] == "not_stored"
    assert IMEI in refused.json()["message"]


def test_directory_follows_devices_and_assignments(
    cluster: LocalCluster, loop: Loop, cluster_centre: Centre
) -> None:
    ingest = _mirror(cluster, loop)
    try:
        # The API reconciled the directory at start: the seeded devices are routable.
        _until(lambda: len(ingest.directory) == 4)
        assert ingest.directory.get(IMEI).partition == partition_of("C1", PARTITIONS)
        assert ingest.route(PHONE) == partition_of("C2", PARTITIONS)
        # A case's devices share its partition: C1's bracelet and home unit, one engine.
        assert ingest.route(IMEI) == ingest.route(HOME_UNIT) == partition_of("C1", PARTITIONS)
        headers = cluster_centre.headers("supervisor")
        added = cluster_centre.client.post(
            "/api/devices", json={"id": "B2", "kind": "bracelet"}, headers=headers
        )
        assert added.status_code == 201, added.text
        # A new device is known to the gateways at once (no case yet: its own partition).
        _until(lambda: ingest.directory.get("B2") is not None, 2)
        assert ingest.route("B2") == unassigned_partition("B2", PARTITIONS)
        with cluster_centre.db.session() as session:
            c2 = session.query(Placement).filter_by(case_ref="C2").one().id
        moved = cluster_centre.client.post(
            f"/api/placements/{c2}/devices",
            json={"device_id": "B2", "role": "wearer"},
            headers=headers,
        )
        assert moved.status_code == 201, moved.text
        # B2 now routes with C2; the phone it replaced is unassigned.
        _until(lambda: ingest.directory.get("B2").case == "C2", 2)
        assert ingest.route("B2") == partition_of("C2", PARTITIONS)
        _until(lambda: ingest.directory.get(PHONE).case is None, 2)
        assert ingest.route(PHONE) == unassigned_partition(PHONE, PARTITIONS)
    finally:
        loop.run(ingest.close())


def test_the_directory_watch_started_again_leaves_no_pile_of_consumers(
    cluster: LocalCluster, loop: Loop
) -> None:
    """Each start of the directory's watch is a consumer on the server: one left by a watch
    that ended goes once unused for `unused_s`, not after nats-py's 5 minutes (the server
    refuses any consumer past 1,000, a flapping watch's among them)."""
    from vigie.cluster.leases import unused_s
    from vigie.cluster.topology import DEVICES

    loop.run(init(cluster.urls))
    ingest = _mirror(cluster, loop)
    settings = cluster_settings(cluster)

    async def consumers() -> int:
        stream = await ingest.connection.jetstream().stream_info(f"KV_{DEVICES}")
        return int(stream.state.consumer_count)

    try:
        for _ in range(6):  # the watch ends (as when its subscription goes): it starts again
            watcher = ingest.directory._watcher  # the one way to end it from here
            loop.run(watcher.stop())
            _until(lambda w=watcher: ingest.directory._watcher is not w)
        started = loop.run(consumers())
        time.sleep(unused_s(settings.lease_s) + 3)
        left = loop.run(consumers())
    finally:
        loop.run(ingest.close())
    assert started >= 6  # the six ended, still there a moment after
    assert left == 1  # only the watch running now
