"""Issue 20 in the live centre: a fix too coarse to decide marks the device uncertain and asks
it for a fresh fix (a `locate` command); confirmation bounds come from the settings."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.alarms.test_pipeline import T0, Clock, fix, seed, store
from vigie.alarms.pipeline import Pipeline
from vigie.cases.detection import placement_record
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, Device, DeviceCommand, Placement


def coarse(minutes: float) -> dict:
    """A cell-tower fix inside zone Z1 (a 550 m square), 3 km accuracy."""
    return fix(minutes, 48.90, 2.40) | {"accuracy_m": 3000.0}


def test_a_coarse_fix_marks_the_device_uncertain_and_asks_for_a_fix(db: Database) -> None:
    seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600), clock)
    store(db, coarse(0))
    clock.now = T0 + timedelta(seconds=30)
    pipeline.step()
    with db.session() as session:
        assert session.scalars(select(Alarm)).all() == []  # decides nothing on its own
        assert session.get_one(Device, "B1").uncertain_since is not None
        asked = session.scalars(select(DeviceCommand).where(DeviceCommand.kind == "locate")).all()
        assert [(c.device_id, c.state, c.requested_by) for c in asked] == [
            ("B1", "queued", "pipeline")
        ]
    store(db, coarse(1))  # still coarse: one standing request, not a second
    clock.now = T0 + timedelta(seconds=90)
    pipeline.step()
    store(db, fix(2, 48.90, 2.40))  # a precise fix decides: the breach, and certain again
    clock.now = T0 + timedelta(seconds=150)
    pipeline.step()
    with db.session() as session:
        assert session.get_one(Device, "B1").uncertain_since is None
        kinds = session.scalars(select(DeviceCommand.kind).order_by(DeviceCommand.id)).all()
        assert kinds == ["locate", "report_every"]  # one locate; the alarm raised the rate
        assert session.scalars(select(Alarm.kind)).all() == ["zone_entry"]


def test_the_placement_record_carries_the_settings_confirmation_bounds(db: Database) -> None:
    placement_id = seed(db)
    config = Settings(breach_confirm_s={"ddse": 600}, alert_confirm_s=60)
    with db.session() as session:
        record = placement_record(session.get_one(Placement, placement_id), config)
    assert record is not None and record["confirm_s"] == 600
    assert "alert_confirm_s" not in record  # a BAR setting only
