"""Devices out of service: broken, lost, stolen, sent back to their maker, in repair.

A device that leaves the centre's hands must stop counting as one of its devices: a lost
bracelet or a stolen phone that still proves itself at the gateway could feed readings under a
registered identity, and a broken one could be given to the next case. Withdrawing it (a
supervisor or an admin, audited) records when, why and by whom; removes its secret (the gateway,
Mosquitto's password file and NATS's accounts no longer admit it; a gateway running Mosquitto
reloads it within a second, which closes the device's open MQTT session: nothing here waits
for the broker, `vigie.gateway.broker_logins`); fails the commands still queued for it; and
from then on the gateway refuses it (audited, as a spoof is), no case may take it, no secret
or command goes to it. A device fitted on a case is refused: replace it there
first, or end the measure. Nothing it sent before is touched. Reinstating it (found, repaired)
clears the mark, with a note; it needs a new secret before it may send again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigie.cases.errors import CaseNotFound, CaseRefused, DeviceInUse, DeviceWithdrawn
from vigie.cases.forms import DeviceReinstateIn, DeviceWithdrawalIn
from vigie.store import audit
from vigie.store.models import Device, DeviceAssignment, DeviceCommand, Placement


def refuse_if_withdrawn(device: Device) -> None:
    """Refuse to give a withdrawn device a case, a secret or a command."""
    if device.withdrawn_at is not None:
        raise DeviceWithdrawn(
            f"device {device.id} was withdrawn from service on "
            f"{device.withdrawn_at:%Y-%m-%d %H:%M} UTC ({device.withdrawn_reason}): "
            "reinstate it first",
            "device_id",
        )


def locked_device(session: Session, device_id: str) -> Device:
    """The device, its row locked to the transaction's end (PostgreSQL): a withdrawal and an
    assignment of the same device cannot both pass their checks."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise CaseNotFound("device", device_id)
    return device


def withdraw(
    session: Session, device_id: str, form: DeviceWithdrawalIn, actor: str, now: datetime
) -> Device:
    """Take a device out of service (checked first: nothing is half-written)."""
    device = locked_device(session, device_id)
    refuse_if_withdrawn(device)
    if form.reason == "other" and not (form.note or "").strip():
        raise CaseRefused("note: say why the device is withdrawn", "note")
    fitted = session.execute(
        select(Placement.id, Placement.case_ref)
        .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
        .where(DeviceAssignment.device_id == device.id, DeviceAssignment.until.is_(None))
    ).first()
    if fitted is not None:
        raise DeviceInUse(
            f"device {device.id} is assigned to case {fitted.case_ref} (placement {fitted.id}): "
            "give that case another device, or end its measure, first",
            "device_id",
        )
    failed = list(
        session.scalars(
            update(DeviceCommand)
            .where(DeviceCommand.device_id == device.id, DeviceCommand.state == "queued")
            .values(state="failed", finished_at=now, reply="not sent: the device was withdrawn")
            .returning(DeviceCommand.id)
        )
    )
    had_secret = device.secret_hash is not None
    device.secret_hash = None
    device.nats_hash = None
    device.withdrawn_at = now
    device.withdrawn_reason = form.reason
    device.withdrawn_note = form.note.strip() if form.note else None
    device.withdrawn_by = actor
    audit.record(
        session,
        actor,
        "withdraw_device",
        f"device:{device.id}",
        {
            "reason": form.reason,
            "note": device.withdrawn_note,
            "secret_removed": had_secret,
            "commands_failed": sorted(failed),
        },
    )
    session.flush()
    return device


def reinstate(
    session: Session, device_id: str, form: DeviceReinstateIn, actor: str, now: datetime
) -> Device:
    """Put a withdrawn device back in service; it has no secret until one is issued."""
    device = locked_device(session, device_id)
    if device.withdrawn_at is None:
        raise CaseRefused(f"device {device.id} is in service", "device_id")
    if not form.note.strip():
        raise CaseRefused("note: say why the device is back in service", "note")
    audit.record(
        session,
        actor,
        "reinstate_device",
        f"device:{device.id}",
        {
            "withdrawn_at": device.withdrawn_at.isoformat(),
            "withdrawn_reason": device.withdrawn_reason,
            "withdrawn_note": device.withdrawn_note,
            "withdrawn_by": device.withdrawn_by,
            "note": form.note.strip(),
            "at": now.isoformat(),
        },
    )
    device.withdrawn_at = None
    device.withdrawn_reason = None
    device.withdrawn_note = None
    device.withdrawn_by = None
    session.flush()
    return device
