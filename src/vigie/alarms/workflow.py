"""The operator's workflow: open -> acknowledged -> in_progress -> closed, every step logged."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from vigie.alarms import delays, handing, holder_gone, ongoing, returned, suspensions
from vigie.alarms.errors import AlarmStateError, QualificationRefused
from vigie.alarms.imported import RAISED_HERE, refuse_imported
from vigie.alarms.obligations import UNWATCHED, is_centre_alarm
from vigie.gateway import command_queue
from vigie.store import audit
from vigie.store.models import Alarm, AlarmAction, DeviceAssignment, User
from vigie.store.write_lock import hold_writer

ACTIONS = (
    "call_wearer",
    "call_protected",
    "police_alerted",
    "spip_informed",
    "note",
    "warn_wearer",
)
# "warn_wearer" (R24-20: the operator warns the wearer at a BAR pre-alert) vibrates the bracelet.
WARN_KINDS = ("pre_alert", "alert")
WARN_SECONDS = 5
QUALIFICATIONS = ("breach", "technical_fault", "false_alarm", "authorised_absence")
# R24-20 CPP: crossing the pre-alert distance "ne peut en aucun cas" be held against the wearer,
# so a BAR pre-alert is never closed as a breach (the alert, knowingly crossed, can be).
# The centre's own alarm (a partition unwatched) concerns no person: no breach, no absence.
NOT_FOR_KIND = {"pre_alert": ("breach",), UNWATCHED: ("breach", "authorised_absence")}
# Its only action is a note (what was done to bring detection back): there is nobody to call.
CENTRE_ACTIONS = ("note",)


def acknowledge(session: Session, alarm: Alarm, user: User, now: datetime) -> Alarm:
    """Take an open alarm: the time to acknowledge is measured from its opening. A taken one
    whose condition came back is taken again (`returned.retake`)."""
    refuse_imported(alarm)
    if alarm.raised_again_at is not None:
        return returned.retake(session, alarm, user, now)
    if alarm.status != "open":
        raise AlarmStateError(
            f"alarm {alarm.id} is {alarm.status}; only an open alarm is acknowledged"
        )
    alarm.status = "acknowledged"
    alarm.acknowledged_at = now
    alarm.acknowledged_by = user.id
    alarm.held_by = user.id
    audit.record(
        session,
        user.username,
        "acknowledge",
        f"alarm:{alarm.id}",
        {"time_to_acknowledge_s": time_to_acknowledge(alarm)},
    )
    return alarm


def act(
    session: Session, alarm: Alarm, user: User, action: str, note: str | None, now: datetime
) -> AlarmAction:
    """Log what the operator did; the first action puts the alarm in progress."""
    if action not in ACTIONS:
        raise AlarmStateError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    if is_centre_alarm(alarm.case_ref) and action not in CENTRE_ACTIONS:
        raise AlarmStateError(
            f"alarm {alarm.id} is the centre's own (no case, nobody to call): "
            f"only {', '.join(CENTRE_ACTIONS)} is logged on it"
        )
    refuse_imported(alarm)
    if alarm.status not in ("acknowledged", "in_progress"):
        raise AlarmStateError(
            f"alarm {alarm.id} is {alarm.status}; acknowledge it before logging actions"
        )
    if action == "warn_wearer":
        note = _warn_wearer(session, alarm, user, note, now)
    if alarm.status == "acknowledged":
        alarm.status = "in_progress"
        alarm.in_progress_at = now
    entry = AlarmAction(alarm_id=alarm.id, at=now, user_id=user.id, action=action, note=note)
    session.add(entry)
    session.flush()
    audit.record(session, user.username, action, f"alarm:{alarm.id}", {"note": note})
    return entry


def _warn_wearer(
    session: Session, alarm: Alarm, user: User, note: str | None, now: datetime
) -> str:
    """Queue a vibration of the wearer's bracelet for this BAR alarm; the note names it."""
    if alarm.kind not in WARN_KINDS:
        raise AlarmStateError(f"warn_wearer is for a BAR pre-alert or alert, not {alarm.kind}")
    wearer = session.scalars(
        select(DeviceAssignment.device_id).where(
            DeviceAssignment.placement_id == alarm.placement_id,
            DeviceAssignment.role == "wearer",
            DeviceAssignment.until.is_(None),
        )
    ).first()
    if wearer is None:
        raise AlarmStateError(f"case {alarm.case_ref} has no bracelet assigned to warn")
    command = command_queue.queue(
        session,
        wearer,
        "vibrate",
        {"seconds": WARN_SECONDS},
        user.username,
        now,
        reason=f"warn the wearer ({alarm.kind}, alarm {alarm.id})",
        alarm_id=alarm.id,
    )
    return f"command {command.id}: vibrate {wearer}" + (f"; {note}" if note else "")


