"""The supervisor's live map of all wearers: each case's bracelet at its last fix.

Never a protected person's device or position (her phone is not a wearer's device, and the
blackout hides it), and no wearer's fix within a BAR alarm's blackout window (paired with the
alarm's distances it would locate her: `vigie.alarms.privacy`). Those cases are counted as
withheld, not drawn.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from vigie import clock
from vigie.alarms import privacy
from vigie.api.deps import DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit
from vigie.store import observations as log
from vigie.store.listed import listed_in
from vigie.store.models import Alarm, Device, DeviceAssignment, Placement, User

router = APIRouter(
    prefix="/api/console", tags=["console"], include_in_schema=False, route_class=BoundedJsonRoute
)
Supervisor = Annotated[User, Depends(allow("supervisor"))]
Measure = Literal["lsc", "ddse", "arse", "psem", "bar"]
AlarmFilter = Literal["live", "none", "escalated"]


@router.get("/wearers")
def wearers(
    db: DatabaseDep,
    user: Supervisor,
    measure: Measure | None = None,
    alarm: Annotated[AlarmFilter | None, Query(description="live, none or escalated")] = None,
) -> dict[str, Any]:
    """Each active case's bracelet at its last fix, with its live alarms; filters by measure
    and by alarm state."""
    now = clock.now()
    # Read without the write lock, then audited before anything is answered (as the queue).
    with db.reading() as session:
        cases = (
            select(Placement.id, Placement.case_ref, Placement.measure, DeviceAssignment.device_id)
            .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
            .join(Device, Device.id == DeviceAssignment.device_id)
            .where(
                Placement.status == "active",
                DeviceAssignment.role == "wearer",
                DeviceAssignment.until.is_(None),
                Device.kind != "protected_device",
            )
        )
        if measure:
            cases = cases.where(Placement.measure == measure)
        rows = session.execute(cases).all()
        devices = [r.device_id for r in rows]
        fixes = {
            device: (row.at, row.lat, row.lon)
            for device, row in log.newest_of_type(session, devices, "position").items()
        }
        live: dict[str, dict[str, Any]] = {}
        for ref, kind, priority, escalated_at in session.execute(
            select(Alarm.case_ref, Alarm.kind, Alarm.priority, Alarm.escalated_at).where(
                Alarm.status != "closed",
                listed_in(session, Alarm.case_ref, (r.case_ref for r in rows)),
            )
        ):
            entry = live.setdefault(
                ref, {"count": 0, "priority": priority, "escalated": False, "kinds": []}
            )
            entry["count"] += 1
            entry["priority"] = min(entry["priority"], priority)
            entry["escalated"] = entry["escalated"] or escalated_at is not None
            entry["kinds"].append(kind)
        shade = privacy.blackout(
            session, [r.case_ref for r in rows], now, [r.device_id for r in rows]
        )
        shown, withheld, silent = [], 0, 0
        for r in rows:
            state = live.get(r.case_ref)
            if alarm == "live" and state is None:
                continue
            if alarm == "none" and state is not None:
                continue
            if alarm == "escalated" and not (state and state["escalated"]):
                continue
            fix = fixes.get(r.device_id)
            if fix is None:
                silent += 1
                continue
            if shade.hides(r.case_ref, r.device_id, fix[0]):
                withheld += 1
                continue
            shown.append(
                {
                    "placement_id": r.id,
                    "case": r.case_ref,
                    "measure": r.measure,
                    "device": r.device_id,
                    "t": fix[0],
                    "lat": fix[1],
                    "lon": fix[2],
                    "alarms": state,
                }
            )
    with db.session() as session:
        audit.record(
            session,
            user.username,
            "read_map",
            "wearers",
            {"cases": [w["case"] for w in shown], "withheld": withheld},
        )
    return {"at": now, "wearers": shown, "withheld": withheld, "no_fix": silent}
