"""Readings the stream dropped before any worker read them are told, once; a partition that was
only quiet is not (vigie.cluster.retention). The stream here keeps its messages 3 s, where a
centre's keeps them 72 h: a partition unwatched longer, or a backup restored older, meets the
same gap."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.cluster.conftest import (
    WORKER_LEASE_S,
    WORKER_PARTITIONS,
    Loop,
    running_worker,
    worker_settings,
)
from tests.cluster.test_worker import _fix, _init, _publish, _wait
from tests.gateway.conftest import ZONE
from vigie.api import create_app
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_of
from vigie.store import Database
from vigie.store.models import AuditEntry, EngineState

pytestmark = pytest.mark.processes
MAX_AGE_S = 3.0


async def _span(urls: list[str]) -> tuple[int, int, int]:
    """The stream's (messages, first sequence, last sequence)."""
    import nats

    from vigie.cluster.topology import STREAM

    connection = await nats.connect(servers=urls)
    try:
        state = (await connection.jetstream().stream_info(STREAM)).state
        return state.messages, state.first_seq, state.last_seq
    finally:
        await connection.close()


def _rows(db: Database) -> dict[int, tuple[int, int, int]]:
    """Each partition's (cursor, stream_seen, stream_gaps)."""
    with db.session() as session:
        found = session.execute(
            select(
                EngineState.partition,
                EngineState.cursor,
                EngineState.stream_seen,
                EngineState.stream_gaps,
            )
        ).all()
    return {p: (cursor, seen, gaps) for p, cursor, seen, gaps in found}


def _gaps_audited(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return [
            entry.detail
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "stream_gap").order_by(AuditEntry.id)
            )
        ]


def _expired(loop: Loop, cluster: LocalCluster) -> tuple[int, int, int]:
    _wait(lambda: loop.run(_span(cluster.urls))[0] == 0, 30, "the stream's messages expired")
    return loop.run(_span(cluster.urls))


def test_readings_dropped_unread_are_told_once_for_every_partition_that_missed_them(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database
) -> None:
    loop.run(_init(cluster.urls, MAX_AGE_S))
    _publish(cluster, loop, [_fix(m, ZONE, seq) for seq, m in enumerate((5, 4, 3), 1)])
    _, first, last = _expired(loop, cluster)  # no worker ran meanwhile
    assert first == last + 1 == 4
    config = worker_settings(cluster, seeded_pg)
    with running_worker(loop, config, seeded_pg, "worker-a"):
        _wait(lambda: len(_gaps_audited(seeded_pg)) == WORKER_PARTITIONS, 30, "the gaps told")
        # Told in the centre's health and metrics, while the status stays as it is.
        with TestClient(create_app(config)) as client:
            cluster_state = client.get("/api/health").json()["cluster"]
            assert cluster_state["stream_gaps"] == WORKER_PARTITIONS
    audited = _gaps_audited(seeded_pg)
    assert sorted(d["partition"] for d in audited) == list(range(WORKER_PARTITIONS))
    assert {(d["from_seq"], d["to_seq"]) for d in audited} == {(1, 3)}
    rows = _rows(seeded_pg)
    assert {p: gaps for p, (_, _, gaps) in rows.items()} == dict.fromkeys(rows, 1)
    assert all(seen >= 3 for _, seen, _ in rows.values())
    # Another worker later: the gap was told, not told again.
    with running_worker(loop, config, seeded_pg, "worker-b") as (worker, _):
        _wait(lambda: all(o.steps >= 3 for o in worker.owned.values()), 30, "each stepped")
    assert len(_gaps_audited(seeded_pg)) == WORKER_PARTITIONS
    assert {gaps for _, _, gaps in _rows(seeded_pg).values()} == {1}


def test_a_partition_only_quiet_while_watched_meets_no_gap_when_taken_again(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database
) -> None:
    loop.run(_init(cluster.urls, MAX_AGE_S))
    config = worker_settings(cluster, seeded_pg)
    busy = partition_of("C1", WORKER_PARTITIONS)
    with running_worker(loop, config, seeded_pg, "worker-a") as (worker, _):
        _publish(cluster, loop, [_fix(m, ZONE, seq) for seq, m in enumerate((5, 4, 3), 1)])
        _wait(lambda: worker.owned[busy].cursor == 3, 30, "C1's readings stepped")
        _, first, _ = _expired(loop, cluster)
        assert first == 4
        # The quiet partitions' workers saw the stream's end meanwhile, and said so.
        _wait(
            lambda: all(seen >= 3 for _, seen, _ in _rows(seeded_pg).values()),
            4 * WORKER_LEASE_S + 10,
            "every partition known quiet up to the stream's end",
        )
    with running_worker(loop, config, seeded_pg, "worker-b") as (worker, _):
        _wait(lambda: all(o.steps >= 3 for o in worker.owned.values()), 30, "each stepped")
    assert _gaps_audited(seeded_pg) == []
    assert {gaps for _, _, gaps in _rows(seeded_pg).values()} == {0}
