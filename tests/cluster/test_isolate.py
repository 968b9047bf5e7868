"""Cluster mode: a reading that detection itself fails on (a fault of ours it sets off) is
quarantined by its partition's step, the batch's other readings run, and the partition's next
owner re-runs the journaled step without it and comes out the same: one input stops no
partition (the embedded case: tests/alarms/test_quarantine.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.alarms.test_quarantine import Clock, alarms, at, failing_on, quarantined
from tests.cluster.conftest import WORKER_PARTITIONS
from tests.gateway.conftest import HOME_UNIT, IMEI, ZONE, obs
from vigie.alarms.pipeline import ENGINE_FAULT, PartitionStep
from vigie.alarms.sources import BatchSource
from vigie.cluster.partitions import partition_of
from vigie.gateway.readings import parse_time
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.engine_state import StateRow

__all__ = ["at"]  # the stopped clock, a fixture of the quarantine tests


def owner(db: Database, at: Clock) -> PartitionStep:
    """A worker's step of C1's partition, the partition claimed (every step fenced)."""
    config = Settings(partitions=WORKER_PARTITIONS, escalation_after_s=3600)
    step = PartitionStep(db, config, at, state=StateRow(partition_of("C1", WORKER_PARTITIONS)))
    step.claim()
    return step


def batch(at: Clock, cursor: int, *records: dict[str, object]) -> BatchSource:
    rows = [log.row_for(r, parse_time(str(r["t"])), at.now, source="test") for r in records]
    return BatchSource(rows, cursor, len(rows))


def test_a_reading_detection_fails_on_is_quarantined_in_its_partition(
    seeded_pg: Database, at: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = owner(seeded_pg, at)
    outside = (ZONE[0] + 0.01, ZONE[1])
    fix = obs(IMEI, 0, "position", lat=outside[0], lon=outside[1], accuracy_m=5.0) | {"seq": 1}
    first.step(batch(at, 1, fix))

    failing_on(monkeypatch, IMEI)  # the engine's fix path fails on a batch holding its fix
    at.now += timedelta(seconds=5)
    inside = obs(IMEI, 0, "position", lat=ZONE[0], lon=ZONE[1], accuracy_m=5.0) | {"seq": 2}
    cut = obs(HOME_UNIT, 0, "tamper", what="case_open")
    result = first.step(batch(at, 2, inside, cut))
    assert result.quarantined == 1
    ((row_id, mark),) = quarantined(seeded_pg).items()
    assert mark.field == ENGINE_FAULT and f"a fault of ours on {IMEI}" in mark.reason
    raised = alarms(seeded_pg)
    assert ("C1", "tamper", HOME_UNIT) in raised  # the batch's other reading ran
    assert ("C1", "zone_entry", IMEI) not in raised  # the fix it failed on did not

    # The next owner restores the committed engine and re-runs the journaled steps without the
    # quarantined reading: the same events, and the partition steps on.
    monkeypatch.undo()
    monkeypatch.setattr("vigie.clock.now", at)
    at.now += timedelta(minutes=2)  # a walk from where it was, not a jump
    second = owner(seeded_pg, at)
    later = obs(IMEI, 0, "position", lat=ZONE[0], lon=ZONE[1], accuracy_m=5.0) | {"seq": 3}
    after = second.step(batch(at, 3, later))
    assert second.replayed.steps >= 1 and second.replayed.mismatched == 0
    assert after.quarantined == 0 and list(quarantined(seeded_pg)) == [row_id]
    assert ("C1", "zone_entry", IMEI) in alarms(seeded_pg)  # the bracelet is watched still
