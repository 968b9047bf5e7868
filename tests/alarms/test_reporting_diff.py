"""The rate pass's query (`reporting._differing`) against the rule it implements, written out
plainly here: on random centres (alarms open, acknowledged, closed or imported; commands in
every state; ended assignments and placements), the devices it says need a new rate, and the
rate and alarm it gives them, are exactly those of the rule, for the whole centre and for a
few cases; and `reconcile` asks each of them once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.cases import factories as make
from vigie.alarms import reporting
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, DeviceAssignment, DeviceCommand, Placement

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
CONFIG = Settings(report_every_s=300, alarm_report_every_s={"ddse": 20, "arse": 45})
SECONDS = (300, 20, 45, 60)
STATES = ("queued", "sent", "answered", "failed", "expired")
ALARMS = ("none", "open", "acknowledged", "in_progress", "closed", "imported")

Diff = dict[str, tuple[int, int | None]]


def centre(db: Database, rng: random.Random) -> list[str]:
    """Twelve cases of random states; their case refs."""
    refs = []
    with db.session() as session:
        who = make.contacts(session)
        for n in range(12):
            measure = rng.choice(("ddse", "arse"))
            wearer = make.person(session, f"Nom{n}")
            placement = placements.create(
                session, make.placement_form(wearer, who, measure, case_ref=f"C{n}"), "t"
            )
            refs.append(placement.case_ref)
            for device, kind, role in (
                (f"B{n}", "bracelet", "wearer"),
                (f"H{n}", "home_unit", "home_unit"),
            ):
                devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
                devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")
            state = rng.choice(ALARMS)
            kinds = rng.sample(("zone_entry", "tamper", "unmonitored"), rng.randint(1, 3))
            for kind in kinds if state != "none" else ():
                session.add(
                    Alarm(
                        case_ref=placement.case_ref,
                        placement_id=placement.id,
                        kind=kind,
                        device=f"B{n}",
                        priority=1,
                        status="open" if state == "imported" else state,
                        imported_from="other-centre" if state == "imported" else None,
                        raised_at=NOW,
                        opened_at=NOW,
                        last_event_at=NOW,
                        detail={},
                    )
                )
            for device in (f"B{n}", f"H{n}"):
                for _ in range(rng.randint(0, 3)):
                    session.add(
                        DeviceCommand(
                            device_id=device,
                            kind="report_every",
                            args={"seconds": rng.choice(SECONDS)},
                            state=rng.choice(STATES),
                            requested_by="t",
                            expires_at=NOW + timedelta(hours=1),
                        )
                    )
                if rng.random() < 0.2:  # another kind of command never counts as a rate asked
                    session.add(
                        DeviceCommand(
                            device_id=device,
                            kind="vibrate",
                            args={"seconds": 20},
                            requested_by="t",
                            expires_at=NOW + timedelta(hours=1),
                        )
                    )
            if rng.random() < 0.15:
                session.flush()
                bracelet = session.scalars(
                    select(DeviceAssignment).where(DeviceAssignment.device_id == f"B{n}")
                ).one()
                bracelet.until = NOW  # handed back: its rate no longer matters here
            if rng.random() < 0.15:
                placement.status = "ended"
            placement.partition = rng.choice((0, 1))  # a cluster's detection partitions
    return refs


def rule(db: Database, cases: set[str] | None, partition: int | None = None) -> Diff:
    """The rule: for each device worn or carried in an active placement (of `cases`), the
    measure's alarm rate while its case has an alarm raised here not closed (the oldest one
    names it) other than `unmonitored`, else the normal rate; wanted where it differs from the
    newest `report_every` asked of it not expired (the normal rate when none)."""
    with db.session() as session:
        open_alarm: dict[str, int] = {}
        for alarm in session.scalars(select(Alarm).order_by(Alarm.id.desc())):
            if (
                alarm.status != "closed"
                and alarm.imported_from is None
                and alarm.kind != "unmonitored"
            ):
                open_alarm[alarm.case_ref] = alarm.id
        asked: dict[str, int] = {}
        for command in session.scalars(select(DeviceCommand).order_by(DeviceCommand.id)):
            if command.kind == "report_every" and command.state != "expired":
                asked[command.device_id] = command.args["seconds"]
        out: Diff = {}
        for assignment in session.scalars(select(DeviceAssignment)):
            placement = session.get_one(Placement, assignment.placement_id)
            if (
                placement.status != "active"
                or assignment.until is not None
                or assignment.role not in ("wearer", "protected")
                or (cases is not None and placement.case_ref not in cases)
                or (partition is not None and placement.partition != partition)
            ):
                continue
            alarm = open_alarm.get(placement.case_ref)
            wanted = (
                CONFIG.alarm_report_every_s.get(placement.measure, CONFIG.report_every_s)
                if alarm is not None
                else CONFIG.report_every_s
            )
            if asked.get(assignment.device_id, CONFIG.report_every_s) != wanted:
                out[assignment.device_id] = (wanted, alarm)
        return out


def found(db: Database, cases: set[str] | None, partition: int | None = None) -> Diff:
    with db.session() as session:
        rows = list(session.execute(reporting._differing(session, CONFIG, cases, partition)))
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # by device id
    return {device: (seconds, alarm) for device, seconds, alarm in rows}


@pytest.mark.parametrize("seed", range(4))
def test_the_query_finds_exactly_the_devices_the_rule_names(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    refs = centre(db, rng)
    whole = rule(db, None)
    assert whole, "a centre where no rate differs tests nothing"
    assert found(db, None) == whole
    some = set(rng.sample(refs, 4))
    assert found(db, some) == rule(db, some)
    for partition in (0, 1):
        assert found(db, None, partition) == rule(db, None, partition)
    assert rule(db, None, 0) and rule(db, None, 1), "both partitions have a rate to change"
    with db.session() as session:
        queued = reporting.reconcile(session, CONFIG, NOW)
        asked = {c.device_id: (c.args["seconds"], c.alarm_id) for c in queued}
    assert asked == whole
    assert found(db, None) == {}  # asked once: the next pass has nothing to ask
    with db.session() as session:
        assert reporting.reconcile(session, CONFIG, NOW) == []
