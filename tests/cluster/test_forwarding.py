"""A reading routed to the wrong partition (a gateway's directory not yet current, a device moved
between cases mid-stream) is sent on to its case's partition, archived once there and
detected by the engine that watches that case (design scale-ha.md §2.6)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from tests.cluster.conftest import WORKER_PARTITIONS, Loop, cluster_settings, subjects
from tests.cluster.test_worker import LEASE_S, _fix, _init
from tests.gateway.conftest import IMEI, ZONE
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_of, subject_for
from vigie.store import Database
from vigie.store.models import AlarmEventRow, Observation

pytestmark = pytest.mark.processes


def test_a_misrouted_reading_is_sent_on_and_detected_once_by_its_case_partition(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database
) -> None:
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import ObservationPublisher
    from vigie.cluster.worker import DetectionWorker

    loop.run(_init(cluster.urls))
    right = partition_of("C1", WORKER_PARTITIONS)
    wrong = (right + 1) % WORKER_PARTITIONS
    config = cluster_settings(
        cluster,
        database_url=seeded_pg.engine.url.render_as_string(hide_password=False),
        partitions=WORKER_PARTITIONS,
        lease_s=LEASE_S,
        renew_s=1.0,
    )
    worker = DetectionWorker(config, seeded_pg, "worker-f")
    running = asyncio.run_coroutine_threadsafe(worker.run(), loop.loop)

    async def publish() -> None:
        connection = await connect(config, "test")
        publisher = ObservationPublisher(connection.jetstream(), "stale-gateway", deadline_s=10)
        # C1's bracelet, published as a gateway with a stale directory would: to another
        # partition than C1's.
        rows = [_fix(5, (ZONE[0] + 0.01, ZONE[1]), 1), _fix(4, ZONE, 2)]
        for row in rows:
            await publisher.publish(IMEI, wrong, [row])
        await connection.close()

    def raised() -> int:
        with seeded_pg.session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(AlarmEventRow)
                    .where(AlarmEventRow.case_ref == "C1", AlarmEventRow.kind == "zone_entry")
                )
                or 0
            )

    try:
        deadline = time.monotonic() + 30
        while len(worker.owned) < WORKER_PARTITIONS:
            assert time.monotonic() < deadline, "the worker took every partition"
            time.sleep(0.1)
        loop.run(publish())
        deadline = time.monotonic() + 30
        while raised() < 1:
            assert time.monotonic() < deadline, "zone entry raised after forwarding"
            time.sleep(0.1)
        time.sleep(2)  # anything archived or raised twice has time to show
        with seeded_pg.session() as session:
            stored = session.scalar(
                select(func.count()).select_from(Observation).where(Observation.device == IMEI)
            )
        assert stored == 2  # archived once, by C1's partition, not by the one it reached
        assert raised() == 1
        assert worker.forwarded == 2
        on_subjects = loop.run(subjects(cluster.urls))
        assert on_subjects == {subject_for(wrong, IMEI): 2, subject_for(right, IMEI): 2}
    finally:
        loop.loop.call_soon_threadsafe(worker.stop)
        running.result(30)
