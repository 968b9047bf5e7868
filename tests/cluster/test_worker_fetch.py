"""A partition's fetch: a step begins with the first message the stream has for it and holds
the messages the stream held behind that one (its `num_pending`), up to `step_batch`, in the
stream's order; a quiet partition's fetch ends at its wait."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.js import api
from nats.js.errors import FetchTimeoutError

from tests.cluster.conftest import Loop, cluster_settings
from tests.cluster.test_worker import PARTITIONS, _fix, _init
from tests.gateway.conftest import IMEI
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_filter
from vigie.cluster.topology import STREAM
from vigie.store import open_database

pytestmark = pytest.mark.processes


def test_a_step_holds_what_the_stream_held_behind_its_first_message(
    cluster: LocalCluster, loop: Loop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigie.cluster import worker as module
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import ObservationPublisher
    from vigie.cluster.worker import DetectionWorker

    # The messages behind the first come at once; a loaded host's pause must not cut a step.
    monkeypatch.setattr(module, "GATHER_S", 10.0)
    loop.run(_init(cluster.urls))
    config = cluster_settings(cluster, partitions=PARTITIONS, step_batch=12)
    worker = DetectionWorker(config, open_database(f"sqlite:///{tmp_path / 'unused.sqlite'}"))
    partition = 3

    async def run() -> tuple[list[list[int]], list[int]]:
        connection = await connect(config, "test")
        js = connection.jetstream()
        publisher = ObservationPublisher(js, "test", deadline_s=10)
        for seq in range(1, 31):  # 30 device messages, stored before the partition is read
            await publisher.publish(IMEI, partition, [_fix(seq, (48.85, 2.35), seq)])
        subscription = await js.pull_subscribe(
            partition_filter(partition),
            stream=STREAM,
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE),
        )
        steps = []
        for _ in range(3):
            batch = await worker._next_batch(subscription)
            steps.append([m.metadata.sequence.stream for m in batch])
        with pytest.raises((TimeoutError, FetchTimeoutError)):
            await worker._next_batch(subscription)  # nothing more: the wait ends it
        await publisher.publish(IMEI, partition, [_fix(31, (48.85, 2.35), 31)])
        alone = [m.metadata.sequence.stream for m in await worker._next_batch(subscription)]
        await connection.close()
        return steps, alone

    steps, alone = loop.run(run())
    assert [len(step) for step in steps] == [12, 12, 6]  # step_batch, then what was left
    held = [sequence for step in steps for sequence in step]
    assert held == sorted(held) and len(set(held)) == 30  # each once, in the stream's order
    assert len(alone) == 1 and alone[0] > held[-1]
