"""Persons, contacts, placements (+renew, changes, zones, devices) and devices."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie import clock
from vigie.alarms import privacy, summary
from vigie.api.deps import CASE_READERS, DatabaseDep, DeviceId, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.cases import (
    CaseNotFound,
    CaseRefused,
    device_secrets,
    ending,
    people,
    placements,
    withdrawal,
)
from vigie.cases import devices as device_registry
from vigie.cases.access import visible_placement
from vigie.cases.forms import (
    AssignmentIn,
    ContactIn,
    DeviceIn,
    DeviceReinstateIn,
    DeviceWithdrawalIn,
    MeasureEndIn,
    PersonIn,
    PlacementChange,
    PlacementIn,
    RenewalIn,
    ZoneIn,
)
from vigie.store import audit
from vigie.store.bounds import Line, RowId
from vigie.store.models import (
    Contact,
    Device,
    DeviceAssignment,
    Person,
    Placement,
    User,
    Zone,
)

router = APIRouter(prefix="/api", tags=["cases"], route_class=BoundedJsonRoute)
Reader = Annotated[User, Depends(allow(*CASE_READERS))]
# The admin sets cases up (with the supervisor), so reads and writes persons and placements.
CaseFileReader = Annotated[User, Depends(allow(*CASE_READERS, "admin"))]
CaseSetUp = Annotated[User, Depends(allow("supervisor", "admin"))]
Supervisor = Annotated[User, Depends(allow("supervisor"))]
ContactAdmin = Annotated[User, Depends(allow("supervisor", "admin"))]
DeviceReader = Annotated[User, Depends(allow("operator", "supervisor", "admin"))]
DeviceAdmin = Annotated[User, Depends(allow("supervisor", "admin"))]
# A zone's id in a URL: no longer than ``ZoneIn.id``, no control character (an older zone
# with other characters can still be deleted).
ZoneId = Annotated[Line, Path(min_length=1, max_length=40)]


def person_out(person: Person, user: User, session: Session) -> dict[str, Any]:
    out = {
        "id": person.id,
        "last_name": person.last_name,
        "first_name": person.first_name,
        "birth_date": person.birth_date,
        "address": person.address,
        "home_lat": person.home_lat,
        "home_lon": person.home_lon,
        "phone": person.phone,
    }
    # Where a protected person lives is her position: only the admin who sets the case up and
    # the operator holding her live alert read it; both the read and the withholding are audited.
    if people.is_protected(session, person.id):
        if privacy.may_locate_person(session, user, person.id):
            audit.record(session, user.username, "read_protected_location", f"person:{person.id}")
        else:
            # Her phone too: the holder of her live alert reads it (also on the alarm page).
            out |= {"address": None, "home_lat": None, "home_lon": None, "phone": None}
            out["location_withheld"] = True
            audit.record(
                session, user.username, "protected_location_withheld", f"person:{person.id}"
            )
    return out


def contact_out(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "role": contact.role,
        "name": contact.name,
        "email": contact.email,
        "service": contact.service,
        "phone": contact.phone,
        "user_id": contact.user_id,
    }


def zone_out(zone: Zone) -> dict[str, Any]:
    return {
        "id": zone.key,
        "type": zone.type,
        "label": zone.label,
        "geometry": zone.geometry,
        "schedule": zone.schedule,
    }


def placement_out(placement: Placement, user: User, session: Session) -> dict[str, Any]:
    # Protected places are where the victim lives or works: their coordinates go only to the
    # admin who sets the case up and the holder of her live alert; others see that they exist.
    places: list[Any] = placement.protected_places
    if places:
        target = f"placement:{placement.id}"
        if privacy.may_see_places(session, user, placement.case_ref):
            audit.record(session, user.username, "read_protected_location", target)
        else:
            places = [{"id": p["id"], "label": p.get("label")} for p in places]
            audit.record(session, user.username, "protected_location_withheld", target)
    return {
        "id": placement.id,
        "case_ref": placement.case_ref,
        "person_id": placement.person_id,
        "protected_person_id": placement.protected_person_id,
        "measure": placement.measure,
        "court_order_ref": placement.court_order_ref,
        "court_order_date": placement.court_order_date,
        "start_date": placement.start_date,
        "end_date": placement.end_date,
        "status": placement.status,
        "judge": contact_out(placement.judge),
        "prosecutor": contact_out(placement.prosecutor),
        "spip": contact_out(placement.spip),
        "police_station": placement.police_station,
        "police_phone": placement.police_phone,
        "law_decision": placement.law_decision,
        "deadlines": {d.name: d.due for d in placement.deadlines},
        "schedule": placement.schedule,
        "zones": [zone_out(z) for z in placement.zones],
        "alert_distance_km": placement.alert_distance_km,
        "protected_places": places,
        "grace_s": placement.grace_s,
        "signal_timeout_s": placement.signal_timeout_s,
        "devices": {a.role: a.device_id for a in placement.assignments if a.until is None},
        # Devices whose latest fix was too coarse to decide (a fresh fix is asked), and since.
        "uncertain": uncertain_devices(session, placement),
        "revision": placement.revision,
        "ended": None
        if placement.ended_at is None
        else {
            "at": placement.ended_at,
            "reason": placement.end_reason,
            "decision_ref": placement.end_ref,
            "note": placement.end_note,
            "by": placement.ended_by,
        },
    }


def uncertain_devices(session: Session, placement: Placement) -> dict[str, Any]:
    """Device id -> since when detection holds its position uncertain, for current devices."""
    ids = [a.device_id for a in placement.assignments if a.until is None]
    if not ids:
        return {}
    rows = session.execute(
        select(Device.id, Device.uncertain_since).where(
            Device.id.in_(ids), Device.uncertain_since.is_not(None)
        )
    ).all()
    return {device_id: since for device_id, since in rows}


def _read(session: Session, user: User, placement_id: int) -> Placement:
    placement = visible_placement(session, user, placement_id)
    audit.record(session, user.username, "read", f"placement:{placement.id}")
    return placement


@router.get("/persons")
def list_persons(db: DatabaseDep, user: CaseFileReader) -> list[dict[str, Any]]:
    with db.session() as session:
        return [person_out(p, user, session) for p in people.visible_persons(session, user)]


@router.get("/persons/{person_id}")
def get_person(person_id: RowId, db: DatabaseDep, user: CaseFileReader) -> dict[str, Any]:
    with db.session() as session:
        return person_out(people.visible_person(session, user, person_id), user, session)


@router.post("/persons", status_code=201)
def add_person(body: PersonIn, db: DatabaseDep, user: CaseSetUp) -> dict[str, Any]:
    with db.session() as session:
        return person_out(people.create_person(session, body, user.username), user, session)


@router.get("/contacts")
def list_contacts(db: DatabaseDep, user: ContactAdmin) -> list[dict[str, Any]]:
    with db.session() as session:
        audit.record(session, user.username, "read", "contacts")
        return [contact_out(c) for c in people.contacts(session)]


@router.post("/contacts", status_code=201)
def add_contact(body: ContactIn, db: DatabaseDep, user: ContactAdmin) -> dict[str, Any]:
    with db.session() as session:
        return contact_out(people.create_contact(session, body, user.username))


@router.get("/placements")
def list_placements(db: DatabaseDep, user: CaseFileReader) -> list[dict[str, Any]]:
    with db.session() as session:
        found = placements.visible(session, user)
        audit.record(session, user.username, "read", "placements", {"ids": [p.id for p in found]})
        return [placement_out(p, user, session) for p in found]


@router.post("/placements", status_code=201)
def add_placement(body: PlacementIn, db: DatabaseDep, user: CaseSetUp) -> dict[str, Any]:
    """Create a placement: `vigie.law` decides first; a refusal comes back with its reasons."""
    with privacy.zone_probe_audited(db, user, "placements"), db.session() as session:
        return placement_out(placements.create(session, body, user.username), user, session)


@router.get("/placements/{placement_id}")
def get_placement(placement_id: RowId, db: DatabaseDep, user: CaseFileReader) -> dict[str, Any]:
    with db.session() as session:
        return placement_out(_read(session, user, placement_id), user, session)


@router.get("/placements/{placement_id}/summary.{fmt}")
def measure_summary(
    placement_id: RowId, fmt: Literal["html", "pdf"], db: DatabaseDep, user: Reader
) -> Response:
    """The measure's summary (bilan de la mesure) as the store holds it now: the order and its
    dates, its end, the devices worn, the alarms raised here by kind and qualification, each
    incident. Nothing in it locates anyone. Made when asked (the PDF outside any transaction);
    every read, and every refused one, audited."""
    target = f"placement:{placement_id}"
    try:
        with db.reading() as session:
            made = summary.summarise(
                session, visible_placement(session, user, placement_id), clock.now()
            )
    except CaseNotFound:
        with db.session() as session:
            audit.record(session, user.username, "read_summary_refused", target)
        raise
    pdf = made.pdf() if fmt == "pdf" else None
    with db.session() as session:
        audit.record(session, user.username, "read_summary", target, {"format": fmt})
    if pdf is not None:
        disposition = f'attachment; filename="{made.filename}"'
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": disposition}
        )
    return Response(made.html, media_type="text/html; charset=utf-8")


@router.patch("/placements/{placement_id}")
def change_placement(
    placement_id: RowId, body: PlacementChange, db: DatabaseDep, user: CaseSetUp
) -> dict[str, Any]:
    target = f"placement:{placement_id}"
    with privacy.zone_probe_audited(db, user, target), db.session() as session:
        placement = visible_placement(session, user, placement_id, lock=True)
        return placement_out(
            placements.change(session, placement, body, user.username), user, session
        )


@router.post("/placements/{placement_id}/renew")
def renew_placement(
    placement_id: RowId, body: RenewalIn, db: DatabaseDep, user: Supervisor
) -> dict[str, Any]:
    with db.session() as session:
        placement = visible_placement(session, user, placement_id, lock=True)
        return placement_out(
            placements.renew(session, placement, body, user.username), user, session
        )


@router.post("/placements/{placement_id}/end")
def end_measure(
    placement_id: RowId, body: MeasureEndIn, request: Request, db: DatabaseDep, user: Supervisor
) -> dict[str, Any]:
    """Record the end of the measure (its term, or the court's decision; `vigie.cases.ending`):
    detection stops watching the case at its next step and its devices are free for another
    case; audited. Its record stays, and its open alarms stay open for an operator to close
    (`open_alarms` counts them). An ended placement refuses every change (409). The measure's
    summary then goes to the judge, the prosecutor and the SPIP (`summary_owed`), made and sent
    by the outbox."""
    with db.session() as session:
        placement = visible_placement(session, user, placement_id, lock=True)
        ended = ending.end(session, placement, body, user.username, clock.now())
        answer = placement_out(placement, user, session) | {
            "released": ended.released,
            "open_alarms": ended.open_alarms,
            "summary_owed": ended.summary_owed,
        }
    _directory(request, db, set(ended.released))
    return answer


@router.get("/placements/{placement_id}/zones")
def list_zones(placement_id: RowId, db: DatabaseDep, user: Reader) -> list[dict[str, Any]]:
    with db.session() as session:
        return [zone_out(z) for z in _read(session, user, placement_id).zones]


@router.put("/placements/{placement_id}/zones/{zone_id}")
def put_zone(
    placement_id: RowId,
    zone_id: ZoneId,
    body: ZoneIn,
    db: DatabaseDep,
    user: Supervisor,
    if_none_match: Annotated[
        Line | None,
        Header(
            max_length=200, description="`*`: create only; 409 if the case has a zone of that id"
        ),
    ] = None,
) -> dict[str, Any]:
    """Add or replace a zone; checked (validity, home, protected places) before it is saved."""
    if body.id != zone_id:
        raise CaseRefused(f"the body's id {body.id!r} differs from the URL's {zone_id!r}", "id")
    target = f"placement:{placement_id}"
    with privacy.zone_probe_audited(db, user, target), db.session() as session:
        placement = visible_placement(session, user, placement_id, lock=True)
        if if_none_match == "*":
            refuse_reused_zone_id(placement, zone_id)
        return zone_out(placements.put_zone(session, placement, body, user.username))


def refuse_reused_zone_id(placement: Placement, zone_id: str) -> None:
    """A new zone under the id of one the case has would silently replace it: refused."""
    if any(z.key == zone_id for z in placement.zones):
        raise ApiError(
            409, "zone_exists", f"the case already has a zone {zone_id!r}: choose another id", "id"
        )


@router.delete("/placements/{placement_id}/zones/{zone_id}", status_code=204)
def delete_zone(placement_id: RowId, zone_id: ZoneId, db: DatabaseDep, user: Supervisor) -> None:
    with db.session() as session:
        placement = visible_placement(session, user, placement_id, lock=True)
        placements.delete_zone(session, placement, zone_id, user.username)


@router.post("/placements/{placement_id}/devices", status_code=201)
def assign_device(
    placement_id: RowId, body: AssignmentIn, request: Request, db: DatabaseDep, user: Supervisor
) -> dict[str, Any]:
    with db.session() as session:
        placement = visible_placement(session, user, placement_id, lock=True)
        assignment = device_registry.assign(session, placement, body, user.username)
        answer = {
            "device_id": assignment.device_id,
            "role": assignment.role,
            "since": assignment.since,
        }
        # The device, and the one it replaced in that role.
        changed = set(
            session.scalars(
                select(DeviceAssignment.device_id).where(
                    DeviceAssignment.placement_id == placement.id
                )
            )
        )
    _directory(request, db, changed)
    return answer


def _directory(request: Request, db: DatabaseDep, devices: set[str]) -> None:
    """Cluster mode: after the commit, the gateways' device directory learns the change."""
    cluster = getattr(request.app.state, "cluster", None)
    if cluster is not None:
        cluster.write_devices_from_thread(db, devices)


def device_out(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "kind": device.kind,
        "model": device.model,
        "has_secret": device.secret_hash is not None,
        "uncertain_since": device.uncertain_since,
        "withdrawn": None
        if device.withdrawn_at is None
        else {
            "at": device.withdrawn_at,
            "reason": device.withdrawn_reason,
            "note": device.withdrawn_note,
            "by": device.withdrawn_by,
        },
    }


@router.get("/devices")
def list_devices(db: DatabaseDep, user: DeviceReader) -> list[dict[str, Any]]:
    """Every registered device, with the case and role it serves now (`assigned`, null when on
    the shelf or withdrawn)."""
    with db.session() as session:
        fitted = {
            device: {"case": case, "placement": placement, "role": role}
            for device, case, placement, role in session.execute(
                select(
                    DeviceAssignment.device_id,
                    Placement.case_ref,
                    Placement.id,
                    DeviceAssignment.role,
                )
                .join(Placement, DeviceAssignment.placement_id == Placement.id)
                .where(DeviceAssignment.until.is_(None))
            )
        }
        # Which device serves which case: a read of the cases, audited as theirs are.
        audit.record(session, user.username, "read", "devices")
        return [
            device_out(d) | {"assigned": fitted.get(d.id)} for d in device_registry.devices(session)
        ]


@router.post("/devices", status_code=201)
def add_device(
    body: DeviceIn, request: Request, db: DatabaseDep, user: DeviceAdmin
) -> dict[str, Any]:
    with db.session() as session:
        answer = device_out(device_registry.create_device(session, body, user.username))
    _directory(request, db, {answer["id"]})
    return answer


@router.post("/devices/{device_id}/secret", status_code=201)
def issue_device_secret(
    device_id: DeviceId, request: Request, db: DatabaseDep, user: DeviceAdmin
) -> dict[str, str]:
    """A new gateway secret for the device (its OsmAnd key, its MQTT password), replacing the
    old one; shown in this answer only, stored hashed, audited."""
    with db.session() as session:
        secret = device_secrets.issue(session, device_id, user.username)
    _directory(request, db, {device_id})
    return {"device": device_id, "secret": secret}


@router.post("/devices/{device_id}/withdraw")
def withdraw_device(
    device_id: DeviceId,
    body: DeviceWithdrawalIn,
    request: Request,
    db: DatabaseDep,
    user: DeviceAdmin,
) -> dict[str, Any]:
    """Take a device out of service (broken, lost, stolen, returned, in repair): its secret is
    removed, its queued commands fail, the gateway refuses it from then on, no case may take it.
    Refused (409 `device_in_use`) while it is assigned to a case."""
    with db.session() as session:
        device = withdrawal.withdraw(session, device_id, body, user.username, clock.now())
        answer = device_out(device) | {"assigned": None}  # on no case, as the list says it
    _directory(request, db, {device_id})
    return answer


@router.post("/devices/{device_id}/reinstate")
def reinstate_device(
    device_id: DeviceId,
    body: DeviceReinstateIn,
    request: Request,
    db: DatabaseDep,
    user: DeviceAdmin,
) -> dict[str, Any]:
    """Put a withdrawn device back in service (found, repaired); it sends again once a new
    secret is issued to it (trackers that prove themselves by their IMEI alone, at once)."""
    with db.session() as session:
        device = withdrawal.reinstate(session, device_id, body, user.username, clock.now())
        answer = device_out(device) | {"assigned": None}  # on no case, as the list says it
    _directory(request, db, {device_id})
    return answer
