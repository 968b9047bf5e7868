"""Devices and their assignment to placements (one active wearer bracelet, home unit, etc.)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie import clock
from vigie.cases.ending import refuse_if_ended
from vigie.cases.errors import CaseRefused
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.cases.withdrawal import locked_device, refuse_if_withdrawn
from vigie.store import audit
from vigie.store.listed import listed_in
from vigie.store.models import Device, DeviceAssignment, Placement
from vigie.store.unique import refused_if_taken

_KIND_FOR_ROLE = {"wearer": "bracelet", "home_unit": "home_unit", "protected": "protected_device"}


def create_device(session: Session, form: DeviceIn, actor: str) -> Device:
    taken = CaseRefused(f"device {form.id!r} is already registered", "id")
    if session.get(Device, form.id) is not None:
        raise taken
    device = Device(**form.model_dump())
    session.add(device)
    with refused_if_taken("pk_devices", taken):
        session.flush()
    audit.record(session, actor, "create", f"device:{device.id}", {"kind": form.kind})
    return device


def devices(session: Session) -> list[Device]:
    return list(session.scalars(select(Device).order_by(Device.id)))


def active_assignments(session: Session, placement_id: int) -> list[DeviceAssignment]:
    return list(
        session.scalars(
            select(DeviceAssignment).where(
                DeviceAssignment.placement_id == placement_id, DeviceAssignment.until.is_(None)
            )
        )
    )


def unfollowed(session: Session, devices: Iterable[str]) -> list[str]:
    """Of `devices`, those no case watched here follows now (no open assignment to an active
    placement: unregistered, in stock, withdrawn, or of a case ended or imported), sorted: what
    they send is stored and never detected."""
    asked = sorted(set(devices))
    if not asked:
        return []
    followed = set(
        session.scalars(
            select(DeviceAssignment.device_id)
            .join(Placement, Placement.id == DeviceAssignment.placement_id)
            .where(
                listed_in(session, DeviceAssignment.device_id, asked),
                DeviceAssignment.until.is_(None),
                Placement.status == "active",
            )
        )
    )
    return [d for d in asked if d not in followed]


def assign(
    session: Session, placement: Placement, form: AssignmentIn, actor: str
) -> DeviceAssignment:
    """Assign a device to a role in a placement, ending the previous holder of that role."""
    refuse_if_ended(placement)
    device = locked_device(session, form.device_id)
    refuse_if_withdrawn(device)
    if device.kind != _KIND_FOR_ROLE[form.role]:
        raise CaseRefused(
            f"device {device.id} is a {device.kind}; the {form.role} role needs a "
            f"{_KIND_FOR_ROLE[form.role]}",
            "device_id",
        )
    if form.role == "protected" and placement.measure != "bar":
        # Detection would not read it (only a BAR measure has her), nor tell anyone so.
        raise CaseRefused(
            f"a protected person's device serves a BAR measure only; this case is a "
            f"{placement.measure}",
            "role",
        )
    busy = session.scalars(
        select(DeviceAssignment).where(
            DeviceAssignment.device_id == device.id,
            DeviceAssignment.until.is_(None),
            DeviceAssignment.placement_id != placement.id,
        )
    ).first()
    if busy is not None:
        raise CaseRefused(
            f"device {device.id} is assigned to another placement ({busy.placement_id})",
            "device_id",
        )
    now = clock.now()
    for current in active_assignments(session, placement.id):
        if current.role == form.role:
            current.until = now
    assignment = DeviceAssignment(
        device_id=device.id, placement_id=placement.id, role=form.role, since=now
    )
    session.add(assignment)
    placement.revision += 1
    placement.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "assign_device",
        f"placement:{placement.id}",
        {"device": device.id, "role": form.role},
    )
    return assignment
