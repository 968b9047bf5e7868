"""Partitioned, fenced detection on the database side (design/scale-ha.md §2.4, §2.6, §5.2):
a claim raises the partition's term and hands back what was committed; a stale owner's step
commits nothing; a batch delivered twice is archived and detected once; each partition sees
its own cases only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.cases import factories as make
from vigie.alarms.pipeline import PartitionStep, Pipeline
from vigie.alarms.sources import BatchSource, partitions_of
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.settings import Settings
from vigie.store import Database, engine_state
from vigie.store import observations as log
from vigie.store.engine_state import Fenced, StateRow
from vigie.store.models import Alarm, AlarmEventRow, EngineState, EngineStep, Observation

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def seed_cases(db: Database, cases: dict[str, int]) -> None:
    """One DDSE case per ref, its bracelet `B-<ref>` and home unit, in the given partition."""
    with db.session() as session:
        who = make.contacts(session)
        for ref, partition in cases.items():
            wearer = make.person(session)
            placement = placements.create(
                session, make.placement_form(wearer, who, case_ref=ref), "t"
            )
            for device, kind, role in (
                (f"B-{ref}", "bracelet", "wearer"),
                (f"H-{ref}", "home_unit", "home_unit"),
            ):
                devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
                devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")
            placement.partition = partition


def tamper(ref: str, minutes: float, seq: int) -> dict[str, Any]:
    t = T0 + timedelta(minutes=minutes)
    record = {
        "kind": "obs",
        "device": f"B-{ref}",
        "t": t.isoformat().replace("+00:00", "Z"),
        "type": "tamper",
        "what": "strap_cut",
        "seq": seq,
    }
    return log.row_for(record, t, t, source="test")


def worker(db: Database, partition: int, clock: Clock) -> PartitionStep:
    """A partition's step as a cluster worker makes it, claimed."""
    step = PartitionStep(db, Settings(), clock, state=StateRow(partition))
    step.claim()
    return step


def counts(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("observations", Observation),
                ("alarms", Alarm),
                ("events", AlarmEventRow),
                ("steps", EngineStep),
            )
        }


def state_of(db: Database, partition: int) -> EngineState:
    with db.reading() as session:
        return session.scalars(select(EngineState).where(EngineState.partition == partition)).one()


def test_claim_raises_the_term_and_returns_the_last_committed_cursor(db: Database) -> None:
    seed_cases(db, {"C1": 3})
    clock = Clock(T0 + timedelta(minutes=1))
    first = PartitionStep(db, Settings(), clock, state=StateRow(3))
    claimed = first.claim()
    assert (claimed.term, claimed.cursor, claimed.snapshot, claimed.processed) == (1, 0, None, 0)
    first.step(BatchSource([tamper("C1", 0.5, 1)], cursor=41, messages=1))
    clock.now += timedelta(seconds=1)
    first.step(BatchSource([tamper("C1", 0.6, 2)], cursor=42, messages=1))
    with db.session() as session:
        again = engine_state.claim(session, 3)
    # The last step's cursor (its journal entry), the first step's checkpoint.
    assert (again.term, again.cursor, again.processed) == (2, 42, 2)
    assert again.snapshot is not None
    assert state_of(db, 3).term == 2
    with pytest.raises(Fenced):  # the first owner is fenced now
        first.step(BatchSource([tamper("C1", 0.7, 3)], cursor=43, messages=1))


def test_a_fenced_holders_step_commits_nothing(db: Database) -> None:
    seed_cases(db, {"C1": 1})
    clock = Clock(T0 + timedelta(minutes=1))
    stale = worker(db, 1, clock)
    stale.step(BatchSource([], cursor=5, messages=0))  # a step at its term: the engine is warm
    before, cursor = counts(db), state_of(db, 1)
    newer = worker(db, 1, clock)  # term 2
    with pytest.raises(Fenced) as fenced:
        stale.step(BatchSource([tamper("C1", 0.5, 1)], cursor=6, messages=1))
    assert (fenced.value.term, fenced.value.found) == (1, 2)
    after = state_of(db, 1)
    assert counts(db) == before  # no observation, alarm, event nor journal entry
    assert (after.cursor, after.processed, after.step) == (cursor.cursor, 0, cursor.step)
    # The newer owner consumes the same batch: archived and detected once, by it.
    result = newer.step(BatchSource([tamper("C1", 0.5, 1)], cursor=6, messages=1))
    assert (result.observations, len(result.opened)) == (1, 1)
    assert counts(db)["observations"] == before["observations"] + 1
    with db.reading() as session:
        alarm = session.scalars(select(Alarm)).one()
    assert (alarm.kind, alarm.partition) == ("tamper", 1)


