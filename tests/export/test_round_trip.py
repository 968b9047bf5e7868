"""Export a lived centre's cases, import them into a fresh centre, compare field by field."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.export.conftest import Keys
from tests.export.story import Story
from vigie.export import keys
from vigie.export.case_export import ExportRequest, export_case
from vigie.export.importer import import_archive
from vigie.export.records import columns
from vigie.export.verify import verify
from vigie.store import Database, audit
from vigie.store.models import (
    Alarm,
    AlarmAction,
    AlarmEventRow,
    DeviceAssignment,
    ImportedRecord,
    LawAssessment,
    Observation,
    Person,
    Placement,
    Report,
    Zone,
)

PLACEMENT_LOCAL = ("id", "person_id", "protected_person_id", "judge_id", "prosecutor_id")
PLACEMENT_LOCAL += ("spip_id", "status", "changed")


def export(db: Database, ref: str, keys_: Keys, out: Path, sealed: bool) -> dict[str, Any]:
    recipient = keys.load_recipient(keys_.recipient_public) if sealed else None
    request = ExportRequest(ref, "admin1", recipient=recipient)
    return export_case(db, request, keys.load_signing_key(keys_.signing), out)


def snapshot(db: Database, case_ref: str) -> dict[str, Any]:
    """Everything about a case, as plain values, with this centre's own ids left out."""
    with db.reading() as s:
        p = s.scalars(select(Placement).where(Placement.case_ref == case_ref)).one()
        devices = {
            a.device_id
            for a in s.scalars(
                select(DeviceAssignment).where(DeviceAssignment.placement_id == p.id)
            )
        }
        alarms = list(s.scalars(select(Alarm).where(Alarm.case_ref == case_ref).order_by(Alarm.id)))
        alarm_ids = [a.id for a in alarms]
        return {
            "placement": columns(p, *PLACEMENT_LOCAL),
            "wearer": columns(s.get_one(Person, p.person_id), "id"),
            "victim": p.protected_person_id
            and columns(s.get_one(Person, p.protected_person_id), "id"),
            "judge": columns(p.judge, "id", "user_id"),
            "law": [
                columns(a, "id", "placement_id")
                for a in s.scalars(
                    select(LawAssessment)
                    .where(LawAssessment.placement_id == p.id)
                    .order_by(LawAssessment.id)
                )
            ],
            "zones": [
                columns(z, "id", "placement_id")
                for z in s.scalars(select(Zone).where(Zone.placement_id == p.id).order_by(Zone.id))
            ],
            "assignments": [
                columns(a, "id", "placement_id")
                for a in s.scalars(
                    select(DeviceAssignment)
                    .where(DeviceAssignment.placement_id == p.id)
                    .order_by(DeviceAssignment.id)
                )
            ],
            "observations": sorted(
                (
                    # Where it was received is this centre's to say: `imported_from` (checked
                    # apart, in the round trip).
                    columns(o, "id", "imported_from")
                    for o in s.scalars(select(Observation).where(Observation.device.in_(devices)))
                ),
                key=lambda o: (o["device"], o["dedup_key"]),
            ),
            "alarms": [
                # `imported_from` as for observations: checked apart, in the round trip.
                columns(
                    a,
                    "id",
                    "placement_id",
                    "acknowledged_by",
                    "held_by",
                    "closed_by",
                    "imported_from",
                )
                for a in alarms
            ],
            "events": sorted(
                (
                    columns(e, "id", "alarm_id") | {"in_episode": e.alarm_id is not None}
                    for e in s.scalars(
                        select(AlarmEventRow).where(AlarmEventRow.case_ref == case_ref)
                    )
                ),
                key=lambda e: (e["t"], e["kind"], e["device"], e["state"], e["in_episode"]),
            ),
            "actions": [
                columns(a, "id", "alarm_id", "user_id", "to_user_id")
                for a in s.scalars(
                    select(AlarmAction)
                    .where(AlarmAction.alarm_id.in_(alarm_ids))
                    .order_by(AlarmAction.id)
                )
            ],
            "reports": [
                columns(r, "id", "alarm_id")
                for r in s.scalars(
                    select(Report).where(Report.alarm_id.in_(alarm_ids)).order_by(Report.id)
                )
            ],
        }


def test_round_trip_field_by_field(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archives = {}
    for ref in ("C1", "C2"):
        archives[ref] = tmp_path / f"{ref}.zip"
        manifest = export(db, ref, export_keys, archives[ref], sealed=True)
        assert manifest["protected_data"]["status"] == "sealed"
        assert verify(archives[ref]).manifest == json.loads(
            zipfile.ZipFile(archives[ref]).read("manifest.json")
        )
    victim_key = keys.load_recipient_private(export_keys.recipient_private)
    for ref in ("C1", "C2"):
        result = import_archive(other, archives[ref], "admin9", victim_key=victim_key)
        assert result.protected_data == "imported"
        assert result.added["observations"] > 0
        before, after = snapshot(db, ref), snapshot(other, ref)
        for part in before:
            assert after[part] == before[part], part
    with other.reading() as s:
        imported = s.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        assert imported.status == "imported"
        # Every imported reading names the centre it came from; none was received here.
        marks = set(s.scalars(select(Observation.imported_from)))
        assert marks == {verify(archives["C1"]).fingerprint}
        with db.reading() as here:
            assert set(here.scalars(select(Observation.imported_from))) == {None}
            assert set(here.scalars(select(Alarm.imported_from))) == {None}
        # So is every imported alarm: that centre's record, never worked here.
        assert set(s.scalars(select(Alarm.imported_from))) == marks
        origin = s.scalars(
            select(ImportedRecord).where(
                ImportedRecord.kind == "placements", ImportedRecord.local_id == str(imported.id)
            )
        ).one()
        assert origin.detail["status"] == "active"
        # Who worked the alarm in the other centre is kept, by name.
        actors = {
            r.detail.get("user")
            for r in s.scalars(select(ImportedRecord).where(ImportedRecord.kind == "alarm_actions"))
        }
        assert actors == {"operator1"}
        audited = s.scalars(select(ImportedRecord).where(ImportedRecord.kind == "audit_log")).all()
        assert any(r.detail["entry"]["action"] == "create" for r in audited)
        assert audit.verify(s)[1] is None


def test_a_second_import_changes_nothing(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    first = import_archive(other, archive, "admin9")
    before = snapshot(other, "C1")
    second = import_archive(other, archive, "admin9")
    assert second.added == {}
    assert second.skipped["observations"] == first.added["observations"]
    assert snapshot(other, "C1") == before
