"""Migration 0016: applied on a populated database, refused (naming the rows) when stored rows
break the new unique rules; afterwards the database itself refuses a second open episode, a
second active assignment and the same alarm event twice."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import IntegrityError

from tests.cases import factories as make
from tests.conftest import fresh_database
from vigie.alarms import episodes, workflow
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.detect import AlarmEvent
from vigie.store import Database
from vigie.store.models import Alarm, AlarmEventRow, DeviceAssignment
from vigie.store.schema import alembic_config, upgrade

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0015(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database migrated up to 0015, the revision before partitions."""
    with fresh_database(request, request.param, tmp_path, migrated=False) as url:
        upgrade(url, "0015")
        engine = create_engine(url)
        yield url, engine
        engine.dispose()


def populate(engine: Engine, *, duplicates: bool = False) -> None:
    """What a centre of 0015 holds: a case with devices (one ended assignment), the engine's
    row, alarms open and closed of one (case, kind, device), their events."""
    now = "2026-11-23 20:00:00"
    with engine.begin() as conn:
        run = conn.execute
        run(
            text(
                "INSERT INTO persons (id, last_name, first_name, created_at) "
                "VALUES (1, 'M', 'A', :n)"
            ),
            {"n": now},
        )
        for i, role in enumerate(("judge", "prosecutor", "spip"), start=1):
            run(
                text("INSERT INTO contacts (id, role, name, email) VALUES (:i, :r, :r, 'x@y.fr')"),
                {"i": i, "r": role},
            )
        run(
            text(
                "INSERT INTO placements (id, case_ref, person_id, measure, court_order_ref, "
                "court_order_date, start_date, judge_id, prosecutor_id, spip_id, status, "
                "law_input, law_decision, schedule, protected_places, grace_s, "
                "signal_timeout_s, revision, created_at, updated_at) VALUES (1, 'C1', 1, 'ddse', "
                "'J', '2026-11-20', '2026-11-23', 1, 2, 3, 'active', '{}', '{}', '[]', '[]', 0, "
                "600, 1, :n, :n)"
            ),
            {"n": now},
        )
        for device, kind in (("B1", "bracelet"), ("B0", "bracelet")):
            run(
                text("INSERT INTO devices (id, kind, created_at) VALUES (:d, :k, :n)"),
                {"d": device, "k": kind, "n": now},
            )
        assignments = [("B0", now), ("B1", None), ("B1", now)] + ([("B0", None)] * 2 * duplicates)
        for device, until in assignments:
            run(
                text(
                    "INSERT INTO device_assignments (device_id, placement_id, role, since, until) "
                    "VALUES (:d, 1, 'wearer', :n, :u)"
                ),
                {"d": device, "n": now, "u": until},
            )
        run(
            text(
                "INSERT INTO engine_state (id, cursor, placements, updated_at, step, mark) "
                "VALUES (1, 7, '{}', :n, 3, 2)"
            ),
            {"n": now},
        )
        statuses = ["closed", "closed", "open"] + ["acknowledged"] * duplicates
        for i, status in enumerate(statuses, start=1):
            run(
                text(
                    "INSERT INTO alarms (id, case_ref, placement_id, kind, device, priority, "
                    "status, raised_at, opened_at, last_event_at, event_count, detail) VALUES "
                    "(:i, 'C1', 1, 'zone_breach', 'B1', 2, :s, :n, :n, :n, 1, '{}')"
                ),
                {"i": i, "s": status, "n": now},
            )
            for _ in range(2):  # the same event twice: stored before keys, both kept
                run(
                    text(
                        "INSERT INTO alarm_events (t, case_ref, kind, state, device, detail, "
                        "alarm_id, created_at) VALUES (:n, 'C1', 'zone_breach', 'raised', 'B1', "
                        "'{}', :i, :n)"
                    ),
                    {"i": i, "n": now},
                )


def test_0016_applies_on_a_populated_database(at_0015: tuple[str, Engine]) -> None:
    url, engine = at_0015
    populate(engine)
    upgrade(url)
    with engine.connect() as conn:
        state = conn.execute(
            text('SELECT id, "partition", term, processed, cursor, step FROM engine_state')
        ).one()
        assert tuple(state) == (1, 0, 0, 0, 7, 3)
        assert conn.execute(text('SELECT DISTINCT "partition" FROM alarms')).scalars().all() == [0]
        keys = conn.execute(text("SELECT event_key FROM alarm_events")).scalars().all()
        assert len(keys) == 6 and set(keys) == {None}
        placement = conn.execute(text('SELECT "partition" FROM placements')).scalar_one()
        assert placement == 0
    command.downgrade(alembic_config(url), "0015")  # and back, the rows kept
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alarm_events")).scalar_one() == 6


