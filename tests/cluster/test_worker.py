"""Detection workers on the stream: each reading archived and detected once, a BAR or PSEM case
detected by its partition's owner, and a worker killed with -9 taken over by another within
the lease and two seconds, with no duplicate alarm (design scale-ha.md §2.5, §5.2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.cluster.conftest import WORKER_LEASE_S, WORKER_PARTITIONS, Loop, cluster_settings
from tests.gateway.conftest import IMEI, ZONE, obs
from vigie import clock
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_of
from vigie.gateway.readings import parse_time
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Alarm, AlarmEventRow, EngineState, Observation

pytestmark = pytest.mark.processes
PARTITIONS = WORKER_PARTITIONS
LEASE_S = WORKER_LEASE_S


async def _init(urls: list[str], max_age_s: float = 3600.0) -> None:
    """The worker tests' cluster; its stream keeps `max_age_s` (its dedupe window no longer)."""
    import nats

    from vigie.cluster.topology import Topology, ensure

    connection = await nats.connect(servers=urls)
    dedupe_s = min(120.0, max_age_s / 2)
    topology = Topology(PARTITIONS, 3, max_age_s, 1 << 30, dedupe_s, LEASE_S)
    await ensure(connection.jetstream(), topology)
    await connection.close()


def _fix(minutes: float, where: tuple[float, float], seq: int) -> dict[str, Any]:
    record = obs(IMEI, minutes, "position", lat=where[0], lon=where[1], accuracy_m=5.0)
    record["seq"] = seq
    return log.row_for(record, parse_time(record["t"]), clock.now(), source="test")


def _publish(cluster: LocalCluster, loop: Loop, rows: list[dict[str, Any]]) -> None:
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import ObservationPublisher

    async def run() -> None:
        connection = await connect(cluster_settings(cluster, partitions=PARTITIONS), "test")
        publisher = ObservationPublisher(connection.jetstream(), "test", deadline_s=10)
        for row in rows:  # one device message each, as a tracker sends them
            await publisher.publish(IMEI, partition_of("C1", PARTITIONS), [row])
        await connection.close()

    loop.run(run())


def _worker(
    cluster: LocalCluster, db: Database, name: str, log_to: Path
) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "VIGIE_MODE": "cluster",
        "VIGIE_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "VIGIE_NATS_URLS": cluster.urls_setting,
        "VIGIE_PARTITIONS": str(PARTITIONS),
        "VIGIE_LEASE_S": str(LEASE_S),
        "VIGIE_RENEW_S": "1",
        "VIGIE_ESCALATION_AFTER_S": "3600",
    }
    command = [str(Path(sys.executable).parent / "vigie"), "cluster", "worker", "--name", name]
    with log_to.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(condition: Any, timeout_s: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - began


def _raised(db: Database) -> int:
    """Zone entries raised for C1 (a raise while its alarm is open is an event of that alarm)."""
    with db.session() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(AlarmEventRow)
                .where(AlarmEventRow.case_ref == "C1", AlarmEventRow.kind == "zone_entry")
                .where(AlarmEventRow.state == "raised")
            )
            or 0
        )


def test_a_killed_worker_is_taken_over_and_every_reading_detected_once(
    cluster: LocalCluster, loop: Loop, seeded_pg: Database, tmp_path: Path
) -> None:
    loop.run(_init(cluster.urls))
    outside = (ZONE[0] + 0.01, ZONE[1])  # 330 m out of the zone: a walk, not a jump
    first = tmp_path / "a.log"
    a = _worker(cluster, seeded_pg, "worker-a", first)
    b: subprocess.Popen[bytes] | None = None
    try:
        _publish(cluster, loop, [_fix(5, outside, 1), _fix(4, ZONE, 2)])
        _wait(lambda: _raised(seeded_pg) == 1, 30, "zone entry raised by A")

        b = _worker(cluster, seeded_pg, "worker-b", tmp_path / "b.log")
        time.sleep(2 * LEASE_S)  # B is present; A keeps what it holds until B is preferred
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        killed = time.monotonic()
        # Out of the zone, then a fix inside again: cleared, then one new episode, by B.
        _publish(cluster, loop, [_fix(3, outside, 3), _fix(2, outside, 4), _fix(1, ZONE, 5)])
        _wait(
            lambda: _raised(seeded_pg) == 2,
            LEASE_S + 20,
            "new zone entry after A's kill",
        )
        takeover_s = time.monotonic() - killed
        print(f"kill -9 of the worker to the next alarm raised: {takeover_s:.2f} s")

        with seeded_pg.session() as session:
            stored = session.scalar(
                select(func.count()).select_from(Observation).where(Observation.device == IMEI)
            )
            partition = partition_of("C1", PARTITIONS)
            term = session.scalar(
                select(EngineState.term).where(EngineState.partition == partition)
            )
            alarms = session.scalar(select(func.count()).select_from(Alarm))
        assert stored == 5  # each reading archived once, across the takeover
        assert term is not None and term >= 2  # claimed by A, then by B: A is fenced
        time.sleep(2)  # anything B would wrongly raise again has time to show
        assert _raised(seeded_pg) == 2  # two episodes, each raised once
        assert alarms == 1  # the second an event of the open alarm, as the seeded_pg folds them
    except AssertionError:
        for name in ("a.log", "b.log"):  # what the workers said, to see why
            if (tmp_path / name).exists():
                print(f"--- {name}\n{(tmp_path / name).read_text()[-3000:]}")
        raise
    finally:
        for process in (a, b):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
