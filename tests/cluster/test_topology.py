"""`ensure` creates the stream and buckets once, idempotently, and refuses a changed P or R."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import Loop, cluster_settings
from vigie.cluster.local import LocalCluster

pytestmark = pytest.mark.processes


async def _ensure(urls: list[str], **settings: object) -> tuple[list[str], object]:
    import nats

    from vigie.cluster.topology import STREAM, Topology, ensure

    connection = await nats.connect(servers=urls)
    try:
        js = connection.jetstream()
        topology = Topology(**{**_DEFAULT, **settings})  # type: ignore[arg-type]
        done = await ensure(js, topology)
        return done, (await js.stream_info(STREAM)).config
    finally:
        await connection.close()


_DEFAULT = {
    "partitions": 16,
    "replicas": 3,
    "max_age_s": 3600.0,
    "max_bytes": 1 << 30,
    "dedupe_window_s": 120.0,
    "lease_s": 3.0,
}


def test_ensure_is_idempotent(cluster: LocalCluster, loop: Loop) -> None:
    done, config = loop.run(_ensure(cluster.urls))
    assert done == [
        "stream VIGIE_OBS created (R3)",
        "bucket vigie_leases created",
        "bucket vigie_workers created",
        "bucket vigie_devices created",
        "bucket vigie_config created",
        "partitions = 16 stored",
    ]
    assert config.num_replicas == 3 and config.discard == "new"
    assert config.subjects == ["vigie.obs.>"] and config.duplicate_window == 120.0
    again, same = loop.run(_ensure(cluster.urls))
    assert again == [] and same == config
    # Retention may change (an operator resizes it); the stream is updated, not re-created.
    resized, bigger = loop.run(_ensure(cluster.urls, max_bytes=2 << 30))
    assert resized == ["stream VIGIE_OBS: retention limits updated"]
    assert bigger.max_bytes == 2 << 30


def test_drift_of_partitions_or_replicas_refused(cluster: LocalCluster, loop: Loop) -> None:
    from vigie.cluster.ingest import ClusterIngest
    from vigie.cluster.topology import NotInitialised, TopologyDrift

    with pytest.raises(NotInitialised, match="vigie cluster init"):
        loop.run(ClusterIngest.open(cluster_settings(cluster), "gateway"))
    loop.run(_ensure(cluster.urls))
    with pytest.raises(TopologyDrift, match="initialised with 16 partitions, VIGIE_PARTITIONS"):
        loop.run(_ensure(cluster.urls, partitions=32))
    with pytest.raises(TopologyDrift, match="3 replicas"):
        loop.run(_ensure(cluster.urls, replicas=1))
    # Every process checks at start: a gateway with another P refuses to run.
    with pytest.raises(TopologyDrift, match="wrong engine"):
        loop.run(ClusterIngest.open(cluster_settings(cluster, partitions=64), "gateway"))
    ingest = loop.run(ClusterIngest.open(cluster_settings(cluster), "gateway"))
    loop.run(ingest.close())


def test_ensure_waits_for_a_node_that_comes_back(cluster: LocalCluster, loop: Loop) -> None:
    """With a node down an R3 stream cannot be placed ("no suitable peers for placement"), as
    for a while after a node restarts: `vigie cluster init` tries again until it can, instead
    of failing the operator's first attempt."""
    import threading

    cluster.stop_node(2)
    back = threading.Timer(3.0, cluster.restart_node, args=(2,))
    back.start()
    try:
        done, config = loop.run(_ensure(cluster.urls[:2]))
    finally:
        back.join()
    # (the stream may have been made by an attempt whose answer did not come back in time)
    assert done[-1] == "partitions = 16 stored" and config.num_replicas == 3
