"""Supervision figures for the centre's charts: alarm load, time to acknowledge, who holds what,
devices that went silent or run low, devices the gateway refused, devices heard that no case
follows, measures still watched past their end date, summaries of ended measures not made yet,
and a retention purge running or that never ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple

import numpy as np
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, func, select, union_all
from sqlalchemy.orm import Session

from vigie import clock
from vigie.alarms import returned
from vigie.alarms.imported import RAISED_HERE
from vigie.api.deps import CENTRE, DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit, purges, spans
from vigie.store import observations as log
from vigie.store.listed import listed_in
from vigie.store.models import (
    DEVICE_REFUSED,
    Alarm,
    AuditEntry,
    Device,
    DeviceAssignment,
    DeviceLatest,
    Observation,
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
            .join(User, User.id == Alarm.held_by)
            .where(
                Alarm.status.in_(("acknowledged", "in_progress")),
                Alarm.raised_again_at.is_(None),
                RAISED_HERE,
            )
            .group_by(User.username)
            .order_by(User.username)
        ).all()
        # Not taken: the open alarms and the taken ones come back (`returned`), whoever held them.
        unassigned = session.scalar(
            select(func.count()).select_from(Alarm).where(returned.waiting())
        )
        assigned = session.execute(open_assignments()).all()
        ids = [device for device, _, _ in assigned]
        heard = contacts(session, ids, since)
        last_contact = heard_through_home_unit(assigned, heard.last)
        battery = latest_battery(session, ids)
        past_end = session.execute(
            select(Placement.id, Placement.case_ref, Placement.measure, Placement.end_date)
            .where(Placement.status == "active", Placement.end_date < clock.today_in_paris())
            .order_by(Placement.end_date, Placement.id)
        ).all()
        refused = session.execute(refusals_since(since)).all()
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
        "heard_unfollowed": heard.unfollowed,
        # The last retention purge, when it is running (`running`), or never ended or failed:
        # then fixes the law says to delete are still stored until `vigie db purge-locations`
        # runs again to its end.
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


def open_assignments() -> Select[str, str, str]:
    """The devices the watched cases follow: (device, role, case) of each open assignment to an
    active placement. The active placements come from their index (migration 0035) on
    PostgreSQL, where most of a centre's have ended and reading the table read them all."""
    return (
        select(DeviceAssignment.device_id, DeviceAssignment.role, Placement.case_ref)
        .join(Placement, Placement.id == DeviceAssignment.placement_id)
        .where(DeviceAssignment.until.is_(None), Placement.status == "active")
    )


class Contacts(NamedTuple):
    """When devices last spoke, as the page says it."""

    last: dict[str, datetime]  # the followed devices' last contact, those ever heard
    unfollowed: list[dict[str, Any]]  # `heard_unfollowed`


def contacts(session: Session, followed: Sequence[str], since: datetime) -> Contacts:
    """The last contact of the `followed` devices, and the devices heard since `since` that no
    watched case follows: both from one read of the devices heard in the window."""
    heard = heard_since(session, since)
    return Contacts(
        last_contacts(session, followed, heard), heard_unfollowed(session, heard, set(followed))
    )


def heard_since(session: Session, since: datetime) -> dict[str, datetime]:
    """Device -> its last contact (its newest reading's time, conflicts left out, as
    `log.newest_times` gives it), for the devices heard at or after `since`: a device so heard
    has its newest reading among those so timed. One pass over `device_latest` and the tail in
    the database, where asking every device no case follows its newest reading (at France's
    size tens of thousands in stock or back from ended cases, most silent for months) made the
    page's `heard_unfollowed` 5 times as slow (`bench/supervision.py`)."""
    mark = spans.watermark(session)  # first: a compaction meanwhile repeats readings, loses none
    return {device: t for device, t in session.execute(heard_since_statement(since, mark))}


def heard_since_statement(since: datetime, mark: int) -> Select[str, datetime]:
    """`heard_since`'s statement, the tail being the readings with ids above `mark`."""
    latest = DeviceLatest.__table__
    table = Observation.__table__
    heard = union_all(
        select(latest.c.device, latest.c.t).where(
            latest.c.t >= since, latest.c.type.in_(log.TYPES)
        ),
        select(table.c.device, table.c.t).where(
            table.c.id > mark,
            table.c.conflict_of.is_(None),
            table.c.t >= since,
            table.c.type.in_(log.TYPES),
        ),
    ).subquery()
    return select(heard.c.device, func.max(heard.c.t)).group_by(heard.c.device)


def heard_unfollowed(
    session: Session, heard: dict[str, datetime], followed: set[str]
) -> list[dict[str, Any]]:
    """Of the devices `heard` (`heard_since`), the registered ones in service that no watched
    case follows (not in `followed`: the devices of the active placements' open assignments,
    which the page reads anyway), by id, each with its last contact: in stock, or of a case
    ended or imported (a withdrawn one is refused, and listed with the refusals)."""
    unfollowed = sorted(heard.keys() - followed)
    spare = session.execute(
        select(Device.id, Device.kind)
        .where(
            listed_in(session, Device.id, unfollowed),
            Device.withdrawn_at.is_(None),
        )
        .order_by(Device.id)
    ).all()
    return [{"device": device, "kind": kind, "last_heard": heard[device]} for device, kind in spare]


def last_contacts(
    session: Session, devices: Sequence[str], heard: dict[str, datetime]
) -> dict[str, datetime]:
    """Device -> its last contact, for those of `devices` ever heard: from `heard`
    (`heard_since`) for those heard in the window, asked of the store for the others (silent
    since, or never heard: a home-detention bracelet speaks through its home unit)."""
    found = {device: heard[device] for device in devices if device in heard}
    found |= log.newest_times(session, [device for device in devices if device not in heard])
    return found


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
