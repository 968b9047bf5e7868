"""Known absences (hospital, hearing): what an alert suspension does, and what it never does.

A supervisor records that a case's wearer is away for a known reason, for a period. Detection
does not change: every alarm is still raised, stored and listed. An alarm raised within the
period is marked `known_absence` ("absence connue"): the console does not sound it and the
pipeline does not escalate it. It never covers what may mean danger to a person: the BAR alert
and pre-alert, an SOS, a tamper (EXEMPT_KINDS). It ends by itself at its end time (a period,
not a switch), or earlier when a supervisor ends it. Creating and ending one are audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigie.cases.ending import refuse_if_ended
from vigie.cases.errors import CaseRefused
from vigie.store import audit
from vigie.store.listed import listed_in
from vigie.store.models import Alarm, AlertSuspension, Placement

REASONS = ("hospital", "hearing", "other")
# Never marked: the protected person's safety (BAR, SOS of either device) and a removed bracelet.
EXEMPT_KINDS = frozenset({"alert", "pre_alert", "sos", "wearer_sos", "tamper"})
# A suspension is a short, known absence; a longer one is a change of the court order's terms.
MAX_PERIOD = timedelta(days=31)
# How far back a suspension may start (the wearer was taken to hospital an hour ago).
MAX_BACKDATE = timedelta(days=1)
# How far ahead one may be recorded (a hearing already set); further is not yet a known absence.
MAX_AHEAD = timedelta(days=92)


def create(
    session: Session,
    placement: Placement,
    reason: str,
    note: str,
    starts_at: datetime,
    ends_at: datetime,
    author: str,
    now: datetime,
) -> AlertSuspension:
    """Record a known absence after checking its period; audited."""
    if reason not in REASONS:
        raise CaseRefused(f"reason {reason!r}: one of {', '.join(REASONS)}", "reason")
    if not note.strip():
        raise CaseRefused("note: say why (which hospital, which hearing)", "note")
    if ends_at <= starts_at:
        raise CaseRefused("ends_at must come after starts_at", "ends_at")
    if ends_at <= now:
        raise CaseRefused("ends_at is already past: a suspension is for now or later", "ends_at")
    if starts_at < now - MAX_BACKDATE:
        raise CaseRefused(f"starts_at may be at most {MAX_BACKDATE} in the past", "starts_at")
    if starts_at > now + MAX_AHEAD:
        raise CaseRefused(f"starts_at may be at most {MAX_AHEAD.days} days ahead", "starts_at")
    if ends_at - starts_at > MAX_PERIOD:
        raise CaseRefused(f"the period may last at most {MAX_PERIOD.days} days", "ends_at")
    refuse_if_ended(placement)
    if placement.status != "active":
        raise CaseRefused(f"case {placement.case_ref} is {placement.status}", "placement")
    suspension = AlertSuspension(
        placement_id=placement.id,
        case_ref=placement.case_ref,
        reason=reason,
        note=note.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=author,
        created_at=now,
    )
    session.add(suspension)
    session.flush()
    audit.record(
        session,
        author,
        "suspend_alerts",
        f"placement:{placement.id}",
        {
            "suspension": suspension.id,
            "reason": reason,
            "note": suspension.note,
            "starts_at": starts_at,
            "ends_at": ends_at,
        },
    )
    return suspension


def end(session: Session, suspension: AlertSuspension, author: str, now: datetime) -> None:
    """End a suspension before its time; audited. One already ended or over is
    left as it was."""
    if suspension.ended_at is not None:
        raise CaseRefused(f"suspension {suspension.id} is already ended", "suspension")
    if effective_end(suspension) <= now:
        raise CaseRefused(f"suspension {suspension.id} is already over", "suspension")
    suspension.ended_at = max(now, suspension.starts_at)
    suspension.ended_by = author
    audit.record(
        session,
        author,
        "end_alert_suspension",
        f"placement:{suspension.placement_id}",
        {"suspension": suspension.id},
    )


def effective_end(suspension: AlertSuspension) -> datetime:
    return suspension.ended_at if suspension.ended_at is not None else suspension.ends_at


def of_case(session: Session, placement_id: int) -> list[AlertSuspension]:
    query = select(AlertSuspension).where(AlertSuspension.placement_id == placement_id)
    return list(session.scalars(query.order_by(AlertSuspension.starts_at.desc())))


def raised(alarm: Alarm) -> datetime:
    """When the alarm's wait began: its raise, or for a taken alarm come back (`returned`) the
    return (its latest event). A return after a known absence ended is no longer covered by
    it: judged by its first raise, it was shown and never sounded nor escalated."""
    return alarm.last_event_at if alarm.raised_again_at is not None else alarm.raised_at


def known_absences(session: Session, alarms: Iterable[Alarm]) -> set[int]:
    """The ids of these alarms raised (or come back: `raised`) within a suspension of their
    case (kinds it may cover)."""
    covered = [(a, raised(a)) for a in alarms if a.kind not in EXEMPT_KINDS]
    if not covered:
        return set()
    periods: dict[str, list[tuple[datetime, datetime]]] = {}
    query = select(AlertSuspension).where(
        listed_in(session, AlertSuspension.case_ref, (a.case_ref for a, _ in covered)),
        AlertSuspension.starts_at <= max(at for _, at in covered),
        or_(
            AlertSuspension.ended_at.is_(None),
            AlertSuspension.ended_at >= min(at for _, at in covered),
        ),
    )
    for s in session.scalars(query):
        periods.setdefault(s.case_ref, []).append((s.starts_at, effective_end(s)))
    return {
        a.id
        for a, at in covered
        if any(start <= at < stop for start, stop in periods.get(a.case_ref, []))
    }


def summary(suspension: AlertSuspension, now: datetime) -> dict[str, object]:
    end_at = effective_end(suspension)
    return {
        "id": suspension.id,
        "placement_id": suspension.placement_id,
        "case": suspension.case_ref,
        "reason": suspension.reason,
        "note": suspension.note,
        "starts_at": suspension.starts_at,
        "ends_at": suspension.ends_at,
        "ended_at": suspension.ended_at,
        "ended_by": suspension.ended_by,
        "created_by": suspension.created_by,
        "created_at": suspension.created_at,
        "active": suspension.starts_at <= now < end_at,
        "exempt_kinds": sorted(EXEMPT_KINDS),
    }
