"""Supervision figures for the centre's charts: alarm load, time to acknowledge, who holds what,
devices that went silent or run low, devices the gateway refused, devices heard that no case
follows, measures still watched past their end date, summaries of ended measures not made yet,
and a retention purge that never ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, func, select

from vigie import clock
from vigie.alarms.imported import RAISED_HERE
from vigie.api.deps import CENTRE, DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit, purges
from vigie.store import observations as log
from vigie.store.models import (
    DEVICE_REFUSED,
    Alarm,
    AuditEntry,
    Device,
    DeviceAssignment,
    Placement,
    SummaryOwed,
    User,
)
from vigie.web.activity import latest_battery

# Out of the public OpenAPI: the console's own reads, not a contract for other programs.
router = APIRouter(
    prefix="/api/console", tags=["console"], include_in_schema=False, route_class=BoundedJsonRoute
)
Centre = Annotated[User, Depends(allow(*CENTRE))]
LOW_BATTERY = 0.2


def hourly_counts(raised: list[datetime], now: datetime, hours: int) -> list[dict[str, Any]]:
    """Alarms raised per clock hour (UTC) over the last `hours`, oldest first, zeros included."""
    top = now.replace(minute=0, second=0, microsecond=0)
    starts = [top - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    counts = dict.fromkeys(starts, 0)
    for t in raised:
        hour = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if hour in counts:
            counts[hour] += 1
    return [{"hour": h, "count": c} for h, c in counts.items()]


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(np.array(values), [50, 95])
    return {"p50": float(p50), "p95": float(p95), "n": len(values)}


def heard_through_home_unit(
    assigned: Sequence[tuple[str, str, str]], last_contact: dict[str, datetime]
) -> dict[str, datetime]:
    """Last contact per device, a home-detention bracelet credited with its home unit's.

    Under DDSE the bracelet speaks only by radio to the home unit, which reports for it: the
    bracelet itself never sends an observation, so counting its own silence would call every
    such bracelet silent. Whether the wearer is at home is the absence alarm's business."""
    home_unit = {case: device for device, role, case in assigned if role == "home_unit"}
    heard = dict(last_contact)
    for device, role, case in assigned:
        unit = home_unit.get(case)
        if role == "wearer" and unit is not None and unit in last_contact:
            heard[device] = max(filter(None, (last_contact.get(device), last_contact[unit])))
    return heard


