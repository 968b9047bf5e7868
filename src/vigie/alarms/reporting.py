"""Reporting rates: more fixes while a case has an alarm open, the normal rate once it closes.

Each step of the pipeline may call `reconcile`: for every device worn or carried in an active
placement (not home units), the wanted rate is the measure's alarm rate while the case has an
alarm not closed (a pre-alert included; her SOS too, so her phone reports fast until an operator
closes it; not `unmonitored`, which more fixes do not help), the normal rate otherwise. When it
differs from the last rate asked of the device (a `report_every` command not failed or
expired; none asked yet means the normal rate the device was set up with), a command is queued
by "pipeline".

`ask_fixes` turns detection's requests for a fresh fix (a fix too coarse to decide, a breach
held for confirmation: `Engine.take_fix_requests`) into `locate` commands, one standing per
device at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, select, union, update
from sqlalchemy.orm import Session, aliased

from vigie.alarms.imported import RAISED_HERE
from vigie.alarms.unmonitored import UNMONITORED
from vigie.gateway import command_queue
from vigie.settings import Settings
from vigie.store.listed import listed_in
from vigie.store.models import Alarm, Device, DeviceAssignment, DeviceCommand, Placement

ROLES = ("wearer", "protected")


def reconcile(
    session: Session,
    config: Settings,
    now: datetime,
    cases: set[str] | None = None,
    partition: int | None = None,
) -> list[DeviceCommand]:
    """Queue the rate changes that the open and closed alarms call for; returns them. With
    `cases`, only theirs: a step that opened alarms costs what it opened, not the caseload.
    With `partition`, only that detection partition's cases (a cluster worker's own).

    Without, only the cases that can need one are looked at: those with an alarm not closed,
    and those of devices last asked another rate than the normal one. Any other device wants
    the normal rate and has it (or was never asked, which means the same). The database finds
    the devices whose rate differs (`_differing`): only they come back to Python, usually none.
    Done in Python, the pass read every open case's devices and standing rates every few
    seconds, in the step's write transaction, and grew with the alarms left open.
    """
    changes = [
        command_queue.Wanted(
            device_id,
            "report_every",
            {"seconds": seconds},
            reason=f"alarm {alarm_id} open" if alarm_id is not None else "no alarm open",
            alarm_id=alarm_id,
        )
        for device_id, seconds, alarm_id in session.execute(
            _differing(session, config, cases, partition)
        )
    ]
    queued, _unknown = command_queue.queue_many(session, changes, "pipeline", now)
    return queued


def _differing(
    session: Session, config: Settings, cases: set[str] | None, partition: int | None = None
) -> Select[Any]:
    """Device id, wanted seconds and the open alarm that wants them (or None) of every device
    whose wanted rate is not the last one asked, by device id; only in `cases`, or else in the
    cases that can need a change. Wanted: for a device worn or carried in an active placement,
    the measure's alarm rate while its case has an alarm raised here not closed (but an
    `unmonitored` one), else the normal rate. Asked: the seconds of its newest `report_every`
    command not expired, the normal rate when none. A failed one counts (its device's protocol
    cannot carry it: Traccar Client's OsmAnd takes no command): asked again, it failed again, a
    new command at every rate check (5 s) for as long as the alarm stayed open. With
    `partition`, only its placements."""
    normal = config.report_every_s
    # Correlated lookups by index (a case's open alarms, a device's newest standing command),
    # for the few placements in scope: joined as grouped tables instead, SQLite scanned the
    # standing commands once per placement (330 ms with 2,900 of them, 16,000 cases).
    standing = (
        DeviceCommand.kind == "report_every",
        DeviceCommand.state.in_(("queued", "sent", "answered", "failed")),
    )
    # A measure detection does not watch (`unmonitored`) gains nothing from more fixes: its
    # bracelet would drain its battery for days (a BAR case waiting for her device), unseen.
    open_here = (Alarm.status != "closed", RAISED_HERE, Alarm.kind != UNMONITORED)
    alarm_id = (
        select(func.min(Alarm.id))
        .where(Alarm.case_ref == Placement.case_ref, *open_here)
        .scalar_subquery()
    )
    asked = (
        select(DeviceCommand.args["seconds"].as_integer())
        .where(DeviceCommand.device_id == DeviceAssignment.device_id, *standing)
        .order_by(DeviceCommand.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    if cases is not None:
        scope: Any = listed_in(session, Placement.case_ref, cases)
    else:  # a superset of the devices whose newest rate is raised: the last test decides
        raised = select(DeviceCommand.device_id).where(
            *standing, DeviceCommand.args["seconds"].as_integer() != normal
        )
        holder, alarmed = aliased(DeviceAssignment), aliased(Placement)
        scope = Placement.id.in_(
            union(
                select(alarmed.id).where(
                    alarmed.case_ref.in_(select(Alarm.case_ref).where(*open_here))
                ),
                select(holder.placement_id).where(holder.device_id.in_(raised)),
            )
        )
    if partition is not None:
        scope = and_(scope, Placement.partition == partition)
    rows = (
        select(
            DeviceAssignment.device_id.label("device_id"),
            Placement.measure.label("measure"),
            alarm_id.label("alarm_id"),
            asked.label("asked"),
        )
        .select_from(Placement)
        .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
        .where(
            scope,
            Placement.status == "active",
            DeviceAssignment.until.is_(None),
            DeviceAssignment.role.in_(ROLES),
        )
        .subquery()
    )
    alarm_rate = case(
        *((rows.c.measure == m, s) for m, s in sorted(config.alarm_report_every_s.items())),
        else_=normal,
    )
    wanted = case((rows.c.alarm_id.is_(None), normal), else_=alarm_rate)
    return (
        select(rows.c.device_id, wanted, rows.c.alarm_id)
        .where(func.coalesce(rows.c.asked, normal) != wanted)
        .order_by(rows.c.device_id)
    )


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
    # The requesting devices' own: every standing one grew with the commands no gateway took
    # (a device offline keeps its `locate` queued until it expires), read at each request.
    standing = set(
        session.scalars(
            select(DeviceCommand.device_id).where(
                DeviceCommand.kind == "locate",
                DeviceCommand.state.in_(("queued", "sent")),
                DeviceCommand.expires_at > now,
                listed_in(session, DeviceCommand.device_id, (r[0] for r in requests)),
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
            update(Device).where(listed_in(session, Device.id, gone)).values(uncertain_since=None)
        )
    if new := marked - stored:
        session.execute(
            update(Device)
            .where(listed_in(session, Device.id, new), Device.uncertain_since.is_(None))
            .values(uncertain_since=now)
        )
