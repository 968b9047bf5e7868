"""Alarm episodes and the operator's workflow: fold, states, actions, escalation."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.cases import factories as make
from vigie.alarms import AlarmStateError, episodes, workflow
from vigie.api.security import create_user
from vigie.cases import placements
from vigie.store import Database, audit
from vigie.store.models import Alarm, AlarmEventRow

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def event(
    kind: str, state: str, minutes: int, case: str = "C1", **detail: object
) -> dict[str, object]:
    return {
        "t": T0 + timedelta(minutes=minutes),
        "case": case,
        "kind": kind,
        "state": state,
        "device": "B1",
        "detail": detail,
    }


def test_events_fold_into_one_episode_until_closed(db: Database) -> None:
    with db.session() as session:
        opened = episodes.fold(
            session,
            [
                event("absence", "raised", 0),
                event("absence", "cleared", 5),
                event("absence", "raised", 7),
                event("tamper", "raised", 8, what="strap_open"),
            ],
            T0,
        )
        assert [a.kind for a in opened] == ["absence", "tamper"]
        absence = opened[0]
        assert absence.event_count == 3 and absence.cleared_at is None
        assert absence.last_event_at == T0 + timedelta(minutes=7)
        assert session.scalars(select(AlarmEventRow.alarm_id)).all() == [absence.id] * 3 + [
            opened[1].id
        ]
        episodes.fold(session, [event("absence", "cleared", 9)], T0)
        assert absence.cleared_at == T0 + timedelta(minutes=9)


def test_new_episode_after_close(db: Database) -> None:
    with db.session() as session:
        operator = create_user(session, "op", "op password 1", "operator", "Op")
        (first,) = episodes.fold(session, [event("zone_entry", "raised", 0, zone="Z1")], T0)
        workflow.acknowledge(session, first, operator, T0 + timedelta(seconds=30))
        workflow.close(session, first, operator, "false_alarm", None, T0 + timedelta(minutes=2))
        (second,) = episodes.fold(session, [event("zone_entry", "raised", 10, zone="Z1")], T0)
        assert second.id != first.id and second.status == "open"


def test_states_actions_and_time_to_acknowledge(db: Database) -> None:
    with db.session() as session:
        operator = create_user(session, "op", "op password 1", "operator", "Op")
        (alarm,) = episodes.fold(session, [event("alert", "raised", 0)], T0)
        assert alarm.priority == 1
        with pytest.raises(AlarmStateError, match="acknowledge it before"):
            workflow.act(session, alarm, operator, "call_wearer", None, T0)
        with pytest.raises(AlarmStateError, match="only an acknowledged alarm"):
            workflow.close(session, alarm, operator, "breach", None, T0)
        workflow.acknowledge(session, alarm, operator, T0 + timedelta(seconds=42))
        assert workflow.time_to_acknowledge(alarm) == 42
        with pytest.raises(AlarmStateError, match="only an open alarm"):
            workflow.acknowledge(session, alarm, operator, T0)
        workflow.act(session, alarm, operator, "call_protected", "she is safe", T0)
        assert alarm.status == "in_progress"
        workflow.act(session, alarm, operator, "police_alerted", None, T0)
        with pytest.raises(AlarmStateError, match="qualification inconnue"):
            workflow.close(session, alarm, operator, "whatever", None, T0)
        workflow.close(session, alarm, operator, "breach", "arrested", T0 + timedelta(minutes=9))
        assert (alarm.status, alarm.qualification) == ("closed", "breach")
        assert [a.action for a in alarm.actions] == ["call_protected", "police_alerted"]
        checked, breach = audit.verify(session)
        assert breach is None and checked == 4


def test_unacknowledged_alarms_escalate_once_past_the_delay(db: Database) -> None:
    with db.session() as session:
        (alarm,) = episodes.fold(session, [event("tamper", "raised", 0)], T0)
        assert workflow.escalate_overdue(session, T0 + timedelta(seconds=59), 60) == []
        assert workflow.escalate_overdue(session, T0 + timedelta(seconds=61), 60) == [alarm]
        assert workflow.escalate_overdue(session, T0 + timedelta(seconds=300), 60) == []
        assert alarm.escalated_at == T0 + timedelta(seconds=61)


def test_episode_links_to_its_placement(db: Database) -> None:
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        placement = placements.create(
            session, make.placement_form(wearer, who, case_ref="C77"), "clerk"
        )
        (alarm,) = episodes.fold(session, [event("absence", "raised", 0, case="C77")], T0)
        assert session.get_one(Alarm, alarm.id).placement_id == placement.id


def test_a_step_of_events_for_several_cases_opens_in_order_and_stores_each_once(
    db: Database,
) -> None:
    raised = [event("absence", "raised", 0, case=f"C{n}") for n in (3, 1, 2)]
    with db.session() as session:
        before = episodes.duplicate_events
        # The same event twice in one step, and again in a later one: stored and counted once.
        opened = episodes.fold(session, [*raised, raised[1]], T0)
        assert episodes.fold(session, [raised[0]], T0) == []
        assert episodes.duplicate_events - before == 2
        assert [a.case_ref for a in opened] == ["C3", "C1", "C2"]
        assert [a.id for a in opened] == sorted(a.id for a in opened)  # ids in opening order
        rows = session.execute(
            select(AlarmEventRow.case_ref, AlarmEventRow.alarm_id).order_by(AlarmEventRow.id)
        ).all()
        assert rows == [(a.case_ref, a.id) for a in opened]
        assert [a.event_count for a in opened] == [1, 1, 1]