def close(
    session: Session, alarm: Alarm, user: User, qualification: str, note: str | None, now: datetime
) -> Alarm:
    """Close with a qualification; the incident report is produced by the caller (see report)."""
    check_close(alarm, qualification)
    _set_closed(alarm, user, qualification, note, now)
    audit.record(
        session, user.username, "close", f"alarm:{alarm.id}", {"qualification": qualification}
    )
    return alarm


def check_close(alarm: Alarm, qualification: str) -> None:
    """Refuse a close that `close` would refuse: a qualification not for this kind, or an
    alarm nobody has acknowledged (or already closed)."""
    check_qualification(alarm.kind, qualification)
    refuse_imported(alarm)
    if alarm.status not in ("acknowledged", "in_progress"):
        raise AlarmStateError(
            f"alarm {alarm.id} is {alarm.status}; only an acknowledged alarm can be closed"
        )
    returned.refuse_close(alarm)


def as_closed(
    alarm: Alarm, user: User, qualification: str, note: str | None, now: datetime
) -> Alarm:
    """A copy of the alarm as `close` would leave it, in no session: its report can be made
    before the close's transaction, which then holds its locks for no PDF rendering."""
    copy = Alarm(**{a.key: getattr(alarm, a.key) for a in sa_inspect(Alarm).column_attrs})
    _set_closed(copy, user, qualification, note, now)
    return copy


def _set_closed(
    alarm: Alarm, user: User, qualification: str, note: str | None, now: datetime
) -> None:
    ongoing.mark(alarm)
    alarm.status = "closed"
    alarm.closed_at = now
    alarm.closed_by = user.id
    alarm.qualification = qualification
    alarm.closing_note = note


def qualifications_for(kind: str) -> list[str]:
    """The qualifications an alarm of this kind may be closed with."""
    return [q for q in QUALIFICATIONS if q not in NOT_FOR_KIND.get(kind, ())]


def check_qualification(kind: str, qualification: str) -> None:
    """Refuse (QualificationRefused) a qualification this kind of alarm may not be given."""
    if qualification not in QUALIFICATIONS:
        raise QualificationRefused(
            f"qualification inconnue « {qualification} » : "
            f"choisir parmi {', '.join(QUALIFICATIONS)}"
        )
    if qualification not in qualifications_for(kind) and kind == UNWATCHED:
        raise QualificationRefused(
            f"qualification « {qualification} » refusée : une partition sans surveillance ne "
            f"concerne aucune personne ; choisir parmi {', '.join(qualifications_for(kind))}"
        )
    if qualification not in qualifications_for(kind):
        raise QualificationRefused(
            f"qualification « {qualification} » refusée : une pré-alerte BAR ne peut jamais être "
            "qualifiée de manquement (art. R24-20 CPP) ; choisir parmi "
            f"{', '.join(qualifications_for(kind))}"
        )


def time_to_acknowledge(alarm: Alarm) -> float | None:
    if alarm.acknowledged_at is None:
        return None
    return (alarm.acknowledged_at - alarm.opened_at).total_seconds()


