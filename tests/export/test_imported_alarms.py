"""Alarms imported with a case are another centre's record, not this centre's work: an alarm
still open at the source is not escalated here, not in the queue, not taken by an operator
(whose holding a BAR alert would show the protected person's position), and not counted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Centre
from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from vigie import clock
from vigie.alarms import workflow
from vigie.alarms.errors import AlarmStateError
from vigie.api import create_app
from vigie.export import keys
from vigie.export.importer import import_archive
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, User


@pytest.fixture
def here(other: Database, other_url: str) -> Iterator[Centre]:
    """The importing centre's API, on its own database."""
    with TestClient(create_app(Settings(database_url=other_url, run_pipeline=False))) as client:
        yield Centre(client, other)


def test_an_alarm_open_at_the_source_is_a_record_here(
    db: Database,
    here: Centre,
    story: Story,
    export_keys: Keys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with db.session() as session:
        still_open = [
            (a.kind, a.status)
            for a in session.scalars(select(Alarm).where(Alarm.case_ref == "C2"))
            if a.status == "open"
        ]
    assert still_open  # the BAR case left its pre-alert or alert open at the source
    archive = tmp_path / "C2.zip"
    export(db, "C2", export_keys, archive, sealed=True)
    victim_key = keys.load_recipient_private(export_keys.recipient_private)
    import_archive(here.db, archive, "admin9", victim_key=victim_key)
    later = story.end + timedelta(days=1)  # long past every escalation delay
    monkeypatch.setattr(clock, "now", lambda: later)

    operator = here.headers("operator")  # before: escalation holds SQLite's writer
    with here.db.session() as session:
        imported = list(session.scalars(select(Alarm).where(Alarm.status == "open")))
        assert {(a.kind, a.status) for a in imported} == set(still_open)
        assert workflow.escalate_overdue(session, later, 60) == []
        me = session.scalars(select(User).where(User.username == "operator1")).one()
        for alarm in imported:
            with pytest.raises(AlarmStateError, match="another centre"):
                workflow.acknowledge(session, alarm, me, later)
    queue = here.client.get("/api/alarms", headers=operator)
    assert queue.status_code == 200 and queue.json() == []
    assert queue.headers["X-Total-Count"] == "0"
    asked = here.client.get("/api/alarms", params={"imported": True}, headers=operator).json()
    assert {a["id"] for a in asked} == {a.id for a in imported}
    assert all(a["imported_from"] for a in asked)
    taken = here.client.post(f"/api/alarms/{imported[0].id}/acknowledge", headers=operator)
    assert taken.status_code == 409, taken.text
    handed = here.client.post(
        f"/api/alarms/{imported[0].id}/hand-over",
        json={"to": "operator1", "reason": "relève"},
        headers=here.headers("supervisor"),
    )
    assert handed.status_code == 409 and "another centre" in handed.json()["message"]
    figures = here.client.get("/api/console/supervision", headers=here.headers("supervisor"))
    assert figures.json()["open_per_operator"] == [{"operator": None, "count": 0}]
