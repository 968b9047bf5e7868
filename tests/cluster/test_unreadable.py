"""A message of VIGIE_OBS that a worker cannot read (not JSON, another format, a reading no row
can hold) is recorded in the audit log by the step that passes it and skipped: the partition
keeps stepping, the good readings of the same message are archived and detected, and a reading
that can be stored but is not an observation is archived and quarantined, as embedded
detection does (vigie.cluster.worker.readings_of)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy import func, select

from tests.cluster.conftest import WORKER_PARTITIONS, Loop, cluster_settings
from tests.cluster.test_worker import LEASE_S, _fix, _init, _wait
from tests.gateway.conftest import IMEI, ZONE
from vigie import clock
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_of, subject_for
from vigie.store import Database
from vigie.store.models import (
    AlarmEventRow,
    AuditEntry,
    EngineState,
    Observation,
    QuarantinedObservation,
)

pytestmark = pytest.mark.processes


def test_unreadable_messages_are_recorded_and_skipped_never_fatal_to_a_step(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database
) -> None:
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import FORMAT, MSG_ID
    from vigie.cluster.topology import STREAM
    from vigie.cluster.worker import DetectionWorker

    loop.run(_init(cluster.urls))
    partition = partition_of("C1", WORKER_PARTITIONS)
    config = cluster_settings(
        cluster,
        database_url=seeded_pg.engine.url.render_as_string(hide_password=False),
        partitions=WORKER_PARTITIONS,
        lease_s=LEASE_S,
        renew_s=1.0,
    )
    outside, inside = _fix(5, (ZONE[0] + 0.01, ZONE[1]), 1), _fix(4, ZONE, 2)
    out_of_range = _fix(3, ZONE, 3)["payload"] | {"lat": 999.0}
    mixed = {
        "v": FORMAT,
        "device": IMEI,
        "source": "test",
        "received_at": clock.now().isoformat(),
        "gateway": "test",
        "readings": [
            outside["payload"],
            {"device": IMEI, "t": "yesterday", "type": "position", "seq": 4},
            _fix(3, ZONE, 5)["payload"] | {"accuracy_m": float("nan")},  # no JSON column takes it
            out_of_range,
            {"device": "x" * 65, "t": outside["payload"]["t"], "type": "battery"},
        ],
    }
    last = {**mixed, "readings": [inside["payload"]]}
    bodies = [
        b"\xff not JSON {",
        json.dumps({"v": 99, "readings": []}).encode(),
        json.dumps(mixed).encode(),  # NaN written as JSON's NaN, which no column takes
        json.dumps(last).encode(),
    ]

    async def publish() -> list[int]:
        connection = await connect(config, "test")
        js = connection.jetstream()
        sequences = []
        for index, body in enumerate(bodies):
            ack = await js.publish(
                subject_for(partition, IMEI),
                body,
                stream=STREAM,
                headers={MSG_ID: f"unreadable-test-{index}"},
            )
            sequences.append(ack.seq)
        await connection.close()
        return sequences

    def count(model: type, *where: object) -> int:
        with seeded_pg.session() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]

    worker = DetectionWorker(config, seeded_pg, "worker-u")
    running = asyncio.run_coroutine_threadsafe(worker.run(), loop.loop)
    try:
        _wait(lambda: len(worker.owned) == WORKER_PARTITIONS, 30, "the worker took every partition")
        sequences = loop.run(publish())
        raised = (AlarmEventRow.case_ref == "C1", AlarmEventRow.kind == "zone_entry")
        _wait(lambda: count(AlarmEventRow, *raised) == 1, 30, "detected past the bad messages")
        _wait(lambda: worker.owned[partition].cursor == sequences[-1], 10, "all consumed")
        time.sleep(1)  # a step failing on them would have shown by now
        assert worker.owned[partition].cursor == sequences[-1]
        with seeded_pg.session() as session:
            state = session.scalars(
                select(EngineState).where(EngineState.partition == partition)
            ).one()
            assert state.processed >= len(bodies)
            records = list(
                session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.action == "stream_reading_quarantined")
                    .order_by(AuditEntry.id)
                )
            )
        assert worker.unreadable == 5
        assert [(r.target, r.detail["reading"]) for r in records] == [
            (f"stream_message:{sequences[0]}", None),
            (f"stream_message:{sequences[1]}", None),
            (f"stream_message:{sequences[2]}", 1),
            (f"stream_message:{sequences[2]}", 2),
            (f"stream_message:{sequences[2]}", 4),
        ]
        assert "ISO-8601" in records[2].detail["reason"]
        # The good readings of the mixed message, and the one out of range, are archived; that
        # one is quarantined (kept, marked, never run).
        assert count(Observation, Observation.device == IMEI) == 3
        assert count(QuarantinedObservation) == 1
        assert count(AlarmEventRow, *raised) == 1
    finally:
        loop.loop.call_soon_threadsafe(worker.stop)
        running.result(30)
