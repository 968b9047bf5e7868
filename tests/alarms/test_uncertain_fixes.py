"""Issue 20 in the live centre: a fix too coarse to decide marks the device uncertain and asks
it for a fresh fix (a `locate` command); confirmation bounds come from the settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from tests.alarms.test_pipeline import T0, Clock, fix, seed, store
from tests.cases import factories as make
from vigie.alarms.pipeline import PartitionStep, Pipeline
from vigie.alarms.sources import BatchSource
from vigie.cases import devices, placements
from vigie.cases.detection import placement_record
from vigie.cases.forms import AssignmentIn
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.engine_state import StateRow
from vigie.store.models import Alarm, Device, DeviceAssignment, DeviceCommand, Placement


def coarse(minutes: float) -> dict:
    """A cell-tower fix inside zone Z1 (a 550 m square), 3 km accuracy."""
    return fix(minutes, 48.90, 2.40) | {"accuracy_m": 3000.0}


def stepper(db: Database) -> Callable[[dict, float], None]:
    """Case C1 seeded; a function that stores a record and runs a step `seconds` after T0."""
    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600), clock)

    def step(record: dict, seconds: float) -> None:
        store(db, record)
        clock.now = T0 + timedelta(seconds=seconds)
        pipeline.step()

    return step


def test_a_coarse_fix_marks_the_device_uncertain_and_asks_for_a_fix(db: Database) -> None:
    step = stepper(db)
    step(coarse(0), 30)
    with db.session() as session:
        assert session.scalars(select(Alarm)).all() == []  # decides nothing on its own
        assert session.get_one(Device, "B1").uncertain_since is not None
        asked = session.scalars(select(DeviceCommand).where(DeviceCommand.kind == "locate")).all()
        assert [(c.device_id, c.state, c.requested_by) for c in asked] == [
            ("B1", "queued", "pipeline")
        ]
    step(coarse(1), 90)  # still coarse: one standing request, not a second
    step(fix(2, 48.90, 2.40), 150)  # a precise fix decides: the breach, and certain again
    with db.session() as session:
        assert session.get_one(Device, "B1").uncertain_since is None
        kinds = session.scalars(select(DeviceCommand.kind).order_by(DeviceCommand.id)).all()
        assert kinds == ["locate", "report_every"]  # one locate; the alarm raised the rate
        assert session.scalars(select(Alarm.kind)).all() == ["zone_entry"]


def test_a_locate_past_its_expiry_no_longer_stands_for_a_new_request(db: Database) -> None:
    """Not yet marked expired (the gateway's delivery loop does that), it will never be sent:
    a new coarse fix asks again."""
    step = stepper(db)
    step(coarse(0), 30)
    step(fix(1, 48.91, 2.41), 90)  # precise, outside: certain again
    step(coarse(3), 210)  # uncertain again, once the first locate's 120 s are over
    with db.session() as session:
        asked = session.scalars(
            select(DeviceCommand.state).where(DeviceCommand.kind == "locate")
        ).all()
    assert asked == ["queued", "queued"]


def test_the_placement_record_carries_the_settings_confirmation_bounds(db: Database) -> None:
    placement_id = seed(db)
    config = Settings(breach_confirm_s={"ddse": 600}, alert_confirm_s=60)
    with db.session() as session:
        record = placement_record(session.get_one(Placement, placement_id), config)
    assert record is not None and record["confirm_s"] == 600
    assert "alert_confirm_s" not in record  # a BAR setting only


def test_a_device_moved_to_another_partition_loses_its_mark_there(db: Database) -> None:
    """The marks are written only when a step's uncertain devices or placements changed: the
    partition a marked device moves to unmarks it at the step that learns of the move, though
    its own uncertain devices stay the same, and the one it left does not mark it again."""
    left_case = seed(db)  # C1 (zone Z1) with B1
    with db.session() as session:
        session.get_one(Placement, left_case).partition = 0
        who = make.contacts(session)
        moved_to = placements.create(
            session, make.placement_form(make.person(session), who, case_ref="C2"), "t"
        )
        moved_to.partition = 1
    clock = Clock(T0 + timedelta(seconds=30))
    left, joined = (PartitionStep(db, Settings(), clock, state=StateRow(p)) for p in (0, 1))
    for step in (left, joined):
        step.claim()
    joined.step(BatchSource([], 0, 0))  # partition 1 has stepped: nothing uncertain there
    t = T0 + timedelta(seconds=10)
    left.step(BatchSource([log.row_for(coarse(0), t, t, source="test")], 1, 1))
    with db.session() as session:
        assert session.get_one(Device, "B1").uncertain_since is not None
        for assignment in session.scalars(select(DeviceAssignment)):  # both of C1's
            assignment.until = clock.now
        session.get_one(Placement, left_case).revision += 1
        for device, role in (("B1", "wearer"), ("H1", "home_unit")):
            target = session.get_one(Placement, moved_to.id)
            devices.assign(session, target, AssignmentIn(device_id=device, role=role), "t")
    clock.now += timedelta(seconds=5)
    joined.step(BatchSource([], 0, 0))
    with db.session() as session:
        assert session.get_one(Device, "B1").uncertain_since is None
    left.step(BatchSource([], 1, 0))
    with db.session() as session:
        assert session.get_one(Device, "B1").uncertain_since is None
