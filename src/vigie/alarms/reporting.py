"""Reporting rates: more fixes while a case has an alarm open, the normal rate once it closes.

Each step of the pipeline may call `reconcile`: for every device worn or carried in an active
placement (not home units), the wanted rate is the measure's alarm rate while the case has an
alarm not closed (a pre-alert included; her SOS too, so her phone reports fast until an operator
closes it), the normal rate otherwise. When it differs from the
last rate asked of the device (a `report_every` command not failed or expired; none asked yet
means the normal rate the device was set up with), a command is queued by "pipeline".

`ask_fixes` turns detection's requests for a fresh fix (a fix too coarse to decide, a breach
held for confirmation: `Engine.take_fix_requests`) into `locate` commands, one standing per
device at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vigie.alarms.imported import RAISED_HERE
from vigie.gateway import command_queue
from vigie.settings import Settings
from vigie.store.models import Alarm, Device, DeviceAssignment, DeviceCommand, Placement

ROLES = ("wearer", "protected")


def wanted_rates(
    session: Session, config: Settings, cases: set[str] | None = None
) -> dict[str, tuple[int, int | None]]:
    """Device id -> (seconds between reports wanted, the open alarm that wants it or None), for
    every active placement or only those of `cases`."""
    alarms = (
        select(Alarm.case_ref, func.min(Alarm.id))
        .where(Alarm.status != "closed", RAISED_HERE)
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
    `cases`, only theirs: a step that opened alarms costs what it opened, not the caseload.

    Without, only the cases that can need one are looked at: those with an alarm not closed,
    and those of devices last asked another rate than the normal one. Any other device wants
    the normal rate and has it (or was never asked, which means the same): at 16,000 cases,
    reading every placement's devices every few seconds, in the step's write transaction,
    cost more than detection.
    """
    if cases is None:
        asked = last_asked(session)
        cases = _cases_to_check(session, config, asked)
        wanted = wanted_rates(session, config, cases)
    else:
        wanted = wanted_rates(session, config, cases)
        asked = last_asked(session, set(wanted))
    changes = [
        command_queue.Wanted(
            device_id,
            "report_every",
            {"seconds": seconds},
            reason=f"alarm {alarm_id} open" if alarm_id is not None else "no alarm open",
            alarm_id=alarm_id,
        )
        for device_id, (seconds, alarm_id) in sorted(wanted.items())
        if asked.get(device_id, config.report_every_s) != seconds
    ]
    queued, _unknown = command_queue.queue_many(session, changes, "pipeline", now)
    return queued


def _cases_to_check(session: Session, config: Settings, asked: dict[str, int]) -> set[str]:
    """The cases whose devices may want another rate than they were last asked."""
    alarmed = set(
        session.scalars(select(Alarm.case_ref).where(Alarm.status != "closed", RAISED_HERE))
    )
    raised = {device for device, seconds in asked.items() if seconds != config.report_every_s}
    if raised:
        alarmed.update(
            session.scalars(
                select(Placement.case_ref)
                .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
                .where(DeviceAssignment.device_id.in_(raised))
            )
        )
    return alarmed


LOCATE_TTL_S = 120.0  # a fresh fix is worth asking for a couple of minutes, not longer


def ask_fixes(
    session: Session, requests: list[tuple[str, int, str]], now: datetime
) -> list[DeviceCommand]:
    """Queue a `locate` command per device detection asked a fresh fix of; returns them.

    A device that already has one queued or sent is not asked again; an unregistered device
    (a replay or a test engine) is skipped.
    """
    if not requests:
        return []  # most steps: no look at the standing commands
    standing = set(
        session.scalars(
            select(DeviceCommand.device_id).where(
                DeviceCommand.kind == "locate", DeviceCommand.state.in_(("queued", "sent"))
            )
        ).all()
    )
    asked: dict[str, command_queue.Wanted] = {}
    for device_id, _t, reason in requests:
        if device_id not in standing and device_id not in asked:
            asked[device_id] = command_queue.Wanted(
                device_id,
                "locate",
                {},
                reason="fix too coarse to decide" if reason == "uncertain" else "breach to confirm",
                ttl_s=LOCATE_TTL_S,
            )
    queued, _unknown = command_queue.queue_many(session, list(asked.values()), "pipeline", now)
    return queued


def note_uncertain(
    session: Session,
    uncertain: list[str],
    now: datetime,
    watched: Callable[[str], bool] | None = None,
) -> None:
    """Mark the devices detection holds uncertain (since now), and unmark the others (with
    `watched`, only the others this engine watches: a partition's worker leaves the rest).

    Run by each step whose uncertain devices or placements changed (the marks are the
    engine's alone): only the ids of those marked are read (by their index), and only the
    changes written, no device loaded: a step costs the marked devices, not all of them.
    """
    marked = set(uncertain)
    stored = set(session.scalars(select(Device.id).where(Device.uncertain_since.is_not(None))))
    gone = {d for d in stored - marked if watched is None or watched(d)}
    if gone:
        session.execute(
            update(Device).where(Device.id.in_(sorted(gone))).values(uncertain_since=None)
        )
    if new := marked - stored:
        session.execute(
            update(Device)
            .where(Device.id.in_(sorted(new)), Device.uncertain_since.is_(None))
            .values(uncertain_since=now)
        )
