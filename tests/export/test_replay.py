"""After import, replaying the imported observations through the detection engine gives the
alarm events the exporting centre raised: exact replay across centres."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.export.conftest import Keys
from tests.export.story import Story, iso
from tests.export.test_round_trip import export
from vigie.cases.detection import placement_record
from vigie.detect import replay
from vigie.export.importer import import_archive
from vigie.store import Database
from vigie.store.models import AlarmEventRow, DeviceAssignment, Observation, Placement


def test_replaying_imported_observations_gives_the_same_alarm_events(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    import_archive(other, archive, "admin9")
    with other.reading() as session:
        placement = session.scalars(
            select(Placement)
            .where(Placement.case_ref == "C1")
            .options(selectinload(Placement.zones), selectinload(Placement.assignments))
        ).one()
        scenario = [json.dumps(placement_record(placement))]
        devices = [
            a.device_id
            for a in session.scalars(
                select(DeviceAssignment).where(DeviceAssignment.placement_id == placement.id)
            )
        ]
        observations = session.scalars(
            select(Observation).where(Observation.device.in_(devices)).order_by(Observation.t)
        )
        scenario += [json.dumps(o.record) for o in observations]
        imported_events = [
            (iso(e.t).replace("+00:00", "Z"), e.kind, e.state, e.device, e.detail)
            for e in session.scalars(
                select(AlarmEventRow)
                .where(AlarmEventRow.case_ref == "C1")
                .order_by(AlarmEventRow.t, AlarmEventRow.kind)
            )
        ]
    # The exporting centre's detection stepped (and so ticked) every ten minutes.
    scenario += [json.dumps({"kind": "tick", "t": iso(t)}) for t in story.steps]
    replayed = [
        (e.to_dict()["t"].replace(".000Z", "Z"), e.kind, e.state, e.device, e.detail)
        for e in replay(scenario)
    ]
    assert {k for _, k, *_ in replayed} >= {"absence", "zone_entry", "signal_lost"}
    assert replayed == imported_events
    assert any(e[1:3] == ("signal_lost", "cleared") for e in imported_events)
