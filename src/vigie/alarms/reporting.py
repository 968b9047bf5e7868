"""Reporting rates: more fixes while a case has an alarm open, the normal rate once it closes.

Each step of the pipeline may call `reconcile`: for every device worn or carried in an active
placement (not home units), the wanted rate is the measure's alarm rate while the case has an
alarm not closed (a pre-alert included), the normal rate otherwise. When it differs from the
last rate asked of the device (a `report_every` command not failed or expired; none asked yet
means the normal rate the device was set up with), a command is queued by "pipeline".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.gateway import command_queue
from vigie.settings import Settings
from vigie.store.models import Alarm, DeviceAssignment, DeviceCommand, Placement

ROLES = ("wearer", "protected")


def wanted_rates(
    session: Session, config: Settings, cases: set[str] | None = None
) -> dict[str, tuple[int, int | None]]:
    """Device id -> (seconds between reports wanted, the open alarm that wants it or None), for
    every active placement or only those of `cases`."""
    alarms = (
        select(Alarm.case_ref, func.min(Alarm.id))
        .where(Alarm.status != "closed")
        .group_by(Alarm.case_ref)
    )
    devices = (
        select(Placement.case_ref, Placement.measure, DeviceAssignment.device_id)
        .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
        .where(
            Placement.status == "active",
            DeviceAssignment.until.is_(None),
            DeviceAssignment.role.in_(ROLES),
        )
    )
    if cases is not None:
        alarms = alarms.where(Alarm.case_ref.in_(cases))
        devices = devices.where(Placement.case_ref.in_(cases))
    alarmed = dict(session.execute(alarms).all())
    rows = session.execute(devices).all()
    out: dict[str, tuple[int, int | None]] = {}
    for case_ref, measure, device_id in rows:
        alarm_id = alarmed.get(case_ref)
        if alarm_id is None:
            out[device_id] = (config.report_every_s, None)
        else:
            seconds = config.alarm_report_every_s.get(measure, config.report_every_s)
            out[device_id] = (seconds, alarm_id)
    return out


def last_asked(session: Session, devices: set[str] | None = None) -> dict[str, int]:
    """Device id -> the seconds of its latest `report_every` command still standing."""
    query = (
        select(DeviceCommand.device_id, DeviceCommand.args)
        .where(
            DeviceCommand.kind == "report_every",
            DeviceCommand.state.in_(("queued", "sent", "answered")),
        )
        .order_by(DeviceCommand.id)
    )
    if devices is not None:
        query = query.where(DeviceCommand.device_id.in_(devices))
    rows = session.execute(query).all()
    return {device_id: int(args["seconds"]) for device_id, args in rows}


def reconcile(
    session: Session, config: Settings, now: datetime, cases: set[str] | None = None
) -> list[DeviceCommand]:
    """Queue the rate changes that the open and closed alarms call for; returns them. With
    `cases`, only theirs: a step that opened alarms costs what it opened, not the caseload."""
    wanted = wanted_rates(session, config, cases)
    asked = last_asked(session, None if cases is None else set(wanted))
    queued = []
    for device_id, (seconds, alarm_id) in sorted(wanted.items()):
        if asked.get(device_id, config.report_every_s) == seconds:
            continue
        reason = f"alarm {alarm_id} open" if alarm_id is not None else "no alarm open"
        queued.append(
            command_queue.queue(
                session,
                device_id,
                "report_every",
                {"seconds": seconds},
                "pipeline",
                now,
                reason=reason,
                alarm_id=alarm_id,
            )
        )
    return queued
