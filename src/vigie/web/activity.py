"""What the console shows beside the API's records: tracks, device health, timelines, a zone's
check before saving. Each endpoint admits the roles, and sees the cases, that the API's
matching endpoint does, and audits the read the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from vigie import clock
from vigie.alarms import privacy
from vigie.alarms.obligations import BAR_KINDS, obligation_for
from vigie.api.deps import CASE_READERS, DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.api.routers.alarms import visible_alarm
from vigie.api.routers.cases import refuse_reused_zone_id, zone_out
from vigie.cases import placements
from vigie.cases.access import visible_placement
from vigie.cases.forms import ZoneIn
from vigie.law.decision import applied_articles
from vigie.store import audit
from vigie.store import observations as log
from vigie.store.bounds import RowId
from vigie.store.models import (
    Alarm,
    AlarmAction,
    DeviceCommand,
    Placement,
    User,
)

# Out of the public OpenAPI: the console's own reads, not a contract for other programs.
router = APIRouter(
    prefix="/api/console", tags=["console"], include_in_schema=False, route_class=BoundedJsonRoute
)
Reader = Annotated[User, Depends(allow(*CASE_READERS))]
Supervisor = Annotated[User, Depends(allow("supervisor"))]
MAX_TRACK = 2000
# The protected person's device is never tracked here: its position is the protected person's.
TRACKED_ROLES = ("wearer", "home_unit")


def shown_track(
    session: Session, user: User, case_ref: str, fixes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The wearer's fixes `user` may see: near a BAR alarm of the case, the holder's alone
    (paired with the alarm's distances, they would locate the protected person)."""
    if privacy.holds_case(session, user, case_ref):
        return fixes
    return privacy.blackout(session, [case_ref], clock.now()).visible(case_ref, fixes)


def current_devices(placement: Placement) -> dict[str, str]:
    """Role -> device id of the devices assigned now."""
    return {a.role: a.device_id for a in placement.assignments if a.until is None}


def track(
    session: Session, device: str, since: datetime, until: datetime | None = None
) -> list[dict[str, Any]]:
    """The device's fixes since `since` (up to `until`), oldest first (the last MAX_TRACK)."""
    return log.fixes(session, device, since, until, limit=MAX_TRACK, newest=True)


def device_health(session: Session, devices: dict[str, str]) -> list[dict[str, Any]]:
    """Per device: last contact (any observation) and last battery level reported."""
    ids = list(devices.values())
    last_contact = log.newest_times(session, ids)
    battery = latest_battery(session, ids)
    return [
        {
            "id": device,
            "role": role,
            "last_contact": last_contact.get(device),
            "battery": battery.get(device),
        }
        for role, device in devices.items()
    ]


def latest_battery(session: Session, ids: list[str]) -> dict[str, float]:
    """Device -> the level (0..1) of its latest battery report (one whose level is not a
    number, which validation refuses at the door, is left out rather than failing the page)."""
    return {
        device: float(level)
        for device, level in log.newest_values(session, ids, "battery", "level").items()
        if isinstance(level, int | float) and not isinstance(level, bool)
    }


def _reading(kind: str, payload: dict[str, Any]) -> Any:
    """The one value worth showing of a non-position observation (presence, battery...)."""
    field = {"presence": "present", "battery": "level", "power": "mains", "tamper": "what"}
    return payload.get(field.get(kind, ""))


