"""A case whose bracelet was withdrawn (lost at the end of the measure) leaves with that mark, to
its schema; at the importing centre the device arrives out of service, and no case takes it."""

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
from vigie.cases import DeviceWithdrawn, devices, ending, placements, withdrawal
from vigie.cases.forms import AssignmentIn, DeviceWithdrawalIn, MeasureEndIn
from vigie.export.importer import import_archive
from vigie.store import Database
from vigie.store.models import Device, Person, Placement


def test_a_withdrawn_device_is_exported_and_imported_out_of_service(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    lost = DeviceWithdrawalIn(reason="lost", note="not handed back at the end of the measure")
    with db.session() as session:
        case = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        done = ending.end(session, case, MeasureEndIn(reason="term"), "supervisor1", clock.now())
        assert "B1" in done.released
        withdrawal.withdraw(session, "B1", lost, "supervisor1", clock.now())
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    whole = json.loads(zipfile.ZipFile(archive).read("case.json"))
    validators()["case"].validate(whole)
    (b1,) = [d for d in whole["devices"] if d["id"] == "B1"]
    assert (b1["withdrawn_reason"], b1["withdrawn_by"]) == ("lost", "supervisor1")
    assert b1["withdrawn_note"] == lost.note and b1["withdrawn_at"].endswith("Z")
    assert "secret_hash" not in b1

    import_archive(other, archive, "admin9")
    with other.session() as session:
        imported = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        assert session.get_one(Device, "B1").withdrawn_reason == "lost"
        wearer = session.get_one(Person, imported.person_id)
        contacts = make.Contacts(imported.judge, imported.prosecutor, imported.spip)
        here = placements.create(session, make.placement_form(wearer, contacts), "admin9")
        with pytest.raises(DeviceWithdrawn, match="reinstate it first"):
            devices.assign(session, here, AssignmentIn(device_id="B1", role="wearer"), "sup9")
