"""A taken alarm whose situation comes back is to be taken again (vigie.alarms.returned).

A breach that ended and began again while its alarm was taken folded into that alarm and
sounded nowhere: no open alarm, no escalation, the queue row's figures only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.alarms.test_ongoing import INSIDE, OUTSIDE, Centre
from tests.alarms.test_pipeline import T0, seed
from vigie.alarms import episodes, report, returned, workflow
from vigie.alarms.errors import AlarmStateError
from vigie.api.security import create_user
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, AlarmAction, AuditEntry, User

# A zone entry (priority 2, factor 0.5) escalates 300 s after it waits: open, or come back.
CONFIG = Settings(escalation_after_s=600, ongoing_remind_s=600)


def operator(db: Database, name: str) -> User:
    with db.session() as session:
        user = session.scalars(select(User).where(User.username == name)).first()
        if user is None:
            user = create_user(session, name, f"{name} password 1", "operator", name.title())
        session.expunge(user)
        return user


def entry(db: Database) -> Alarm:
    with db.session() as session:
        (alarm,) = session.scalars(select(Alarm).where(Alarm.kind == "zone_entry"))
        session.expunge(alarm)
        return alarm


def take(db: Database, alarm_id: int, name: str, now: datetime) -> Alarm:
    user = operator(db, name)
    with db.session() as session:
        alarm = session.get_one(Alarm, alarm_id)
        workflow.acknowledge(session, alarm, user, now)
        session.flush()
        session.expunge(alarm)
        return alarm


def centre_of(db: Database) -> Centre:
    return Centre(db, CONFIG)


def test_a_breach_back_while_its_alarm_is_taken_waits_to_be_taken_again(db: Database) -> None:
    centre = centre_of(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    first = take(db, entry(db).id, "op1", centre.clock.now)
    taken_at = first.acknowledged_at
    centre.at(2, OUTSIDE)  # he left: the alarm stays taken, its condition ended
    alarm = entry(db)
    assert alarm.cleared_at is not None and not returned.to_take(alarm)
    for minute in range(3, 40):  # far from the zone for a long while: nothing to take
        centre.at(minute, OUTSIDE)
    assert entry(db).raised_again_at is None

    centre.at(40, INSIDE)  # back in the zone, the alarm still taken by op1
    back = entry(db)
    assert (back.id, back.status, back.event_count) == (first.id, "acknowledged", 3)
    assert back.raised_again_at == centre.clock.now
    summary = workflow.summary(back)
    assert summary["to_take"] and summary["raised_again_at"] == centre.clock.now
    assert not summary["raised_again_escalated"]

    # Nobody takes it again: the supervisor is alerted once its delay (300 s) has passed.
    for minute in range(41, 45):
        centre.at(minute, INSIDE)
    assert entry(db).raised_again_escalated_at is None
    centre.at(46, INSIDE)
    flagged = entry(db)
    assert flagged.raised_again_escalated_at == centre.clock.now
    assert flagged.escalated_at is None  # it was taken in time the first time
    assert workflow.summary(flagged)["raised_again_escalated"]
    for minute in range(47, 50):
        centre.at(minute, INSIDE)
    with db.session() as session:
        logged = list(session.scalars(select(AlarmAction).where(AlarmAction.alarm_id == first.id)))
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == returned.ESCALATED)
        ).all()
    assert [(a.action, a.user_id) for a in logged] == [(returned.ESCALATED, None)]  # once
    assert [(a.actor, a.target) for a in audited] == [("system", f"alarm:{first.id}")]
    assert audited[0].detail["not_taken_again_for_s"] == 360.0

    # Another operator answers: she holds it now; the first take stays the first take.
    again = take(db, first.id, "op2", centre.clock.now)
    op2 = operator(db, "op2")
    op1 = operator(db, "op1")
    assert (again.status, again.held_by, again.acknowledged_by, again.acknowledged_at) == (
        "acknowledged",
        op2.id,
        op1.id,
        taken_at,
    )
    assert again.raised_again_at is None and again.raised_again_escalated_at is None
    assert not returned.to_take(again)
    assert workflow.time_to_acknowledge(again) == workflow.time_to_acknowledge(first)
    with db.session() as session:
        retaken = session.scalars(
            select(AuditEntry).where(AuditEntry.action == returned.RETAKEN)
        ).one()
        told = report.render_html(session, session.get_one(Alarm, first.id), centre.clock.now)
    assert retaken.actor == "op2"
    assert retaken.detail == {
        "time_to_acknowledge_s": 540.0,
        "holder_before": op1.id,
    }
    # The judge reads the return, that nobody took it again in time, and who did.
    assert "Faute de reprise en compte de la situation revenue, le superviseur est alerté." in told
    assert "op2 : Reprise en compte de l&#39;alarme, la situation étant revenue." in told
    assert "op1 prend l&#39;alarme en compte." in told  # the first take is op1's, still
    assert "op2 prend" not in told
    assert told.count("La personne placée est entrée dans la zone d&#39;exclusion") == 2
    with pytest.raises(AlarmStateError, match="only an open alarm is acknowledged"):
        take(db, first.id, "op1", centre.clock.now)  # taken again already


def test_no_close_before_the_return_is_taken_again(db: Database) -> None:
    centre = centre_of(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    first = take(db, entry(db).id, "op1", centre.clock.now)
    centre.at(2, OUTSIDE)
    centre.at(3, INSIDE)
    user = operator(db, "op1")
    with db.session() as session:
        alarm = session.get_one(Alarm, first.id)
        with pytest.raises(AlarmStateError, match="acknowledge it again before closing it"):
            workflow.close(session, alarm, user, "breach", None, centre.clock.now)
        workflow.acknowledge(session, alarm, user, centre.clock.now)  # the holder, again
        workflow.close(session, alarm, user, "breach", None, centre.clock.now)
        assert alarm.status == "closed" and alarm.acknowledged_by == user.id


def test_what_is_not_a_return(db: Database) -> None:
    """Open, a breach back is the same alarm to take (it sounds already); taken, a breach that
    goes on without ending, or that ends and stays ended, is nothing to take again."""
    centre = centre_of(db)
    centre.at(0, OUTSIDE)
    centre.at(1, INSIDE)
    centre.at(2, OUTSIDE)
    centre.at(3, INSIDE)  # back before anyone took it
    alarm = entry(db)
    assert (alarm.status, alarm.event_count) == ("open", 3)
    assert alarm.raised_again_at is None
    take(db, alarm.id, "op1", centre.clock.now)
    for minute in range(4, 20):  # stays inside: the same breach, taken
        centre.at(minute, INSIDE)
    assert entry(db).raised_again_at is None
    centre.at(20, OUTSIDE)
    for minute in range(21, 40):  # stays out: ended
        centre.at(minute, OUTSIDE)
    assert entry(db).raised_again_at is None and entry(db).cleared_at is not None


def test_her_sos_pressed_again_while_taken_is_to_take_again(db: Database) -> None:
    """An SOS never ends but by its close: each new press is her calling again."""
    seed(db)
    user = operator(db, "op1")

    def press(minutes: int) -> Alarm:
        t = T0 + timedelta(minutes=minutes)
        with db.session() as session:
            press = {"t": t, "case": "C1", "kind": "sos", "state": "raised", "device": "P1"}
            episodes.fold(session, [press | {"detail": {}}], t)
        with db.session() as session:
            (alarm,) = session.scalars(select(Alarm).where(Alarm.kind == "sos"))
            session.expunge(alarm)
            return alarm

    first = press(0)
    with db.session() as session:
        workflow.acknowledge(session, session.get_one(Alarm, first.id), user, T0)
    again = press(5)
    assert (again.id, again.status) == (first.id, "acknowledged")
    assert again.raised_again_at == T0 + timedelta(minutes=5)
    assert press(6).raised_again_at == T0 + timedelta(minutes=5)  # from the first one not seen