def test_0016_names_the_rows_it_cannot_make_unique(at_0015: tuple[str, Engine]) -> None:
    url, engine = at_0015
    populate(engine, duplicates=True)
    with pytest.raises(RuntimeError) as refused:
        upgrade(url)
    message = str(refused.value)
    assert "2 open alarms of case C1 kind zone_breach device B1" in message
    assert "2 active assignments of device B0" in message
    with engine.connect() as conn:  # nothing of it applied
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert revision == "0015"


def event(t: datetime, state: str = "raised") -> dict[str, object]:
    return {"t": t, "case": "C1", "kind": "tamper", "state": state, "device": "B1", "detail": {}}


def test_a_second_open_episode_is_refused_by_the_database(db: Database) -> None:
    with db.session() as session:
        (first,) = episodes.fold(session, [event(T0)], T0)
    with pytest.raises(IntegrityError), db.session() as session:
        copy = {c: getattr(first, c) for c in ("case_ref", "kind", "device", "priority")}
        session.add(Alarm(**copy, status="acknowledged", raised_at=T0, opened_at=T0,
                          last_event_at=T0, detail={}))  # fmt: skip
        session.flush()
    with db.session() as session:  # once closed, the next breach opens a new episode
        session.get_one(Alarm, first.id).status = "closed"
        (second,) = episodes.fold(session, [event(T0 + timedelta(minutes=1))], T0)
    assert second.id != first.id


def test_a_second_active_assignment_is_refused_by_the_database(db: Database) -> None:
    with db.session() as session:
        who = make.contacts(session)
        one, two = (
            placements.create(
                session, make.placement_form(make.person(session), who, case_ref=ref), "t"
            )
            for ref in ("C1", "C2")
        )
        devices.create_device(session, DeviceIn(id="B1", kind="bracelet"), "t")
        devices.assign(session, one, AssignmentIn(device_id="B1", role="wearer"), "t")
        two_id = two.id
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(DeviceAssignment(device_id="B1", placement_id=two_id, role="wearer"))
        session.flush()
    with db.session() as session:  # the same device again in its own case: the old one ends
        devices.assign(
            session,
            session.get_one(type(one), one.id),
            AssignmentIn(device_id="B1", role="wearer"),
            "t",
        )
        active = session.scalars(
            select(DeviceAssignment).where(DeviceAssignment.until.is_(None))
        ).all()
    assert len(active) == 1


def test_the_same_alarm_event_is_stored_once(db: Database) -> None:
    before = episodes.duplicate_events
    with db.session() as session:
        (alarm,) = episodes.fold(session, [event(T0)], T0)
    with db.session() as session:  # re-produced (a step re-run): skipped, counted
        assert episodes.fold(session, [event(T0), event(T0, "cleared")], T0) == []
    with db.reading() as session:
        rows = session.scalars(select(AlarmEventRow).order_by(AlarmEventRow.id)).all()
        stored = session.get_one(Alarm, alarm.id)
    assert [r.state for r in rows] == ["raised", "cleared"]
    assert all(r.alarm_id == alarm.id and r.event_key for r in rows)
    assert stored.event_count == 2  # the copy was not folded in
    assert episodes.duplicate_events == before + 1
    assert rows[0].event_key == episodes.event_key(event(T0))


def test_an_engine_events_key_is_the_digest_of_its_json() -> None:
    for t in (T0, T0 + timedelta(milliseconds=250)):
        found = AlarmEvent(t, "C1", "tamper", "raised", "B1", {"what": "strap_cut"}, t)
        as_folded = found.to_dict() | {"t": t, "detected_at": t}
        digest = hashlib.blake2b(found.to_json().encode(), digest_size=16).hexdigest()
        assert episodes.event_key(as_folded) == digest


def test_a_partition_escalates_its_own_alarms_only(db: Database) -> None:
    with db.session() as session:
        (mine,) = episodes.fold(session, [event(T0)], T0, partition=1)
        (other,) = episodes.fold(session, [event(T0) | {"case": "C2"}], T0, partition=2)
    later = T0 + timedelta(hours=1)
    with db.session() as session:
        assert [a.id for a in workflow.escalate_overdue(session, later, 60, partition=1)] == [
            mine.id
        ]
    with db.session() as session:  # unscoped (embedded): every partition's
        assert [a.id for a in workflow.escalate_overdue(session, later, 60)] == [other.id]
