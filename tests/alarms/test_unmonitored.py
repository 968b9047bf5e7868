"""A placement detection cannot watch as it is saved is an alarm in the operators' queue (not
only a log line) once it stays so past a grace, until a change of the case is watched or leaves
nothing to watch (vigie.alarms.unmonitored)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from tests.alarms.test_pipeline import Clock
from tests.cases import factories as make
from vigie import clock
from vigie.alarms import workflow
from vigie.alarms.narrative import event_sentence
from vigie.alarms.obligations import PRIORITY
from vigie.alarms.pipeline import FAULT_LINES, Pipeline
from vigie.alarms.unmonitored import Fault, Unwatched
from vigie.api.security import create_user
from vigie.cases import devices, ending, placements
from vigie.cases.forms import AssignmentIn, DeviceIn, MeasureEndIn
from vigie.detect import ScenarioError
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import (
    Alarm,
    AlarmEventRow,
    AuditEntry,
    DeviceAssignment,
    Placement,
    UnwatchedPlacement,
    User,
)

GRACE_S = 300.0
CONFIG = Settings(escalation_after_s=3600, unmonitored_after_s=GRACE_S)


def _placement(db: Database, case: str, measure: str = "ddse") -> int:
    """A case with its wearer's bracelet assigned and nothing else: a DDSE with no home unit,
    a BAR measure with neither her device nor a protected place."""
    with db.session() as session:
        who = make.contacts(session)
        wearer = make.person(session, last_name=f"Person{case}")
        extra: dict[str, Any] = {}
        if measure == "bar":
            extra["protected_person_id"] = make.person(session, last_name="Protected").id
        form = make.placement_form(wearer, who, measure, case_ref=case, **extra)
        placement = placements.create(session, form, "t")
        devices.create_device(session, DeviceIn(id=f"B-{case}", kind="bracelet"), "t")
        devices.assign(session, placement, AssignmentIn(device_id=f"B-{case}", role="wearer"), "t")
        return placement.id


def _home_unit(db: Database, placement_id: int, device: str) -> None:
    with db.session() as session:
        placement = session.get(Placement, placement_id)
        assert placement is not None
        devices.create_device(session, DeviceIn(id=device, kind="home_unit"), "t")
        devices.assign(session, placement, AssignmentIn(device_id=device, role="home_unit"), "t")


def _home_unit_unchanged(db: Database, placement_id: int, device: str) -> None:
    """A home unit's assignment written as it stands, the case's revision unchanged: what was
    refused becomes watchable as a new release would find it."""
    with db.session() as session:
        devices.create_device(session, DeviceIn(id=device, kind="home_unit"), "t")
        session.add(
            DeviceAssignment(
                device_id=device, placement_id=placement_id, role="home_unit", since=clock.now()
            )
        )


def _alarms(db: Database, case: str) -> list[Alarm]:
    with db.session() as session:
        found = list(
            session.scalars(
                select(Alarm).where(Alarm.case_ref == case, Alarm.kind == "unmonitored")
            )
        )
        session.expunge_all()
        return found


def _events(db: Database, case: str) -> list[tuple[str, dict[str, Any]]]:
    with db.session() as session:
        rows = session.execute(
            select(AlarmEventRow.state, AlarmEventRow.detail)
            .where(AlarmEventRow.case_ref == case, AlarmEventRow.kind == "unmonitored")
            .order_by(AlarmEventRow.id)
        ).all()
    return [(state, detail) for state, detail in rows]


def _pending(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(UnwatchedPlacement)) or 0


def test_an_incomplete_measure_is_an_alarm_past_the_grace_until_completed(db: Database) -> None:
    placement = _placement(db, "C9")
    now = Clock(clock.now())
    Pipeline(db, CONFIG, now).step()
    assert _alarms(db, "C9") == []  # within the grace: a case set up device by device
    with db.session() as session:  # audited at once, as before
        audited = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "placement_not_monitored")
        ).all()
    assert audited == [f"placement:{placement}"]
    # A detector restarted meanwhile still raises it on time, and once.
    restarted = Pipeline(db, CONFIG, now)
    now.now += timedelta(seconds=GRACE_S + 1)
    restarted.step()
    (alarm,) = _alarms(db, "C9")
    assert (alarm.device, alarm.status, alarm.cleared_at) == ("B-C9", "open", None)
    assert alarm.priority == PRIORITY["unmonitored"] == PRIORITY["alert"]
    ((state, detail),) = _events(db, "C9")
    assert state == "raised"
    assert (detail["field"], detail["error"]) == ("home_unit", "DDSE: a home unit is needed")
    now.now += timedelta(seconds=5)
    again = Pipeline(db, CONFIG, now)  # restarted once more (the one before is gone)
    again.step()
    assert len(_events(db, "C9")) == 1
    _home_unit(db, placement, "H-C9")
    again.step()
    (alarm,) = _alarms(db, "C9")
    assert alarm.cleared_at is not None
    assert _events(db, "C9")[-1] == ("cleared", {"reason": "watched"})
    assert _pending(db) == 0


def test_a_case_completed_within_the_grace_raises_nothing(db: Database) -> None:
    placement = _placement(db, "C7")
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    assert _pending(db) == 1
    _home_unit(db, placement, "H-C7")
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()
    assert _alarms(db, "C7") == []
    assert _pending(db) == 0


def test_a_bar_measure_without_her_device_or_place_is_an_alarm_ended_with_the_measure(
    db: Database,
) -> None:
    placement = _placement(db, "C8", "bar")
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()
    (alarm,) = _alarms(db, "C8")
    assert alarm.cleared_at is None
    assert _events(db, "C8")[0][1]["field"] == "protected"
    with db.session() as session:
        row = session.get(Placement, placement)
        assert row is not None
        ending.end(session, row, MeasureEndIn(reason="term"), "t", clock.now())
    pipeline.step()
    (alarm,) = _alarms(db, "C8")
    assert alarm.cleared_at is not None
    assert _events(db, "C8")[-1] == ("cleared", {"reason": "placement_ended"})


def test_the_engine_s_words_about_her_places_are_not_kept(db: Database) -> None:
    """The alarm's detail says the engine's words, which may quote what it refused: never for a
    protected place, whose coordinates could be among them."""
    with db.session() as session:
        who = make.contacts(session)
        ids = [
            placements.create(
                session,
                make.placement_form(make.person(session, last_name=f"P{n}"), who, case_ref=c),
                "t",
            ).id
            for n, c in enumerate(("C5", "C6"))
        ]
    since = clock.now()
    refused = ScenarioError("latitude 48.8566 out of range", field="protected_places.0.lat")
    other = ScenarioError("a bar placement needs its alert distance", field="alert_distance_km")
    faults = [
        Fault(ids[0], "C5", 0, "B-C5", since, refused),
        Fault(ids[1], "C6", 0, "B-C6", since, other),
    ]
    with db.session() as session:
        found = Unwatched(0, 86_400).step(session, faults, {}, since)
    assert [{k: v for k, v in e["detail"].items() if k != "since"} for e in found] == [
        {"field": "protected_places"},
        {"field": "alert_distance_km", "error": "a bar placement needs its alert distance"},
    ]


def test_a_change_refused_of_a_watched_measure_says_it_is_watched_as_before(db: Database) -> None:
    """The engine keeps a case's revision before when it refuses the next: the alarm says the
    measure is still watched by it, not that nothing is."""
    placement = _placement(db, "C4")
    _home_unit(db, placement, "H-C4")
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    with db.session() as session:  # its home unit's assignment ended, none in its place
        row = session.get_one(Placement, placement)
        held = session.scalars(
            select(DeviceAssignment).where(DeviceAssignment.device_id == "H-C4")
        ).one()
        held.until = clock.now()
        row.revision += 1
        row.updated_at = clock.now()
    pipeline.step()
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()
    ((state, detail),) = _events(db, "C4")
    assert (state, detail["field"], detail["watched_as_before"]) == ("raised", "home_unit", True)
    assert "reste surveillée selon sa version précédente" in event_sentence(
        "unmonitored", state, detail
    )
    assert "n'est pas surveillée" in event_sentence("unmonitored", "raised", {"field": "x"})


def test_the_alarm_names_the_bracelet_worn_when_it_is_raised(db: Database) -> None:
    placement = _placement(db, "C3")
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    with db.session() as session:  # its bracelet replaced, still no home unit
        row = session.get_one(Placement, placement)
        devices.create_device(session, DeviceIn(id="B2-C3", kind="bracelet"), "t")
        devices.assign(session, row, AssignmentIn(device_id="B2-C3", role="wearer"), "t")
    pipeline.step()
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()
    (alarm,) = _alarms(db, "C3")
    assert alarm.device == "B2-C3"


REMIND_S = 86_400.0


def _close(db: Database, alarm_id: int) -> None:
    with db.session() as session:
        operator = session.scalars(select(User).where(User.username == "op")).first()
        if operator is None:
            operator = create_user(session, "op", "op password 1", "operator", "Op")
        alarm = session.get_one(Alarm, alarm_id)
        workflow.acknowledge(session, alarm, operator, clock.now())
        workflow.close(session, alarm, operator, "technical_fault", "SPIP called", clock.now())


def test_a_case_that_stays_unwatched_is_raised_again_after_its_alarm_is_closed(
    db: Database,
) -> None:
    """Closed while the case stayed incomplete, the alarm was not raised again until the case
    changed: the measure could go unwatched for days with nothing in the queue."""
    config = CONFIG.model_copy(update={"unmonitored_remind_s": REMIND_S})
    _placement(db, "C5")
    now = Clock(clock.now())
    Pipeline(db, config, now).step()
    now.now += timedelta(seconds=GRACE_S + 1)
    Pipeline(db, config, now).step()
    (first,) = _alarms(db, "C5")
    _close(db, first.id)
    now.now += timedelta(seconds=REMIND_S - 60)
    Pipeline(db, config, now).step()
    assert [a.status for a in _alarms(db, "C5")] == ["closed"]  # not yet
    now.now += timedelta(seconds=61)
    Pipeline(db, config, now).step()  # a detector restarted meanwhile: on time all the same
    closed, again = _alarms(db, "C5")
    assert (closed.id, again.status, again.device) == (first.id, "open", "B-C5")
    state, detail = _events(db, "C5")[-1]
    assert (state, detail["again"], detail["field"]) == ("raised", True, "home_unit")
    assert detail["since"] == _events(db, "C5")[0][1]["since"]  # unwatched since the first
    assert event_sentence("unmonitored", state, detail).startswith("Rappel")
    # While that one is open, the next reminder folds into it: one incident, not two.
    now.now += timedelta(seconds=REMIND_S + 1)
    Pipeline(db, config, now).step()
    closed, again = _alarms(db, "C5")
    assert again.status == "open" and again.event_count == 2
    assert len(_events(db, "C5")) == 3


def test_a_restarted_detector_offers_again_what_it_refused(db: Database) -> None:
    """A refused revision was never offered to the engine again while it stayed the case's
    revision, so a release that watches what the one before refused (an LSC, a measure
    detection did not know) left the case unwatched for good. A restarted detector offers the
    cases it holds unwatched again."""
    placement = _placement(db, "C6")
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()
    (alarm,) = _alarms(db, "C6")
    _home_unit_unchanged(db, placement, "H-C6")
    now.now += timedelta(seconds=5)
    pipeline.step()
    assert _alarms(db, "C6")[0].cleared_at is None  # the same detector: nothing changed for it
    Pipeline(db, CONFIG, now).step()  # restarted
    (alarm,) = _alarms(db, "C6")
    assert alarm.cleared_at is not None
    assert _events(db, "C6")[-1] == ("cleared", {"reason": "watched"})
    assert _pending(db) == 0


def test_a_case_refused_before_the_table_kept_it_is_offered_again(db: Database) -> None:
    """A case refused by a release before `unwatched_placements` existed is in no row: a
    restarted detector offers again every case it was given and does not watch."""
    placement = _placement(db, "C8")
    now = Clock(clock.now())
    Pipeline(db, CONFIG, now).step()
    with db.session() as session:  # as a release before the table left it
        session.execute(delete(UnwatchedPlacement))
    _home_unit_unchanged(db, placement, "H-C8")
    restarted = Pipeline(db, CONFIG, now)
    restarted.step()
    assert restarted._engine is not None
    assert restarted._engine.case_of("H-C8") == "C8"  # watched, home unit and all


def test_a_step_refusing_many_placements_logs_a_few_and_counts_the_rest(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A rule change refusing every placement wrote an ERROR line each (70,000): the first
    `FAULT_LINES` are logged, the rest counted in one line; every one is still audited."""
    refused = FAULT_LINES + 5
    for n in range(refused):
        _placement(db, f"M{n}")
    with caplog.at_level(logging.ERROR, logger="vigie.alarms.pipeline"):
        Pipeline(db, CONFIG, Clock(clock.now())).step()
    lines = [r.getMessage() for r in caplog.records if r.name == "vigie.alarms.pipeline"]
    assert len(lines) == FAULT_LINES + 1
    assert all(" cannot be monitored: " in line for line in lines[:FAULT_LINES])
    assert lines[-1].startswith(f"5 more cases cannot be monitored ({refused} in all this step")
    with db.session() as session:
        audited = session.scalar(
            select(func.count()).where(AuditEntry.action == "placement_not_monitored")
        )
    assert audited == refused
    assert _pending(db) == refused
