"""The centre's own alarm for an unwatched partition: one open alarm per blind episode however
many watchers report it, its events keyed and folded as any alarm's, cleared when an owner
returns, raised again into the same alarm until an operator closes it, escalated by the
watchers, its detail counts only (vigie.alarms.blindness)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from tests.cases import factories as make
from vigie import clock
from vigie.alarms import blindness, workflow
from vigie.alarms.obligations import CENTRE_REF, PRIORITY, UNWATCHED
from vigie.api.security import create_user
from vigie.cases import placements
from vigie.store import Database
from vigie.store.models import Alarm, AlarmEventRow, AuditEntry


def _sync(db: Database, blind: dict[int, object], watched: set[int], minutes: float = 0) -> object:
    now = clock.now() + timedelta(minutes=minutes)
    with db.session() as session:
        return blindness.sync(session, blind, watched, now, 120.0, {1: 0.5})  # type: ignore[arg-type]


def _alarms(db: Database) -> list[Alarm]:
    with db.session() as session:
        alarms = list(
            session.scalars(select(Alarm).where(Alarm.kind == UNWATCHED).order_by(Alarm.id))
        )
        session.expunge_all()
        return alarms


def _events(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(
            select(AlarmEventRow.device, AlarmEventRow.state)
            .where(AlarmEventRow.kind == UNWATCHED)
            .order_by(AlarmEventRow.id)
        )
        return [(d, s) for d, s in rows]


def test_one_alarm_per_blind_episode_whoever_reports_it(db: Database) -> None:
    with db.session() as session:
        form = make.placement_form(make.person(session), make.contacts(session))
        case = placements.create(session, form, "system")
        case.partition = 3
        ref = case.case_ref
    since = clock.now() - timedelta(seconds=9)

    first = _sync(db, {3: since}, set(range(8)) - {3})
    # A second API process, a moment later, sees the same blindness (its own estimate of since).
    again = _sync(db, {3: since + timedelta(seconds=1)}, set(range(8)) - {3})

    assert first.raised == [3] and again.raised == []  # type: ignore[attr-defined]
    (alarm,) = _alarms(db)
    assert (alarm.case_ref, alarm.device, alarm.placement_id) == (CENTRE_REF, "partition-3", None)
    assert alarm.priority == PRIORITY[UNWATCHED] == PRIORITY["alert"] < PRIORITY["tamper"]
    assert alarm.partition == blindness.CENTRE_PARTITION
    assert alarm.detail == {"partition": 3, "cases": 1, "devices": 0}  # counts, never a name
    assert ref not in str(alarm.detail)
    assert _events(db) == [("partition-3", "raised")]

    # The owner is back: one `cleared`, whoever sees it first; the alarm stays for the operator.
    assert _sync(db, {}, set(range(8))).cleared == [3]  # type: ignore[attr-defined]
    assert _sync(db, {}, set(range(8))).cleared == []  # type: ignore[attr-defined]
    (alarm,) = _alarms(db)
    assert alarm.status == "open" and alarm.cleared_at is not None

    # A watcher whose view is late (its lease watch had not delivered the new owner) still
    # reports the blindness that began before the clear: not a new episode, nothing raised.
    assert _sync(db, {3: since + timedelta(seconds=2)}, set()).raised == []  # type: ignore[attr-defined]
    assert _events(db)[-1] == ("partition-3", "cleared")

    # Blind again before anyone closed it: the same alarm, raised again (as any kind folds).
    _sync(db, {3: clock.now()}, set())
    (alarm,) = _alarms(db)
    assert alarm.cleared_at is None and alarm.event_count == 3
    assert _events(db) == [
        ("partition-3", "raised"),
        ("partition-3", "cleared"),
        ("partition-3", "raised"),
    ]


def test_a_partition_neither_blind_nor_seen_owned_is_left_as_it_is(db: Database) -> None:
    _sync(db, {1: clock.now()}, set())
    _sync(db, {}, set())  # the watcher could not tell (starting, or the leases unread)
    (alarm,) = _alarms(db)
    assert alarm.cleared_at is None


def test_closed_then_blind_again_is_a_new_alarm_and_the_watchers_escalate_it(
    db: Database,
) -> None:
    _sync(db, {0: clock.now()}, set())
    (first,) = _alarms(db)
    with db.session() as session:
        operator = create_user(session, "op", "op password 1", "operator", "Op")
        alarm = session.get_one(Alarm, first.id)
        workflow.acknowledge(session, alarm, operator, clock.now())
        workflow.close(session, alarm, operator, "technical_fault", "worker restarted", clock.now())
    _sync(db, {}, {0})
    _sync(db, {0: clock.now()}, set())
    closed, second = _alarms(db)
    assert closed.status == "closed" and second.status == "open" and second.id != first.id

    # Unacknowledged past its delay (priority 1: half of 120 s): escalated by the watcher, once.
    synced = _sync(db, {0: clock.now()}, set(), minutes=2)
    assert synced.escalated == 1  # type: ignore[attr-defined]
    assert _sync(db, {0: clock.now()}, set(), minutes=3).escalated == 0  # type: ignore[attr-defined]
    with db.session() as session:
        escalations = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "escalate", AuditEntry.target == f"alarm:{second.id}")
        )
    assert escalations == 1


def test_its_qualifications_and_actions_concern_no_person(db: Database) -> None:
    _sync(db, {2: clock.now()}, set())
    (first,) = _alarms(db)
    assert workflow.qualifications_for(UNWATCHED) == ["technical_fault", "false_alarm"]
    with db.session() as session:
        operator = create_user(session, "op", "op password 1", "operator", "Op")
        alarm = session.get_one(Alarm, first.id)
        workflow.acknowledge(session, alarm, operator, clock.now())
        try:
            workflow.act(session, alarm, operator, "call_wearer", None, clock.now())
        except workflow.AlarmStateError as exc:
            assert "only note" in str(exc)
        else:
            raise AssertionError("calling a wearer on the centre's alarm was accepted")
        workflow.act(session, alarm, operator, "note", "worker-b restarted", clock.now())
        try:
            workflow.close(session, alarm, operator, "breach", None, clock.now())
        except workflow.QualificationRefused as exc:
            assert "aucune personne" in str(exc)
        else:
            raise AssertionError("a breach on the centre's alarm was accepted")
        # No case may ever take the centre's reference (outside the case-ref pattern).
        with pytest.raises(ValidationError, match="case_ref"):
            make.placement_form(make.person(session), make.contacts(session), case_ref=CENTRE_REF)