@router.get("/supervision")
def supervision(
    db: DatabaseDep,
    user: Centre,
    hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24,
    silent_after_s: Annotated[int, Query(ge=60)] = 900,
) -> dict[str, Any]:
    """Figures over the last `hours`; a device is silent after `silent_after_s` without a word."""
    now = clock.now()
    since = now - timedelta(hours=hours)
    with db.session() as session:
        raised = list(
            session.scalars(select(Alarm.raised_at).where(Alarm.raised_at >= since, RAISED_HERE))
        )
        acked = session.execute(
            select(Alarm.opened_at, Alarm.acknowledged_at).where(
                Alarm.acknowledged_at.is_not(None), Alarm.opened_at >= since, RAISED_HERE
            )
        ).all()
        holders = session.execute(
            select(User.username, func.count(Alarm.id))
            .join(User, User.id == Alarm.acknowledged_by)
            .where(Alarm.status.in_(("acknowledged", "in_progress")), RAISED_HERE)
            .group_by(User.username)
            .order_by(User.username)
        ).all()
        unassigned = session.scalar(
            select(func.count()).select_from(Alarm).where(Alarm.status == "open", RAISED_HERE)
        )
        assigned = session.execute(
            select(DeviceAssignment.device_id, DeviceAssignment.role, Placement.case_ref)
            .join(Placement, Placement.id == DeviceAssignment.placement_id)
            .where(DeviceAssignment.until.is_(None), Placement.status == "active")
        ).all()
        ids = [device for device, _, _ in assigned]
        last_contact = heard_through_home_unit(assigned, log.newest_times(session, ids))
        battery = latest_battery(session, ids)
        past_end = session.execute(
            select(Placement.id, Placement.case_ref, Placement.measure, Placement.end_date)
            .where(Placement.status == "active", Placement.end_date < clock.today_in_paris())
            .order_by(Placement.end_date, Placement.id)
        ).all()
        refused = session.execute(refusals_since(since)).all()
        # Registered devices in service that no watched case follows: in stock, or of a case
        # ended or imported (a withdrawn one is refused, above).
        followed = (
            select(DeviceAssignment.id)
            .join(Placement, Placement.id == DeviceAssignment.placement_id)
            .where(
                DeviceAssignment.device_id == Device.id,
                DeviceAssignment.until.is_(None),
                Placement.status == "active",
            )
            .exists()
        )
        spare = session.execute(
            select(Device.id, Device.kind)
            .where(Device.withdrawn_at.is_(None), ~followed)
            .order_by(Device.id)
        ).all()
        spare_heard = log.newest_times(session, [device for device, _ in spare])
        purge = purges.unfinished(session)
        not_made = session.execute(
            select(Placement.id, Placement.case_ref, SummaryOwed)
            .join(Placement, Placement.id == SummaryOwed.placement_id)
            .where(SummaryOwed.attempts > 0)
            .order_by(SummaryOwed.since, Placement.id)
        ).all()
        audit.record(session, user.username, "read", "supervision")
    devices = []
    for device, role, case_ref in assigned:
        contact = last_contact.get(device)
        silent_s = (now - contact).total_seconds() if contact else None
        level = battery.get(device)
        silent = silent_s is None or silent_s > silent_after_s
        low = level is not None and level < LOW_BATTERY
        if silent or low:
            devices.append(
                {
                    "id": device,
                    "role": role,
                    "case": case_ref,
                    "silent_s": silent_s,
                    "battery": level,
                    "silent": silent,
                    "low_battery": low,
                }
            )
    return {
        "now": now,
        "hours": hours,
        "alarms_per_hour": hourly_counts(raised, now, hours),
        "time_to_acknowledge_s": percentiles(
            [(ack - opened).total_seconds() for opened, ack in acked if ack is not None]
        ),
        "open_per_operator": [{"operator": u, "count": n} for u, n in holders]
        + [{"operator": None, "count": unassigned or 0}],
        "devices": sorted(devices, key=lambda d: (not d["silent"], d["id"])),
        "silent_after_s": silent_after_s,
        # Still watched past their end date: each awaits a supervisor's end of the measure
        # (`vigie.cases.ending`), or a renewal that moves its date.
        "past_end": [
            {"placement_id": i, "case": ref, "measure": measure, "end_date": end}
            for i, ref, measure, end in past_end
        ],
        "low_battery_below": LOW_BATTERY,
        "refused_devices": refused_devices(refused),
        # Heard in the window though no watched case follows them: a bracelet fitted without its
        # assignment recorded is watched by no one (or a device in stock left on).
        "heard_unfollowed": [
            {"device": device, "kind": kind, "last_heard": spare_heard[device]}
            for device, kind in spare
            if spare_heard.get(device, datetime.min.replace(tzinfo=UTC)) >= since
        ],
        # The last retention purge, when it never ended or failed: fixes the law says to
        # delete are still stored until `vigie db purge-locations` runs again to its end.
        "unfinished_purge": None if purge is None else purge.as_json(),
        # Summaries of ended measures that could not be made yet (`summaries_owed`): still owed,
        # tried again, and not on their way to the judge until made.
        "summaries_not_made": [
            {
                "placement_id": i,
                "case": ref,
                "ended_at": owed.since,
                "attempts": owed.attempts,
                "last_error": owed.last_error,
                "next_attempt_at": owed.next_attempt_at,
            }
            for i, ref, owed in not_made
        ],
    }


def refusals_since(since: datetime) -> Select[tuple[datetime, str, dict[str, Any]]]:
    """The gateway's refusals of devices since `since`, through their partial index (its
    predicate repeated as written: the planner does not match a bound parameter to it)."""
    return (
        select(AuditEntry.at, AuditEntry.target, AuditEntry.detail)
        .where(DEVICE_REFUSED, AuditEntry.at >= since)
        .order_by(AuditEntry.at, AuditEntry.id)  # the index's order: no scan in id order
    )


def refused_devices(entries: Sequence[Any]) -> list[dict[str, Any]]:
    """The devices the gateway refused (a wrong or missing key: someone posing as the device;
    withdrawn from service: a lost or stolen device speaking again), newest first, from its
    audit entries (`device_refused`, one a minute per device and protocol, each counting the
    refusals since the one before). Not where from: the peer's address stays in the audit log."""
    found: dict[str, dict[str, Any]] = {}
    for at, target, detail in entries:
        device = str(target).removeprefix("device:")
        seen = found.setdefault(
            device, {"device": device, "refusals": 0, "reasons": [], "protocols": []}
        )
        seen["refusals"] += 1 + int(detail.get("refused_since_last_entry") or 0)
        seen["last"] = at
        seen["case"] = detail.get("case")
        for key, value in (
            ("reasons", detail.get("reason")),
            ("protocols", detail.get("protocol")),
        ):
            if value and value not in seen[key]:
                seen[key].append(value)
    return sorted(found.values(), key=lambda d: d["last"], reverse=True)