@router.get("/placements/{placement_id}/activity")
def placement_activity(
    placement_id: RowId,
    db: DatabaseDep,
    user: Reader,
    hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24,
) -> dict[str, Any]:
    """The case file's moving parts: the wearer's track, device health, alarms, deadlines."""
    since = clock.now() - timedelta(hours=hours)
    with db.session() as session:
        # Audited first: a write opening the transaction waits for the detector's commits,
        # where a read followed by a write would be refused by SQLite if one came in between
        # (rolled back with the rest if the case is not the user's).
        audit.record(session, user.username, "read_activity", f"placement:{placement_id}")
        placement = visible_placement(session, user, placement_id)
        devices = current_devices(placement)
        tracked = {r: d for r, d in devices.items() if r in TRACKED_ROLES}
        alarms = session.scalars(
            select(Alarm)
            .where(Alarm.case_ref == placement.case_ref)
            .order_by(Alarm.raised_at.desc())
            .limit(200)
        ).all()
        heard = log.heard(session, list(tracked.values()), since, limit=200)
        commands = session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.device_id.in_(list(devices.values())))
            .order_by(DeviceCommand.id.desc())
            .limit(20)
        ).all()
        to = aliased(User)  # a hand-over's new holder
        actions = session.execute(
            select(AlarmAction, User.username, to.username)
            .outerjoin(User, User.id == AlarmAction.user_id)
            .outerjoin(to, to.id == AlarmAction.to_user_id)
            .where(AlarmAction.alarm_id.in_([a.id for a in alarms]), AlarmAction.at >= since)
            .order_by(AlarmAction.at.desc())
            .limit(200)
        )
        return {
            "placement_id": placement.id,
            # The last commands to the case's devices, pending and answered (with the reply).
            "commands": [
                {
                    "id": c.id,
                    "device": c.device_id,
                    "kind": c.kind,
                    "args": c.args,
                    "state": c.state,
                    "requested_by": c.requested_by,
                    "created_at": c.created_at,
                    "reply": c.reply,
                }
                for c in commands
            ],
            "since": since,
            "track": shown_track(
                session, user, placement.case_ref, track(session, tracked["wearer"], since)
            )
            if "wearer" in tracked
            else [],
            "devices": device_health(session, tracked),
            "observations": [
                {"t": t, "device": device, "type": kind, "value": _reading(kind, payload)}
                for t, device, kind, payload in heard
            ],
            # What operators did on the case's alarms (the timeline's "actions").
            "actions": [
                {
                    "at": a.at,
                    "alarm_id": a.alarm_id,
                    "action": a.action,
                    "note": a.note,
                    "by": by,
                    "to": to_name,
                }
                for a, by, to_name in actions
            ],
            "alarms": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "status": a.status,
                    "priority": a.priority,
                    "raised_at": a.raised_at,
                    "closed_at": a.closed_at,
                    "qualification": a.qualification,
                }
                for a in alarms
            ],
        }


@router.get("/alarms/{alarm_id}/context")
def alarm_context(alarm_id: RowId, db: DatabaseDep, user: Reader) -> dict[str, Any]:
    """Around one alarm: the obligation in question and its article, the zones, the distances,
    the wearer's track from an hour before it was raised."""
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id)
        placement = session.get(Placement, alarm.placement_id) if alarm.placement_id else None
        obligation, article = obligation_for(alarm.kind, placement.measure if placement else None)
        out: dict[str, Any] = {
            "alarm_id": alarm.id,
            "obligation": obligation,
            "article": article,
            "bar": alarm.kind in BAR_KINDS,
            "placement": None,
            "track": [],
            "zones": [],
        }
        if placement is not None:
            devices = current_devices(placement)
            alert_km = placement.alert_distance_km
            out |= {
                "placement": {
                    "id": placement.id,
                    "case_ref": placement.case_ref,
                    "measure": placement.measure,
                    "articles": applied_articles(placement.law_decision),
                },
                "zones": [zone_out(z) for z in placement.zones],
                "alert_m": alert_km * 1000 if alert_km else None,
                "pre_alert_m": 2 * alert_km * 1000 if alert_km else None,
            }
            if "wearer" in devices:
                # A closed alarm's track ends at its closing: what came after is another story.
                fixes = track(
                    session,
                    devices["wearer"],
                    alarm.raised_at - timedelta(hours=1),
                    alarm.closed_at,
                )
                out["track"] = shown_track(session, user, placement.case_ref, fixes)
        audit.record(session, user.username, "read_context", f"alarm:{alarm.id}")
        return out


@router.post("/placements/{placement_id}/zones/check")
def check_zone(
    placement_id: RowId,
    body: ZoneIn,
    db: DatabaseDep,
    user: Supervisor,
    new: Annotated[bool, Query(description="a new zone: its id must not be in use")] = False,
) -> dict[str, Any]:
    """Dry run of `PUT .../zones/{id}`: the case service's checks, nothing saved.

    A refusal answers 422 with the message and field the save would give (409 for the id of
    an existing zone when `new`, as the save with `If-None-Match: *` would).
    """
    target = f"placement:{placement_id}"
    with privacy.zone_probe_audited(db, user, target), db.session() as session:
        placement = visible_placement(session, user, placement_id)
        if new:
            refuse_reused_zone_id(placement, body.id)
        placements.check_zone(placement, body)
        return {"ok": True, "zone": body.id}
