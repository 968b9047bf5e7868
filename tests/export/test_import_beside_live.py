"""An imported case's past beside a live case of this centre that wears the same bracelet."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cases import factories as make
from tests.export.story import Story
from tests.export.story import fix as story_fix
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.api.security import create_user
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.export.importer import import_archive
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Alarm, AlarmEventRow, Observation, User


def test_an_imported_past_raises_nothing_on_a_live_case_with_the_same_bracelet(
    db: Database,
    other: Database,
    story: Story,
    c1_archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = c1_archive
    now = {"t": story.end + timedelta(hours=1)}
    monkeypatch.setattr(clock, "now", lambda: now["t"])
    with other.session() as session:
        for role in ("admin", "judge", "prosecutor", "spip"):
            create_user(session, f"{role}1", "correct horse battery", role, role.title())
        users = {u.role: u.id for u in session.scalars(select(User))}
        wearer = make.person(session)
        who = make.contacts(session, {r: users[r] for r in ("judge", "prosecutor", "spip")})
        # The same zone as C1's, where C1's wearer went between minutes 30 and 34.
        zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(48.90, 2.40, 0.005)}
        live = placements.create(
            session, make.placement_form(wearer, who, case_ref="L1", zones=[zone]), "admin1"
        )
        for device, kind, role in (("B1", "bracelet", "wearer"), ("H9", "home_unit", "home_unit")):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "admin1")
            devices.assign(session, live, AssignmentIn(device_id=device, role=role), "admin1")
    pipeline = Pipeline(other, Settings(escalation_after_s=10**6), lambda: now["t"])
    pipeline.step()
    import_archive(other, archive, "admin1")
    now["t"] += timedelta(seconds=30)
    step = pipeline.step()
    with other.reading() as s:
        raised = [(a.case_ref, a.kind) for a in s.scalars(select(Alarm))]
        events = [(e.case_ref, e.kind) for e in s.scalars(select(AlarmEventRow))]
        last = s.scalar(select(func.max(Observation.id)))
    # C1's alarms came with its archive; the live case raised nothing from C1's past (it
    # entered L1's zone between minutes 30 and 34, hours before).
    assert ("C1", "zone_entry") in raised
    assert [e for e in events if e[0] == "L1"] == [], events
    assert step.cursor == last and step.quarantined == 0  # passed over, not quarantined
    # The live case is watched as before: the bracelet, now, in its zone.
    with other.session() as session:
        record = story_fix("B1", now["t"], 48.90, 2.40, 10**8)
        log.append(session, [log.row_for(record, now["t"], now["t"], source="test")])
    now["t"] += timedelta(seconds=30)
    pipeline.step()
    with other.reading() as s:
        live_alarms = [a.kind for a in s.scalars(select(Alarm).where(Alarm.case_ref == "L1"))]
    assert live_alarms == ["zone_entry"]