@functools.cache
def _late_query(priorities: tuple[int, ...], by_partition: bool) -> Select[Alarm]:
    """The open, unescalated alarms past their priority's delay (`due_<p>`, else `due`), made
    once and run with the times bound (detection runs it every second): it loads only the
    late alarms, not every open one past the shortest delay (hundreds, at a France-size
    centre), and costs no statement building."""
    late_enough = delays.past(Alarm.opened_at, priorities)
    query = select(Alarm).where(
        Alarm.status == "open", Alarm.escalated_at.is_(None), late_enough, RAISED_HERE
    )
    if by_partition:
        query = query.where(Alarm.partition == bindparam("partition"))
    # An alarm an operator is taking at this moment (its row locked) is left to the next look,
    # which finds it taken: read unlocked, it was escalated after its take, and its report told
    # the judge the operator had let it wait (PostgreSQL; SQLite: `hold_writer`).
    return query.with_for_update(skip_locked=True)


def escalate_overdue(
    session: Session,
    now: datetime,
    after_s: float,
    factors: Mapping[int, float] | None = None,
    partition: int | None = None,
) -> list[Alarm]:
    """Flag alarms left unacknowledged past their delay, so a supervisor's queue shows them,
    and taken alarms come back that nobody took again within it (`returned.escalate`); then
    release the taken alarms handed over and not taken over within it (`handing.unanswered`),
    and those whose holder has gone (`holder_gone.sweep`), to take again: all four returned,
    for the consoles to be told.

    The delay is `after_s` times the factor of the alarm's priority (1 when not given): a BAR
    alert escalates sooner than a low battery. An alarm raised within a known absence
    (`suspensions`) is never escalated. With `partition`, only the alarms of that detection
    partition (each partition's owner escalates its own; None: all)."""
    factors = dict(factors or {})
    query = _late_query(tuple(sorted(factors)), partition is not None)
    due = delays.due_times(now, after_s, factors, partition)
    hold_writer(session)
    late = list(session.scalars(query, due))
    known = suspensions.known_absences(session, late)
    overdue = [a for a in late if a.id not in known]
    for alarm in overdue:
        alarm.escalated_at = now
        audit.record(
            session,
            "system",
            "escalate",
            f"alarm:{alarm.id}",
            {"unacknowledged_for_s": (now - alarm.opened_at).total_seconds()},
        )
    flagged = returned.escalate(session, now, after_s, factors, partition)
    unanswered = handing.unanswered(session, now, after_s, factors, partition)
    return overdue + flagged + unanswered + holder_gone.sweep(session, now, partition)


def detection_lag_s(alarm: Alarm) -> float:
    """Seconds between the event (``raised_at``) and the centre opening the alarm, at least 0."""
    opened, raised = alarm.opened_at, alarm.raised_at
    if (opened.tzinfo is None) != (raised.tzinfo is None):
        opened, raised = opened.replace(tzinfo=None), raised.replace(tzinfo=None)
    return max(0.0, round((opened - raised).total_seconds(), 1))


def summary(alarm: Alarm) -> dict[str, Any]:
    """The fields every reader of an alarm gets (the detail is filtered apart, see privacy)."""
    return {
        "id": alarm.id,
        "case": alarm.case_ref,
        # The centre's own alarm (a partition unwatched): no case, no report to a judge.
        "centre": is_centre_alarm(alarm.case_ref),
        "placement_id": alarm.placement_id,
        "kind": alarm.kind,
        "device": alarm.device,
        "priority": alarm.priority,
        "status": alarm.status,
        "raised_at": alarm.raised_at,
        "opened_at": alarm.opened_at,
        # How long after the event the centre learned of it (late data: an upload after an
        # outage); the console shows it past a minute ("détectée 15 min après").
        "detection_lag_s": detection_lag_s(alarm),
        "last_event_at": alarm.last_event_at,
        "cleared_at": alarm.cleared_at,
        "acknowledged_at": alarm.acknowledged_at,
        "time_to_acknowledge_s": time_to_acknowledge(alarm),
        "in_progress_at": alarm.in_progress_at,
        "closed_at": alarm.closed_at,
        "qualification": alarm.qualification,
        "escalated": alarm.escalated_at is not None,
        "escalated_at": alarm.escalated_at,
        "event_count": alarm.event_count,
        # Its condition goes on, as detection last told: closed now (or closed already, not yet
        # raised again), it is raised again if it lasts (`ongoing`).
        "ongoing": ongoing.goes_on(alarm),
    } | returned.summary(alarm)
