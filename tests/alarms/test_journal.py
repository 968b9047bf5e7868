"""The step journal (issue 13): each step commits what it consumed and its clock with its alarm
events; the engine is checkpointed every few seconds without its placements; a restart restores
the checkpoint and re-runs the journaled steps exactly; placements are read by watermark."""

from __future__ import annotations

import itertools
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.alarms.test_pipeline import SCRIPT, T0, Clock, seed, store
from tests.cases import factories as make
from vigie.alarms import journal
from vigie.alarms.journal import StoreWentBack
from vigie.alarms.pipeline import Pipeline
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn, ZoneIn
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import AlarmEventRow, EnginePlacement, EngineState, EngineStep, Placement

RARELY = Settings(escalation_after_s=3600, checkpoint_s=3600)  # one checkpoint: the first step


def events(db: Database) -> list[tuple[object, ...]]:
    with db.session() as session:
        return [
            (e.t, e.case_ref, e.kind, e.state, e.device)
            for e in session.scalars(select(AlarmEventRow).order_by(AlarmEventRow.id))
        ]


def test_a_restart_re_runs_the_journaled_steps_exactly(db: Database) -> None:
    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, RARELY, clock)  # never restarted: its engine is the reference
    for i, batch in enumerate(SCRIPT):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
    # A crash: the process gone, a new one restores the checkpoint of the first step and re-runs
    # the four journaled steps after it.
    restarted = Pipeline(db, RARELY, clock)
    with db.reading() as session:
        restarted._load(session, clock.now)
    assert restarted.replayed.steps == len(SCRIPT) - 1
    assert restarted.replayed.mismatched == 0
    assert restarted._engine is not None and pipeline._engine is not None
    assert restarted._engine.snapshot() == pipeline._engine.snapshot()
    assert restarted._cursor == pipeline._cursor
    before = events(db)
    clock.now += timedelta(minutes=1)
    restarted.step()  # nothing new: no event stored twice
    assert events(db) == before


def test_a_detector_that_outlived_its_last_step_runs_it_again(db: Database) -> None:
    """The database lost the detector's last step (a crash or failover before that commit,
    made without waiting for the disk, reached it; a restore) while the detector lived on:
    its next step finds the journal short of the step it ran, drops its engine, and the step
    after restores it from the store and runs the lost step's readings again."""
    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, RARELY, clock)
    for i, batch in enumerate(SCRIPT[:3]):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
    with db.session() as session:  # the zone's entry: its step lost, its readings kept
        lost = session.get_one(EngineStep, pipeline._step)
        session.delete(lost)
        session.execute(delete(AlarmEventRow).where(AlarmEventRow.kind == "zone_entry"))
    store(db, *SCRIPT[3])
    clock.now = T0 + timedelta(minutes=3.9)
    kept = events(db)
    with pytest.raises(StoreWentBack):
        pipeline.step()
    assert pipeline._engine is None and events(db) == kept  # that step committed nothing
    pipeline.step()
    assert pipeline.replayed.steps == 1  # the step before the lost one; then the lost and new
    found = [(kind, state) for _, _, kind, state, _ in events(db)]
    assert found.count(("zone_entry", "raised")) == 1  # raised again, once
    assert ("zone_entry", "cleared") in found and ("absence", "cleared") in found
    with db.reading() as session:
        assert journal.last_step(session) == pipeline._step


def test_steps_write_no_placements_and_checkpoint_only_at_their_cadence(db: Database) -> None:
    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, RARELY, clock)
    for i, batch in enumerate(SCRIPT):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
    with db.session() as session:
        state = session.get_one(EngineState, 1)
        steps = list(session.scalars(select(EngineStep).order_by(EngineStep.id)))
    assert state.step == steps[0].id  # the first step's checkpoint, not one per step
    assert state.cursor == steps[0].cursor_to
    assert len(steps) == len(SCRIPT)
    assert steps[0].placements and steps[0].placements[0][0] == "C1"  # the placement came in
    for step in steps[1:]:
        assert step.placements == []  # no placement changed: none written
        row = len(step.digest) + len(str(step.placements)) + 8 * 3 + 4
        assert row < 100  # a step's journal row: tens of bytes, whatever the number of cases
    assert [s.cursor_to for s in steps] == sorted(s.cursor_to for s in steps)
    assert all(a.cursor_to == b.cursor_from for a, b in itertools.pairwise(steps))
    # The engine's checkpoint holds no placement: they are a table of their own.
    text = zlib.decompress(state.snapshot or b"")
    assert b'"placements":null' in text and b"coordinates" not in text


def test_a_checkpoint_every_few_seconds_drops_the_journal_before_it(db: Database) -> None:
    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600, checkpoint_s=0), clock)
    for i, batch in enumerate(SCRIPT):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
    with db.session() as session:
        state = session.get_one(EngineState, 1)
        left = session.scalar(select(func.count()).select_from(EngineStep))
        watched = session.get_one(EnginePlacement, "C1")
    assert left == 1 and state.step == pipeline._step  # the checkpoint's own step kept
    assert watched.record is not None and watched.record["case"] == "C1"
    restarted = Pipeline(db, RARELY, clock)
    with db.reading() as session:
        restarted._load(session, clock.now)
    assert restarted.replayed.steps == 0
    assert restarted._engine is not None and pipeline._engine is not None
    assert restarted._engine.snapshot() == pipeline._engine.snapshot()


