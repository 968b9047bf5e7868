"""Giving a lease back when a renewal moved it on meanwhile (a real NATS cluster's KV).

A worker lets a partition go while a renewal round is in flight: the renewal's answer comes
after, so the revision the release uses is one behind. The delete was refused and the partition
went blind until the lease expired (3.5 s in a chaos run). The release now gives up a lease
that is still this worker's at its current revision, and leaves another worker's alone."""

from __future__ import annotations

import nats
import pytest

from tests.cluster.conftest import Loop
from tests.cluster.test_worker import _init
from vigie.cluster.assignment import Outcome
from vigie.cluster.leases import PartitionLeases
from vigie.cluster.local import LocalCluster

pytestmark = pytest.mark.processes


async def _leases(cluster: LocalCluster, worker: str) -> tuple[nats.NATS, PartitionLeases]:
    connection = await nats.connect(servers=cluster.urls)
    return connection, await PartitionLeases.open(connection.jetstream(), worker)


def test_a_release_one_renewal_behind_still_gives_the_lease_up(
    cluster: LocalCluster, loop: Loop
) -> None:
    loop.run(_init(cluster.urls))

    async def run() -> tuple[set[int], int | None]:
        connection, a = await _leases(cluster, "worker-a")
        try:
            revision = await a.acquire(3)
            assert revision is not None
            renewed = await a.renew(3, revision)  # in flight when the partition was let go
            assert renewed.outcome is Outcome.RENEWED and renewed.revision != revision
            await a.release(3, revision)  # the revision it had when it let go
            held = await a.held()
            other, b = await _leases(cluster, "worker-b")
            try:
                return held, await b.acquire(3)  # at once: no waiting for the lease to expire
            finally:
                await other.close()
        finally:
            await connection.close()

    held, taken = loop.run(run())
    assert 3 not in held
    assert taken is not None


def test_a_stale_release_leaves_another_workers_lease_alone(
    cluster: LocalCluster, loop: Loop
) -> None:
    loop.run(_init(cluster.urls))

    async def run() -> tuple[set[int], Outcome]:
        connection, a = await _leases(cluster, "worker-a")
        other, b = await _leases(cluster, "worker-b")
        try:
            old = await a.acquire(5)
            assert old is not None
            await a.release(5, old)
            mine = await b.acquire(5)
            assert mine is not None
            await a.release(5, old)  # late, stale: worker-b holds the lease now
            return await b.held(), (await b.renew(5, mine)).outcome
        finally:
            await connection.close()
            await other.close()

    held, renewal = loop.run(run())
    assert 5 in held
    assert renewal is Outcome.RENEWED
