"""A case whose measure ended leaves with its end and comes back with it: the archive holds to
its schema, and the imported case refuses changes and a second end as the source's did."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cases import factories as make
from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from tests.export.test_schemas import validators
from vigie import clock
from vigie.cases import CaseRefused, MeasureEnded, devices, ending, placements
from vigie.cases.forms import AssignmentIn, MeasureEndIn
from vigie.export.importer import import_archive
from vigie.store import Database
from vigie.store.models import DeviceAssignment, Person, Placement


def test_an_ended_case_is_exported_and_imported_with_its_end(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    form = MeasureEndIn(reason="revoked", decision_ref="JAP-2026-0200", note="retrait")
    with db.session() as session:
        case = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        done = ending.end(session, case, form, "supervisor1", clock.now())
        ended_at = case.ended_at
    assert done.released  # C1 wore devices until its end
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    whole = json.loads(zipfile.ZipFile(archive).read("case.json"))
    validators()["case"].validate(whole)
    placement = whole["placement"]
    assert placement["status"] == "ended"
    assert (placement["end_reason"], placement["end_ref"]) == ("revoked", "JAP-2026-0200")

    import_archive(other, archive, "admin9")
    with other.session() as session:
        imported = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        assert imported.status == "imported"
        assert (imported.ended_at, imported.end_reason, imported.ended_by) == (
            ended_at,
            "revoked",
            "supervisor1",
        )
        open_here = session.scalars(
            select(DeviceAssignment).where(
                DeviceAssignment.placement_id == imported.id, DeviceAssignment.until.is_(None)
            )
        ).all()
        assert open_here == []  # its devices are free for a case here
        with pytest.raises(MeasureEnded):
            ending.end(session, imported, form, "supervisor9", clock.now())


def test_ending_an_imported_case_frees_its_devices_for_a_case_here(
    other: Database, c1_archive: Path
) -> None:
    """An imported case that was active at the source keeps its devices' assignments open (not
    worn here): they could go to no case here until it ends."""
    import_archive(other, c1_archive, "admin9")
    with other.session() as session:
        imported = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        wearer = session.get_one(Person, imported.person_id)
        contacts = make.Contacts(imported.judge, imported.prosecutor, imported.spip)
        here = placements.create(session, make.placement_form(wearer, contacts), "admin9")
        take = AssignmentIn(device_id="B1", role="wearer")
        with pytest.raises(CaseRefused, match="assigned to another placement"):
            devices.assign(session, here, take, "supervisor9")
    with other.session() as session:
        imported = session.get_one(Placement, imported.id)
        done = ending.end(
            session, imported, MeasureEndIn(reason="term"), "supervisor9", clock.now()
        )
        assert sorted(done.released) == ["B1", "H1"]
        assert imported.status == "imported" and imported.end_reason == "term"
        devices.assign(session, session.get_one(Placement, here.id), take, "supervisor9")