def test_a_placement_change_is_picked_up_by_its_watermark(db: Database) -> None:
    placement_id = seed(db)
    with db.session() as session:
        wearer, who = make.person(session, "Other"), make.contacts(session)
        other = placements.create(session, make.placement_form(wearer, who, case_ref="C2"), "t")
        devices.create_device(session, DeviceIn(id="B2", kind="bracelet"), "t")
        devices.create_device(session, DeviceIn(id="H2", kind="home_unit"), "t")
        devices.assign(session, other, AssignmentIn(device_id="B2", role="wearer"), "t")
        devices.assign(session, other, AssignmentIn(device_id="H2", role="home_unit"), "t")
    clock = Clock(T0)
    pipeline = Pipeline(db, RARELY, clock)
    pipeline.step()
    first_mark = pipeline._mark
    assert first_mark > 0
    clock.now += timedelta(seconds=1)
    pipeline.step()
    with db.session() as session:
        placement = session.get_one(Placement, placement_id)
        zone = ZoneIn(id="Z2", type="exclusion", geometry=make.square(47.0, 3.0, 0.01))
        placements.put_zone(session, placement, zone, "clerk")
    clock.now += timedelta(seconds=1)
    pipeline.step()
    with db.session() as session:
        steps = list(session.scalars(select(EngineStep).order_by(EngineStep.id)))
    assert steps[1].placements == []
    assert [c[0] for c in steps[2].placements] == ["C1"]  # only the case that changed
    assert pipeline._mark > first_mark
    assert pipeline._engine is not None
    record = pipeline._engine.placement("C1")
    assert record is not None and {z["id"] for z in record["zones"]} == {"Z1", "Z2"}
    # A restart re-runs that change from the journal, then takes the checkpoint's placements.
    restarted = Pipeline(db, RARELY, clock)
    with db.reading() as session:
        restarted._load(session, clock.now)
    assert restarted._engine is not None
    assert restarted._engine.snapshot() == pipeline._engine.snapshot()
    clock.now += timedelta(seconds=1)
    restarted.step()
    with db.session() as session:
        last = session.scalars(select(EngineStep).order_by(EngineStep.id.desc())).first()
    assert last is not None and last.placements == []  # nothing applied twice


def test_a_snapshot_saved_before_the_journal_is_taken_up(db: Database) -> None:
    """A centre upgraded from whole snapshots per step: its engine goes on from that snapshot,
    and its first checkpoint moves the placements to their table."""
    seed(db)
    clock = Clock(T0)
    store(db, *SCRIPT[0])
    clock.now = T0 + timedelta(minutes=0.9)
    old = Pipeline(db, RARELY, clock)
    old.step()
    assert old._engine is not None
    with db.session() as session:  # what the pipeline before issue 13 left
        state = session.get_one(EngineState, 1)
        state.snapshot, state.placements, state.step, state.mark = (
            old._engine.snapshot(),
            dict(old._revisions),
            0,
            0,
        )
        session.execute(EngineStep.__table__.delete())
        session.execute(EnginePlacement.__table__.delete())
    upgraded = Pipeline(db, RARELY, clock)
    store(db, *SCRIPT[1])
    clock.now = T0 + timedelta(minutes=1.9)
    upgraded.step()
    assert upgraded.replayed.steps == 0
    # The same step through the engine that never stopped (two pipelines on one database:
    # the reference goes on from the journal's last step, the upgraded one's).
    old._step = upgraded._step
    old.step()
    assert upgraded._engine is not None
    assert upgraded._engine.snapshot() == old._engine.snapshot()
    with db.session() as session:
        state = session.get_one(EngineState, 1)
        moved = session.get_one(EnginePlacement, "C1")
    assert state.placements == {} and moved.revision == old._revisions["C1"]
    assert b"coordinates" not in zlib.decompress(state.snapshot or b"")


def test_zone_set_ups_stored_by_an_older_version_are_stored_again_with_their_sectors(
    db: Database,
) -> None:
    """A blob from before sector bounds were stored seeds its shape but leaves its sectors to
    be made at every restart (~2 s at 16,000 cases): the first checkpoint after a restart
    stores it again, complete."""
    from vigie.detect import zones
    from vigie.store.models import EngineShape

    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600, checkpoint_s=0), clock)
    for i, batch in enumerate(SCRIPT[:2]):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
    head, mark, sectors = zones._BLOB_HEAD.size, len(zones._BLOB_MARK), zones._BLOB_SECTORS
    with db.session() as session:
        stored = list(session.scalars(select(EngineShape)))
        assert stored and all(zones.blob_is_current(s.blob) for s in stored)
        for shape in stored:  # as the older version wrote it: head and WKB only
            shape.blob = shape.blob[mark:][:head] + shape.blob[mark + head + sectors :]
    restarted = Pipeline(db, Settings(escalation_after_s=3600, checkpoint_s=0), clock)
    for i, batch in enumerate(SCRIPT[2:4], start=2):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        restarted.step()
    with db.session() as session:
        again = {s.digest: s.blob for s in session.scalars(select(EngineShape))}
    assert again.keys() == {s.digest for s in stored}
    assert all(zones.blob_is_current(blob) for blob in again.values())