def test_a_batch_delivered_twice_is_archived_once_and_detected_once(db: Database) -> None:
    seed_cases(db, {"C1": 2})
    clock = Clock(T0 + timedelta(minutes=1))
    step = worker(db, 2, clock)
    batch = [tamper("C1", 0.5, 1), tamper("C1", 0.55, 2)]
    first = step.step(BatchSource(batch, cursor=10, messages=1))
    clock.now += timedelta(seconds=1)
    # Redelivered at or before the cursor (the consumer started again): nothing at all.
    same = step.step(BatchSource(batch, cursor=10, messages=1))
    # Sent again later under a new stream sequence (past the dedupe window): the archive's key
    # refuses it, so the engine does not see it again.
    resent = step.step(BatchSource(batch, cursor=11, messages=1))
    assert (first.observations, same.observations, resent.observations) == (2, 0, 0)
    assert first.events >= 1 and (same.events, resent.events) == (0, 0)
    with db.reading() as session:
        events = session.scalars(select(AlarmEventRow).where(AlarmEventRow.kind == "tamper"))
        assert len(list(events)) == first.events
    assert counts(db)["observations"] == 2
    state = state_of(db, 2)
    assert state.processed == 2  # messages: the first delivery and the resend


def test_a_partition_watches_its_own_cases_only(db: Database) -> None:
    seed_cases(db, {"C1": 0, "C2": 1})
    clock = Clock(T0 + timedelta(minutes=1))
    zero, one = worker(db, 0, clock), worker(db, 1, clock)
    # A reading of C2 routed to partition 0 by mistake: archived, but no alarm from it there.
    result = zero.step(BatchSource([tamper("C1", 0.5, 1), tamper("C2", 0.5, 1)], 1, 2))
    assert [a.case_ref for a in alarms(db)] == ["C1"]
    assert result.observations == 2
    one.step(BatchSource([tamper("C2", 0.6, 2)], 1, 1))
    assert sorted((a.case_ref, a.partition) for a in alarms(db)) == [("C1", 0), ("C2", 1)]


def test_the_partition_of_each_device_is_its_active_cases(db: Database) -> None:
    seed_cases(db, {"C1": 0, "C2": 5})
    with db.reading() as session:
        found = partitions_of(session, {"B-C1", "H-C2", "B-C2", "UNKNOWN"})
    assert found == {"B-C1": 0, "H-C2": 5, "B-C2": 5}


def alarms(db: Database) -> list[Alarm]:
    with db.reading() as session:
        return list(session.scalars(select(Alarm).order_by(Alarm.id)))


def test_a_restarted_owner_resumes_from_the_journal_exactly(db: Database) -> None:
    """Steps between checkpoints name the rows they ran: a new owner re-runs them and goes on
    as the first would have (the tamper already raised is not raised again)."""
    seed_cases(db, {"C1": 4})
    clock = Clock(T0 + timedelta(minutes=1))
    first = worker(db, 4, clock)
    first.step(BatchSource([], cursor=1, messages=0))  # checkpoint at the first step
    clock.now += timedelta(seconds=1)
    first.step(BatchSource([tamper("C1", 0.5, 1)], cursor=2, messages=1))  # journaled only
    second = worker(db, 4, clock)
    clock.now += timedelta(seconds=1)
    result = second.step(BatchSource([tamper("C1", 0.6, 2)], cursor=3, messages=1))
    assert second.replayed.steps == 1 and second.replayed.mismatched == 0
    assert result.opened == []  # the same episode, still open
    assert [a.kind for a in alarms(db)] == ["tamper"]


def test_the_embedded_pipeline_is_partition_zero_unfenced(db: Database) -> None:
    seed_cases(db, {"C1": 0})
    with db.session() as session:
        log.append(session, [tamper("C1", 0.5, 1)])
    pipeline = Pipeline(db, Settings(), Clock(T0 + timedelta(minutes=1)))
    result = pipeline.step()
    assert len(result.opened) == 1
    state = state_of(db, 0)
    assert (state.id, state.partition, state.term, state.processed) == (1, 0, 0, 1)
