"""What a queue row says beyond the alarm itself: who holds it, whose case, which measure, the
BAR incident it belongs to (an alert and its pre-alert are one incident to the operator), and
why an alarm still to work has ended.

A few queries for a whole page of alarms, never one per row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.alarms.obligations import BAR_KINDS
from vigie.store.models import Alarm, AlarmEventRow, Person, Placement, User


def holder_of(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "full_name": user.full_name}


def extras(session: Session, alarms: list[Alarm]) -> dict[int, dict[str, Any]]:
    """Per alarm id: `holder`, `wearer` (name), `measure`, `incident` (BAR grouping) and
    `cleared_reason` (``ended_by``)."""
    user_ids = {a.held_by for a in alarms if a.held_by is not None}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
    placement_ids = {a.placement_id for a in alarms if a.placement_id is not None}
    cases = {
        pid: (measure, f"{last.upper()} {first}")
        for pid, measure, last, first in session.execute(
            select(Placement.id, Placement.measure, Person.last_name, Person.first_name)
            .join(Person, Person.id == Placement.person_id)
            .where(Placement.id.in_(placement_ids))
        )
    }
    incidents = bar_incidents(session, [a for a in alarms if a.kind in BAR_KINDS])
    reasons = ended_by(session, alarms)
    out = {}
    for alarm in alarms:
        measure, wearer = cases.get(alarm.placement_id or -1, (None, None))
        out[alarm.id] = {
            "holder": holder_of(users.get(alarm.held_by or -1)),
            "wearer": wearer,
            "measure": measure,
            "incident": incidents.get(alarm.id),
            "cleared_reason": reasons.get(alarm.id),
        }
    return out


def ended_by(session: Session, alarms: list[Alarm]) -> dict[int, str]:
    """Alarm id -> the reason its last clear gives (the engine's ``detail.reason``), for the
    alarms whose condition has ended but that are still to work.

    Not every end is the situation's: an exclusion zone's hours over with the wearer still
    inside ("zone_inactive"), an obligation lifted ("obligation_removed"), a curfew's window
    over with the wearer still out ("window_end"). The console must not read those as "he
    came back". Only the reason is read, never the rest of the detail (a BAR distance).
    """
    ended = [a.id for a in alarms if a.cleared_at is not None and a.status != "closed"]
    if not ended:
        return {}
    last = (
        select(func.max(AlarmEventRow.id))
        .where(AlarmEventRow.alarm_id.in_(ended), AlarmEventRow.state == "cleared")
        .group_by(AlarmEventRow.alarm_id)
    )
    rows = session.execute(
        select(AlarmEventRow.alarm_id, AlarmEventRow.detail).where(AlarmEventRow.id.in_(last))
    )
    return {
        alarm_id: reason
        for alarm_id, detail in rows
        if alarm_id is not None and isinstance(reason := (detail or {}).get("reason"), str)
    }


def bar_incidents(session: Session, alarms: list[Alarm]) -> dict[int, dict[str, int]]:
    """Alarm id -> {"alert_id", "pre_alert_id"} for each alert paired with its pre-alert.

    A pre-alert belongs to the alert of the same case and bracelet that was raised while it
    was still open (raised before, not yet closed): the approach that crossed both distances.
    """
    if not alarms:
        return {}
    rows = session.execute(
        select(Alarm.id, Alarm.kind, Alarm.case_ref, Alarm.device, Alarm.raised_at, Alarm.closed_at)
        .where(Alarm.kind.in_(BAR_KINDS), Alarm.case_ref.in_({a.case_ref for a in alarms}))
        .order_by(Alarm.raised_at, Alarm.id)
    ).all()
    pre_alerts = [r for r in rows if r.kind == "pre_alert"]
    found: dict[int, dict[str, int]] = {}
    for alert in (r for r in rows if r.kind == "alert"):
        candidates = [
            p
            for p in pre_alerts
            if p.case_ref == alert.case_ref
            and p.device == alert.device
            and p.raised_at <= alert.raised_at
            and (p.closed_at is None or p.closed_at >= alert.raised_at)
            and p.id not in found
        ]
        if candidates:
            pair = {"alert_id": alert.id, "pre_alert_id": candidates[-1].id}
            found[alert.id] = found[candidates[-1].id] = pair
    return found
