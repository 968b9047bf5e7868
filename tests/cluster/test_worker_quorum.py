"""A worker outlives the loss of the NATS quorum: while 2 of 3 nodes are down, its lease calls
fail or wait (nats-py lists keys without a deadline), and once the nodes are back it holds its
partitions and detects again, in the same process (found by the chaos tests: a worker that
died of a lease timeout, another that stopped claiming for good)."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import func, select

from tests.cluster.conftest import WORKER_PARTITIONS, Loop, running_worker, worker_settings
from tests.cluster.test_worker import LEASE_S, _fix, _init, _publish
from tests.gateway.conftest import ZONE
from vigie.cluster.local import LocalCluster
from vigie.store import Database
from vigie.store.models import AlarmEventRow

pytestmark = pytest.mark.processes


def test_a_worker_holds_and_detects_again_after_the_quorum_returns(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database
) -> None:
    loop.run(_init(cluster.urls))
    config = worker_settings(cluster, seeded_pg)

    def raised() -> int:
        with seeded_pg.session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(AlarmEventRow)
                    .where(AlarmEventRow.kind == "zone_entry", AlarmEventRow.state == "raised")
                )
                or 0
            )

    with running_worker(loop, config, seeded_pg, "worker-q") as (worker, running):
        cluster.stop_node(1, signal.SIGKILL)
        cluster.stop_node(2, signal.SIGKILL)
        time.sleep(3 * LEASE_S)  # leases not renewable, lists not answered, claims refused
        assert not running.done(), "the worker outlived the lost quorum"
        cluster.restart_node(1)
        cluster.restart_node(2)
        cluster.wait_ready()
        _publish(cluster, loop, [_fix(5, (ZONE[0] + 0.01, ZONE[1]), 1), _fix(4, ZONE, 2)])
        deadline = time.monotonic() + 45
        while raised() < 1 or len(worker.owned) < WORKER_PARTITIONS:
            assert not running.done(), "the worker is still running"
            assert time.monotonic() < deadline, (
                f"zone entry raised ({raised()}) and every partition held ({sorted(worker.owned)})"
            )
            time.sleep(0.2)
